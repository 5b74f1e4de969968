import { newProgram, runProgram } from './program.js';
import type { Cli } from './run.js';

/** The three programs the bin scripts start; each resolves to the process exit status. */
export type Main = (argv: string[], env?: NodeJS.ProcessEnv) => Promise<number>;

function cliFor(name: string, env: NodeJS.ProcessEnv): Cli {
  return { name, env, out: process.stdout, err: process.stderr, exit: 0 };
}

// Each program loads only its own commands: `xcatimport --help` must not pay for the export,
// store, trust and job commands (and the zod schemas they pull in) it never shows.
export const xcatimport: Main = async (argv, env = process.env) => {
  const cli = cliFor('xcatimport', env);
  const { defineImport } = await import('./import-command.js');
  const program = defineImport(newProgram(cli, 'Import an xCAT OS image bundle (native or stock xCAT format)'), cli);
  return runProgram(cli, program, argv);
};

export const xcatexport: Main = async (argv, env = process.env) => {
  const cli = cliFor('xcatexport', env);
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
