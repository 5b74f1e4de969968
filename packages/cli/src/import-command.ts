import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { ImportOptions, ImportResult } from '@imgport/engine';
import type { Services } from './context.js';
import { withCommonFlags } from './program.js';
import { importSummary } from './report.js';
import { execute, type Cli, type CommonFlags, type Outcome, type Ui } from './run.js';

export interface ImportFlags extends CommonFlags {
  name?: string;
  profile?: string;
  force?: boolean;
  dryRun?: boolean;
  fromRoot?: string;
  plainHttp?: boolean;
}

/** `xcatimport <bundle|URL>` and `imgport import`: SPEC §8.1. */
export function defineImport(cmd: Command, cli: Cli): Command {
  cmd
    .argument('<bundle>', 'bundle file, http(s):// URL, oci://host/repo:tag, or a catalog entry (https://site/index.json#name[@stamp], file:///dir#name)')
    .option('--name <name>', 'import under another osimage name')
    .option('-f, --profile <profile>', 're-profile: name becomes <os>-<arch>-<method>-<profile>, paths follow')
    .option('--force', 'replace an existing image (a snapshot of it is taken first)')
    .option('--dry-run', 'validate the bundle and report the plan; write nothing')
    .option('--from-root <dir>', "the exporting node's install directory (default IMGPORT_FROM_ROOT or /install)")
    .option('--plain-http', 'speak plain HTTP to an oci:// registry (a local test registry)');
  return withCommonFlags(cmd).action(async (bundle: string, flags: ImportFlags) => {
    cli.exit = await execute(cli, flags, {
      inline: (s, ui) => importBundle(s, ui, bundle, flags, cli),
      // The root image's writer thread boots on another core while the tables and the install
      // root are opened (~50 ms that the first entries waited for).
      warmUp: async () => (await import('@imgport/archive')).prestartWriterThread(),
      remote: async (r, ui) => (await import('./remote-import.js')).importRemote(r, ui, bundle, flags),
    });
  });
}

async function importBundle(s: Services, ui: Ui, source: string, flags: ImportFlags, cli: Cli): Promise<Outcome> {
  const catalog = await import('@imgport/catalog');
  if (catalog.isPullSource(source)) {
    // Streamed from the registry or catalog into the import: no copy of the bundle is staged.
    const { sourceContext } = await import('./catalog-commands.js');
    const opened = await catalog.openPull(source, sourceContext(s.config, cli, ui, flags, s.judge));
    const result = await s.imports.run(opened.stream, { ...importOptions(flags, ui), sizeHint: opened.size, fromRoot: flags.fromRoot ?? s.config.fromRoot });
    return { doc: result, human: importSummary(result) };
  }
  const result = await s.imports.run(source, {
    ...importOptions(flags, ui),
    fromRoot: flags.fromRoot ?? s.config.fromRoot,
  });
  return { doc: result, human: importSummary(result) };
}

function importOptions(flags: ImportFlags, ui: Ui): ImportOptions {
  return {
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
    force: flags.force === true,
    dryRun: flags.dryRun === true,
    signal: ui.signal,
    onProgress: (p) => ui.progress.update(p),
  };
}

/**
 * `imgport revert <snapshot-id>`: an import of the snapshot with force under the image's own
 * name (SPEC §6). The snapshot was exported from this install root, so that is its origin root.
 */
export async function revertSnapshot(s: Services, ui: Ui, id: string): Promise<Outcome> {
  const info = await s.snapshots.get(id);
  const source = await s.snapshots.revertSource(id);
  const result: ImportResult = await s.imports.run(source, {
    name: info.image,
    force: true,
    fromRoot: resolve(s.config.installRoot),
    signal: ui.signal,
    onProgress: (p) => ui.progress.update(p),
  });
  return { doc: { revertedTo: id, ...result }, human: `Reverted ${info.image} to snapshot ${id}\n${importSummary(result)}` };
}
