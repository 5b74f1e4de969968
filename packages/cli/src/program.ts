import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import type { Cli } from './run.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** A program whose usage errors come back to runProgram instead of ending the process. */
export function newProgram(cli: Cli, description: string): Command {
  return new Command(cli.name)
    .description(description)
    .version(version, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void cli.out.write(s),
      writeErr: (s) => void cli.err.write(s),
    })
    .showHelpAfterError(`(run ${cli.name} --help for usage)`);
}

/** --json, -v and --server, which every command takes. */
export function withCommonFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--server <url>', 'submit to an imgport server (not available in this build)'))
    .option('--json', 'print one JSON result document on stdout')
    .option('-v, --verbose', 'log details to stderr');
}

/**
 * Parses argv (without node and script) and runs the chosen action. Usage errors (unknown flag,
 * missing argument, bad choice) exit 2; with --json they also get an error document on stdout.
 */
export async function runProgram(cli: Cli, program: Command, argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv, { from: 'user' });
    return cli.exit;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.exitCode === 0) return 0;
    if (argv.includes('--json')) {
      const message = err.message.replace(/^error: /, '');
      cli.out.write(`${JSON.stringify({ error: { code: 'BAD_REQUEST', message } }, null, 2)}\n`);
    }
    return 2;
  }
}
