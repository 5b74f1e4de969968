import { newProgram, runProgram } from './program.js';
import type { Cli } from './run.js';

/** The three programs the bin scripts start; each resolves to the process exit status. */
export type Main = (argv: string[], env?: NodeJS.ProcessEnv) => Promise<number>;

function cliFor(name: string, env: NodeJS.ProcessEnv): Cli {
  return { name, env, out: process.stdout, err: process.stderr, exit: 0 };
}

/**
 * The thread a command will need, started before its command line is parsed when it looks like
 * an inline run: the thread boots (40 to 70 ms of a core on the machines measured) on the other
 * core while the commands load and the tables open, instead of the first bytes waiting for it.
 * A wrong guess (a usage error) costs one thread start; the commands start it again if needed
 * (Modes.warmUp), which is then a no-op.
 */
async function warmUp(argv: string[], env: NodeJS.ProcessEnv, start: (archive: typeof import('@imgport/archive')) => void): Promise<void> {
  const notInline = (a: string): boolean => ['-h', '--help', '-V', '--version', '--server', '--dry-run'].includes(a) || a.startsWith('--server=');
  if (argv.length === 0 || env.IMGPORT_SERVER || argv.some(notInline)) return;
  start(await import('@imgport/archive'));
}

// Each program loads only its own commands: `xcatimport --help` must not pay for the export,
// store, trust and job commands (and the zod schemas they pull in) it never shows.
export const xcatimport: Main = async (argv, env = process.env) => {
  const cli = cliFor('xcatimport', env);
  await warmUp(argv, env, (a) => a.prestartWriterThread());
  const { defineImport } = await import('./import-command.js');
  const program = defineImport(newProgram(cli, 'Import an xCAT OS image bundle (native or stock xCAT format)'), cli);
  return runProgram(cli, program, argv);
};

export const xcatexport: Main = async (argv, env = process.env) => {
  const cli = cliFor('xcatexport', env);
  await warmUp(argv, env, (a) => a.prestartHashThread());
  const { defineExport } = await import('./export-command.js');
  const program = defineExport(newProgram(cli, 'Export an xCAT osimage into a portable bundle'), cli);
  return runProgram(cli, program, argv);
};

export const imgport: Main = async (argv, env = process.env) => {
  const cli = cliFor('imgport', env);
  const { defineImgport } = await import('./imgport-commands.js');
  const program = defineImgport(newProgram(cli, 'Import, export and snapshot xCAT OS images'), cli);
  return runProgram(cli, program, argv);
};
