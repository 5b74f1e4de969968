import { InvalidArgumentError, type Command } from 'commander';
import type { Services } from './context.js';
import { defineExport } from './export-command.js';
import { defineImport, revertSnapshot } from './import-command.js';
import { withCommonFlags } from './program.js';
import { imagesSummary, snapshotLine, snapshotsSummary } from './report.js';
import { execute, type Cli, type CommonFlags, type Outcome, type Ui } from './run.js';

type Work = (s: Services, ui: Ui) => Promise<Outcome>;

/** Adds a subcommand whose action runs `work(args, flags)` through execute(). */
function sub<F extends CommonFlags>(program: Command, cli: Cli, spec: string, help: string, work: (args: string[], flags: F) => Work): Command {
  const cmd = program.command(spec).description(help);
  return withCommonFlags(cmd).action(async (...params: unknown[]) => {
    // commander passes the declared arguments, then the options, then the command itself.
    const args = params.slice(0, -2) as string[];
    const flags = params.at(-2) as F;
    cli.exit = await execute(cli, flags, work(args, flags));
  });
}

/** The `imgport` program's subcommands: import/export as their own commands, plus snapshots. */
export function defineImgport(program: Command, cli: Cli): Command {
  defineImport(program.command('import').description('import a bundle (same as xcatimport)'), cli);
  defineExport(program.command('export').description('export an osimage (same as xcatexport)'), cli);
  defineSnapshots(program, cli);
  defineAdmin(program, cli);
  return program;
}

function defineSnapshots(program: Command, cli: Cli): void {
  sub<CommonFlags & { label?: string }>(program, cli, 'snapshot <image>', 'take a snapshot of an image', ([image], f) => async (s, ui) => {
    const label = f.label !== undefined ? { label: f.label } : {};
    const info = await s.snapshots.create(image!, { ...label, signal: ui.signal, onProgress: (p) => ui.progress.update(p) });
    return { doc: info, human: `Snapshot taken: ${snapshotLine(info)}` };
  }).option('--label <text>', 'a note kept with the snapshot');

  sub(program, cli, 'snapshots [image]', 'list snapshots, newest first', ([image]) => async (s) => {
    const items = await s.snapshots.list(image);
    return { doc: { snapshots: items }, human: snapshotsSummary(items, image) };
  });

  sub(program, cli, 'revert <snapshot-id>', 'replace an image by one of its snapshots', ([id]) => (s, ui) => revertSnapshot(s, ui, id!));

  sub<CommonFlags & { keep?: number }>(program, cli, 'prune [image]', 'keep only the newest N snapshots per image', ([image], f) => async (s) => {
    const keep = f.keep ?? s.config.keepSnapshots;
    const gone = await s.snapshots.prune(keep, image);
    const human = gone.length === 0 ? `Nothing to prune (keeping ${keep} per image)` : [`Removed ${gone.length}:`, ...gone.map(snapshotLine)].join('\n');
    return { doc: { keep, removed: gone }, human };
  }).option('--keep <n>', 'snapshots to keep per image (default IMGPORT_KEEP_SNAPSHOTS or 5)', parseCount);

  sub(program, cli, 'delete-snapshot <id>', 'delete one snapshot', ([id]) => async (s) => {
    const info = await s.snapshots.get(id!);
    await s.snapshots.remove(id!);
    return { doc: { deleted: info }, human: `Deleted snapshot ${info.id} (${info.path})` };
  });

}

function defineAdmin(program: Command, cli: Cli): void {
  sub(program, cli, 'images', 'list the osimages in the database', () => async (s) => {
    const images = await s.tables.listImages();
    return { doc: { images }, human: imagesSummary(images) };
  });

  sub(program, cli, 'recover', 'roll back or forward what an interrupted import left behind', () => async (s) => {
    const recovered = await s.imports.recover();
    const human =
      recovered.length === 0 ? 'Nothing to recover' : recovered.map((r) => `${r.image}: interrupted import ${r.outcome}`).join('\n');
    return { doc: { recovered }, human };
  });
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return n;
}
