import { defineExport } from './export-command.js';
import { defineImgport } from './imgport-commands.js';
import { defineImport } from './import-command.js';
import { newProgram, runProgram } from './program.js';
import type { Cli } from './run.js';

/** The three programs the bin scripts start; each resolves to the process exit status. */
export type Main = (argv: string[], env?: NodeJS.ProcessEnv) => Promise<number>;

function cliFor(name: string, env: NodeJS.ProcessEnv): Cli {
  return { name, env, out: process.stdout, err: process.stderr, exit: 0 };
}

export const xcatimport: Main = (argv, env = process.env) => {
  const cli = cliFor('xcatimport', env);
  const program = defineImport(newProgram(cli, 'Import an xCAT OS image bundle (native or stock xCAT format)'), cli);
  return runProgram(cli, program, argv);
};

export const xcatexport: Main = (argv, env = process.env) => {
  const cli = cliFor('xcatexport', env);
  const program = defineExport(newProgram(cli, 'Export an xCAT osimage into a portable bundle'), cli);
  return runProgram(cli, program, argv);
};

export const imgport: Main = (argv, env = process.env) => {
  const cli = cliFor('imgport', env);
  const program = defineImgport(newProgram(cli, 'Import, export and snapshot xCAT OS images'), cli);
  return runProgram(cli, program, argv);
};
