import { ImgportError, redactUrl, toImgportError } from '@imgport/runtime';
import { withServices, type Services } from './context.js';
import { createProgressBar, type BarStream, type ProgressBar } from './progress.js';

/** One run of a program: its name, environment and streams, and the exit status it ends with. */
export interface Cli {
  name: string;
  env: NodeJS.ProcessEnv;
  out: { write(s: string): boolean };
  err: BarStream;
  exit: number;
}

/** Flags every command takes. */
export interface CommonFlags {
  json?: boolean;
  verbose?: boolean;
  server?: string;
}

/** What a command hands back: the --json document and the human summary of the same result. */
export interface Outcome {
  doc: unknown;
  human: string;
}

export interface Ui {
  progress: ProgressBar;
  /** Aborted on Ctrl-C / SIGTERM, so an import rolls back instead of leaving a staging area. */
  signal: AbortSignal;
}

/**
 * Runs one command against the inline services and turns its result or error into output and
 * an exit status: 0 done, 1 the operation failed, 2 usage or configuration error.
 */
export async function execute(cli: Cli, flags: CommonFlags, work: (s: Services, ui: Ui) => Promise<Outcome>): Promise<number> {
  const controller = new AbortController();
  const interrupt = () => controller.abort(new ImgportError('CANCELLED', 'interrupted; the operation was rolled back'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  // Debug log lines go to the same stderr; a bar redrawn between them would garble both.
  const progress = createProgressBar(cli.err, { enabled: !flags.verbose });
  try {
    refuseServer(flags.server ?? cli.env.IMGPORT_SERVER);
    const outcome = await withServices({ name: cli.name, verbose: flags.verbose === true, env: cli.env }, (s) =>
      work(s, { progress, signal: controller.signal }),
    );
    progress.done();
    cli.out.write(flags.json ? `${JSON.stringify(outcome.doc, null, 2)}\n` : `${outcome.human}\n`);
    return 0;
  } catch (err) {
    progress.done();
    const e = controller.signal.aborted ? (controller.signal.reason as ImgportError) : toImgportError(err);
    reportError(cli, e, flags, err);
    return e.exitCode;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/** The message says what and where; --json also gets the one error document on stdout. */
function reportError(cli: Cli, e: ImgportError, flags: CommonFlags, original: unknown): void {
  const where = e.where && !e.message.includes(e.where) ? ` (${e.where})` : '';
  cli.err.write(`${cli.name}: ${e.message}${where} [${e.code}]\n`);
  if (flags.verbose && e.code === 'INTERNAL') {
    const cause = e.cause ?? original;
    if (cause instanceof Error && cause.stack) cli.err.write(`${cause.stack}\n`);
  }
  if (flags.json) cli.out.write(`${JSON.stringify({ error: e.toJSON() }, null, 2)}\n`);
}

/** The HTTP service is a later piece of work; say so rather than silently running inline. */
function refuseServer(server: string | undefined): void {
  if (server === undefined || server === '') return;
  throw new ImgportError(
    'BAD_REQUEST',
    `--server / IMGPORT_SERVER (${redactUrl(server)}): submitting jobs to an imgport server is not available in this build; ` +
      'run without --server (and unset IMGPORT_SERVER) to work inline',
  );
}
