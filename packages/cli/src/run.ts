// Only types at the top: the engine, the database drivers and the HTTP client are loaded when a
// command runs (`--help` and usage errors never pay for them).
import type { ImgportError } from '@imgport/runtime';
import type { Services } from './context.js';
import { createProgressBar, type BarStream, type ProgressBar } from './progress.js';
import type { Remote } from './remote-context.js';

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
 * How a command runs: inline against the configured database and install root, or through an
 * imgport server (--server / IMGPORT_SERVER). A command without one of them refuses that mode.
 */
export interface Modes {
  /** The subcommand as messages name it (`prune`); the program's name by default. */
  name?: string;
  inline?: (s: Services, ui: Ui) => Promise<Outcome>;
  remote?: (r: Remote, ui: Ui) => Promise<Outcome>;
  /** Needs neither the database nor a server (key generate, verify): run as it is. */
  standalone?: (ui: Ui) => Promise<Outcome>;
  /** Started before an inline run opens its services, to overlap with them (a thread to boot). */
  warmUp?: () => Promise<void>;
}

/**
 * Runs one command and turns its result or error into output and an exit status: 0 done, 1 the
 * operation failed, 2 usage or configuration error.
 */
export async function execute(cli: Cli, flags: CommonFlags, modes: Modes): Promise<number> {
  const { ImgportError, toImgportError } = await import('@imgport/runtime');
  const controller = new AbortController();
  let remote = false;
  // Inline, the engine rolls back; remote, the command itself says what it asked of the server.
  const interrupt = () => controller.abort(new ImgportError('CANCELLED', remote ? 'interrupted' : 'interrupted; the operation was rolled back'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  // Debug log lines go to the same stderr; a bar redrawn between them would garble both.
  const progress = createProgressBar(cli.err, { enabled: !flags.verbose });
  const ui = { progress, signal: controller.signal };
  try {
    const { serverOf } = await import('./remote-context.js');
    const server = serverOf(flags.server, cli.env);
    remote = server !== undefined;
    const outcome = await dispatch(cli, flags, modes, ui, server);
    progress.done();
    cli.out.write(flags.json ? `${JSON.stringify(outcome.doc, null, 2)}\n` : `${outcome.human}\n`);
    return 0;
  } catch (err) {
    progress.done();
    const e = controller.signal.aborted && !isCancelled(err) ? (controller.signal.reason as ImgportError) : toImgportError(err);
    reportError(cli, e, flags, err);
    return e.exitCode;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/** A command that handled the interruption itself says best what became of the work. */
function isCancelled(err: unknown): boolean {
  return (err as ImgportError | undefined)?.name === 'ImgportError' && (err as ImgportError).code === 'CANCELLED';
}

async function dispatch(cli: Cli, flags: CommonFlags, modes: Modes, ui: Ui, server: string | undefined): Promise<Outcome> {
  const { ImgportError } = await import('@imgport/runtime');
  const opts = { name: cli.name, verbose: flags.verbose === true, env: cli.env };
  const what = modes.name ?? cli.name;
  if (modes.standalone) return modes.standalone(ui);
  if (server !== undefined) {
    const work = modes.remote;
    if (!work) throw new ImgportError('BAD_REQUEST', `${what} works on this node only: run it without --server (and unset IMGPORT_SERVER)`);
    const { withRemote } = await import('./remote-context.js');
    return withRemote({ ...opts, server }, (r) => work(r, ui));
  }
  const work = modes.inline;
  if (!work) throw new ImgportError('BAD_REQUEST', `${what} needs an imgport server: give --server URL or set IMGPORT_SERVER`);
  await modes.warmUp?.();
  const { withServices } = await import('./context.js');
  return withServices(opts, (s) => work(s, ui));
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
