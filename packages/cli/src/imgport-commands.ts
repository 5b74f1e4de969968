import type { Command } from 'commander';
import { defineCatalog } from './catalog-commands.js';
import { defineExport } from './export-command.js';
import { defineImport, revertSnapshot } from './import-command.js';
import { parseCount, sub } from './program.js';
import { defineJobs, remoteDeleteSnapshot, remoteImages, remoteRevert, remoteSnapshot, remoteSnapshots } from './remote-commands.js';
import { imagesSummary, snapshotLine, snapshotsSummary } from './report.js';
import type { Cli, CommonFlags } from './run.js';
import { defineStore, refLine, revertText } from './store-commands.js';
import { defineTrust, withSigners } from './trust-commands.js';

/** The `imgport` program's subcommands: import/export as their own commands, snapshots, jobs. */
export function defineImgport(program: Command, cli: Cli): Command {
  defineImport(program.command('import').description('import a bundle (same as xcatimport)'), cli);
  defineExport(program.command('export').description('export an osimage (same as xcatexport)'), cli);
  defineSnapshots(program, cli);
  defineAdmin(program, cli);
  defineJobs(program, cli);
  defineStore(program, cli);
  defineTrust(program, cli);
  defineCatalog(program, cli);
  return program;
}

function defineSnapshots(program: Command, cli: Cli): void {
  sub<CommonFlags & { label?: string; tgz?: boolean }>(program, cli, 'snapshot <image>', 'take a snapshot of an image', ([image], f) => ({
    inline: async (s, ui) => {
      const label = f.label !== undefined ? { label: f.label } : {};
      if (!f.tgz) {
        const ref = await s.store.create(image!, { ...label, signal: ui.signal });
        return { doc: ref, human: `Snapshot taken: ${refLine(ref)}` };
      }
      const info = await s.snapshots.create(image!, { ...label, signal: ui.signal, onProgress: (p) => ui.progress.update(p) });
      return { doc: info, human: `Snapshot taken: ${snapshotLine(info)}` };
    },
    remote: (r, ui) => remoteSnapshot(r, ui, image!, f.label),
  }))
    .option('--label <text>', 'a note kept with the snapshot')
    .option('--tgz', 'a full .tgz export instead of a store snapshot');

  sub(program, cli, 'snapshots [image]', 'list snapshots, newest first', ([image]) => ({
    inline: async (s) => {
      const items = await s.snapshots.list(image);
      const refs = s.store.list(image);
      const human = [...refs.map(refLine), ...(items.length > 0 || refs.length === 0 ? [snapshotsSummary(items, image)] : [])].join('\n');
      return { doc: { snapshots: items, store: refs }, human };
    },
    remote: (r, ui) => remoteSnapshots(r, ui, image),
  }));

  sub(program, cli, 'revert <snapshot-id>', 'replace an image by one of its snapshots', ([id]) => ({
    inline: async (s, ui) => {
      if (!s.store.find(id!)) return revertSnapshot(s, ui, id!);
      const r = await s.store.revert(id!, { signal: ui.signal });
      return { doc: { revertedTo: id, ...r }, human: revertText(r) };
    },
    remote: (r, ui) => remoteRevert(r, ui, id!),
  }));

  sub<CommonFlags & { keep?: number; daily?: number; weekly?: number }>(program, cli, 'prune [image]', 'keep only the newest N snapshots per image (store and .tgz), then collect the store', ([image], f) => ({
    inline: async (s) => {
      const keep = f.keep ?? s.config.keepSnapshots;
      const gone = await s.snapshots.prune(keep, image);
      // Pinned store snapshots always stay; daily/weekly keep one per day/ISO week on top of the newest N.
      const policy = { keepLast: keep, ...(f.daily !== undefined ? { daily: f.daily } : {}), ...(f.weekly !== undefined ? { weekly: f.weekly } : {}) };
      const store = await s.store.prune(policy, image);
      const removed = store.removed.length + gone.length;
      const human =
        removed === 0
          ? `Nothing to prune (keeping ${keep} per image)`
          : [`Removed ${removed}:`, ...store.removed.map((id) => `  ${id}  store`), ...gone.map(snapshotLine), `Store: freed ${(store.gc.bytesFreed / 1048576).toFixed(1)} MiB`].join('\n');
      return { doc: { keep, policy, removed: gone, store }, human };
    },
  }))
    .option('--keep <n>', 'snapshots to keep per image (default IMGPORT_KEEP_SNAPSHOTS or 5)', parseCount)
    .option('--daily <n>', 'store snapshots: also keep the newest of each of the last n days', parseCount)
    .option('--weekly <n>', 'store snapshots: also keep the newest of each of the last n weeks', parseCount);

  sub(program, cli, 'delete-snapshot <id>', 'delete one snapshot', ([id]) => ({
    inline: async (s) => {
      const info = await s.catalog.get(id!);
      await s.catalog.remove(id!);
      return { doc: { deleted: info }, human: `Deleted snapshot ${info.id} (${info.path})` };
    },
    remote: (r, ui) => remoteDeleteSnapshot(r, ui, id!),
  }));
}

function defineAdmin(program: Command, cli: Cli): void {
  sub(program, cli, 'images', 'list the osimages in the database', () => ({
    inline: async (s) => {
      const images = await withSigners(await s.tables.listImages(), s.config.dataDir);
      return { doc: { images }, human: imagesSummary(images) };
    },
    remote: (r, ui) => remoteImages(r, ui),
  }));

  sub(program, cli, 'recover', 'roll back or forward what an interrupted import left behind', () => ({
    inline: async (s) => {
      const recovered = await s.imports.recover();
      const human =
        recovered.length === 0 ? 'Nothing to recover' : recovered.map((r) => `${r.image}: interrupted import ${r.outcome}`).join('\n');
      return { doc: { recovered }, human };
    },
  }));
}
