import type { Command } from 'commander';
import type { DiffResult, RevertResult } from '@imgport/engine';
// The error class alone: the runtime's index loads the config schema and the logger (slow for --help).
import { ImgportError } from '@imgport/runtime/errors';
import type { StoreRef } from '@imgport/store';
import { parseCount, sub } from './program.js';
import type { Cli, CommonFlags } from './run.js';

/** `imgport diff`, `imgport store fsck|gc|prune|pin|unpin`: the deduplicated snapshot store (issue 12). */
export function defineStore(program: Command, cli: Cli): void {
  sub<CommonFlags & { stat?: boolean; path?: string[]; mtime?: boolean; limit?: number }>(
    program,
    cli,
    'diff <a> [b]',
    'what changed between two snapshots, or from a snapshot to the live image (b omitted or "live")',
    ([a, b], f) => ({
      inline: async (s) => {
        const res = await s.store.diff(a!, b ?? 'live', { ...(f.path ? { paths: f.path } : {}), ...(f.mtime ? { mtime: true } : {}), ...(f.limit !== undefined ? { limit: f.limit } : {}) });
        const doc = f.stat ? { ...res, changes: [] } : res;
        return { doc, human: diffText(res, f.stat === true) };
      },
    }),
  )
    .option('--stat', 'counts only')
    .option('--path <path...>', 'only paths under these (relative to the rootimgdir, e.g. rootimg/etc, or absolute)')
    .option('--mtime', 'also list entries whose only change is their mtime')
    .option('--limit <n>', 'list at most n changes (default 10000; counts are always complete)', parseCount);

  const store = program.command('store').description('the deduplicated snapshot store');
  sub<CommonFlags & { repair?: boolean }>(store, cli, 'fsck', 're-hash every object and check every snapshot has its objects', (_a, f) => ({
    inline: async (s) => {
      const r = await s.store.store.fsck(f.repair === true);
      const ok = r.corrupt.length === 0 && r.missing.length === 0;
      const lines = [`${r.objects} objects checked: ${r.corrupt.length} corrupt, ${r.missing.length} missing`];
      for (const d of r.corrupt) lines.push(`  corrupt ${d}${f.repair ? ' (moved to store/corrupt/)' : ''}`);
      for (const m of r.missing) lines.push(`  ${m.ref} misses ${m.digest}`);
      if (!ok && !f.repair) lines.push('Run imgport store fsck --repair to move corrupt objects aside; take a new snapshot of affected images.');
      if (!ok) throw new ImgportError(r.corrupt.length ? 'CHECKSUM_MISMATCH' : 'FILE_MISSING', lines.join('\n'), { where: 'store' });
      return { doc: r, human: lines.join('\n') };
    },
  })).option('--repair', 'move corrupt objects to store/corrupt/');

  sub<CommonFlags & { grace?: number }>(store, cli, 'gc', 'delete objects no snapshot needs (older than the grace period)', (_a, f) => ({
    inline: async (s) => {
      const r = await s.store.store.gc(f.grace !== undefined ? { graceMs: f.grace * 1000 } : {});
      return { doc: r, human: `Removed ${r.removed} objects (${mib(r.bytesFreed)}); ${r.marked} in use, ${r.leases} live writers` };
    },
  })).option('--grace <seconds>', 'keep unreferenced objects younger than this (default 3600)', parseCount);

  sub<CommonFlags & { keepLast?: number; daily?: number; weekly?: number }>(store, cli, 'prune [image]', 'apply a retention policy to store snapshots, then collect', ([image], f) => ({
    inline: async (s) => {
      const policy = { keepLast: f.keepLast ?? s.config.keepSnapshots, ...(f.daily !== undefined ? { daily: f.daily } : {}), ...(f.weekly !== undefined ? { weekly: f.weekly } : {}) };
      const r = await s.store.prune(policy, image);
      return { doc: { policy, ...r }, human: r.removed.length === 0 ? 'Nothing to prune' : [`Removed ${r.removed.length}:`, ...r.removed.map((id) => `  ${id}`), `Freed ${mib(r.gc.bytesFreed)}`].join('\n') };
    },
  }))
    .option('--keep-last <n>', 'newest snapshots to keep per image (default IMGPORT_KEEP_SNAPSHOTS or 5)', parseCount)
    .option('--daily <n>', 'also keep the newest of each of the last n days', parseCount)
    .option('--weekly <n>', 'also keep the newest of each of the last n weeks', parseCount);

  sub<CommonFlags & { format?: 'native' | 'xcat' }>(store, cli, 'export <id> [destination]', 'export a store snapshot as an ordinary bundle', ([id, dest], f) => ({
    inline: async (s, ui) => {
      const r = await s.store.exportBundle(id!, { ...(dest ? { destination: dest } : {}), ...(f.format ? { format: f.format } : {}), signal: ui.signal, onProgress: (p) => ui.progress.update(p) });
      return { doc: r, human: `Exported ${id} to ${r.path} (${mib(r.bytes)}, sha256 ${r.sha256})` };
    },
  })).option('--format <format>', 'native (default) or xcat');

  for (const [name, pinned] of [['pin', true], ['unpin', false]] as const) {
    sub(store, cli, `${name} <id>`, pinned ? 'keep a snapshot whatever the retention policy' : 'let retention remove a snapshot again', ([id]) => ({
      inline: async (s) => {
        const ref = s.store.setPinned(id!, pinned);
        return { doc: ref, human: `${ref.id} ${pinned ? 'pinned' : 'unpinned'}` };
      },
    }));
  }
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

export function refLine(r: StoreRef): string {
  const label = r.label ? `  "${r.label}"` : '';
  return `${r.id}  store  ${r.stats.files} files, ${mib(r.stats.bytes)}, +${mib(r.stats.added)}${r.pinned ? '  pinned' : ''}${label}`;
}

export function revertText(r: RevertResult): string {
  return [
    `Reverted ${r.image} to ${r.to}${r.before ? ` (the image as it was is snapshot ${r.before})` : ''}`,
    `  ${r.entries} entries: ${r.reused} unchanged, ${r.staged} staged (${r.fromStore} files from the store, ${mib(r.bytesFromStore)}), ${r.removed.length} taken away, ${r.dirsSet} directories set back`,
    ...r.removed.map((p) => `  taken away ${p} (not in the snapshot)`),
    ...r.notes.map((n) => `  note: ${n}`),
  ].join('\n');
}

function diffText(d: DiffResult, stat: boolean): string {
  const s = d.stats;
  const lines = [`${d.from} → ${d.to}: ${s.added} added, ${s.removed} removed, ${s.changed} changed (+${mib(s.bytesAdded)} -${mib(s.bytesRemoved)})${s.mtimeOnly ? `, ${s.mtimeOnly} with only a new mtime` : ''}`];
  const kinds = Object.entries(s.byKind).map(([k, n]) => `${k} ${n}`);
  if (kinds.length) lines.push(`  changed: ${kinds.join(', ')}`);
  if (!stat) {
    for (const c of d.changes) {
      const mark = c.status === 'added' ? '+' : c.status === 'removed' ? '-' : '~';
      let what = '';
      if (c.changes) {
        what = ` (${c.changes
          .map((k) => {
            if (k === 'mode') return `mode ${c.from?.mode}→${c.to?.mode}`;
            if (k === 'owner') return `owner ${c.from?.owner}→${c.to?.owner}`;
            if (k === 'link') return `link ${c.from?.target}→${c.to?.target}`;
            if (k === 'type') return `type ${c.from?.type}→${c.to?.type}`;
            return k;
          })
          .join(', ')})`;
      }
      lines.push(`${mark} ${c.path}${what}`);
    }
    if (d.truncated) lines.push(`… more changes not listed (--limit)`);
  }
  for (const r of d.rows.rows) lines.push(`row ${r.status === 'added' ? '+' : '-'} ${r.table} ${r.key}`);
  for (const f of d.rows.fields) lines.push(`row ~ ${f.table} ${f.key} ${f.column}: ${JSON.stringify(f.from)} → ${JSON.stringify(f.to)}`);
  return lines.join('\n');
}
