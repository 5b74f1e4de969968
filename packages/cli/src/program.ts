import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { execute, type Cli, type CommonFlags, type Modes } from './run.js';

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
    .addOption(new Option('--server <url>', 'run through an imgport server (default IMGPORT_SERVER; token from IMGPORT_TOKEN)'))
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

/**
 * Adds a subcommand of `imgport` whose action runs the modes `build(args, flags)` returns
 * through execute().
 */
export function sub<F extends CommonFlags>(
  program: Command,
  cli: Cli,
  spec: string,
  help: string,
  build: (args: string[], flags: F) => Modes,
): Command {
  const cmd = program.command(spec).description(help);
  return withCommonFlags(cmd).action(async (...params: unknown[]) => {
    // commander passes the declared arguments, then the options, then the command itself.
    const args = params.slice(0, -2) as string[];
    const flags = params.at(-2) as F;
    cli.exit = await execute(cli, flags, { name: cmd.name(), ...build(args, flags) });
  });
}

/** A whole number option (`--keep 3`); anything else is a usage error. */
export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return n;
}
