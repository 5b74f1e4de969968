/**
 * Revert to a store snapshot: the image as it is is snapshotted first; the target is built in a
 * staging area of the install root, where a file whose content and metadata equal the live one
 * is a hardlink of the live file (never of a store object: the live tree is what the commit
 * replaces, so no inode is ever shared with the store or by two live trees) and the rest is
 * written from the store's objects; then the roots are swapped in and the rows written in one
 * journaled commit. The replaced tree goes to the trash with one rename inside the commit's
 * staging area and is deleted after the lock is released, off the revert's path (the trash's
 * rule: recovery empties whatever a killed process left there).
 */
import { existsSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, restoreTree, TreeCursor, type RowsDoc, type Store, type StoreRef, type TreeEntry } from '@imgport/store';
import { commit, createStaging, journalDir, missingParents, newJournalId, type Journal } from '../import/journal.js';
import { lockImage } from '../import/lock.js';
import { currentOwner } from '../import/owner.js';
import { moveToTrash } from '../import/trash.js';
import type { EngineDeps } from '../types.js';

export interface RevertResult {
  image: string;
  to: string;
  /** The snapshot taken of the image as it was. */
  before?: string;
  entries: number;
  fromStore: number;
  reused: number;
  copied: number;
  bytesFromStore: number;
  removed: string[];
  notes: string[];
  /** Until the commit landed (the replaced tree is deleted after, in the background). */
  durationMs: number;
  /** Where the time went: the snapshot of the image as it was, building the target, the commit. */
  phases: { snapshotMs: number; stageMs: number; commitMs: number };
}

export interface RevertContext {
  deps: EngineDeps;
  store: Store;
  /** The install root's `.imgport` work directory. */
  work: string;
  /** Snapshots the image as it is (undefined when it has no rows any more). */
  snapshotLive(image: string, label: string): Promise<StoreRef | undefined>;
}

export interface RevertOptions {
  signal?: AbortSignal;
  lockImage?: (image: string) => Promise<() => void | Promise<void>>;
}

export async function revertImage(ctx: RevertContext, target: StoreRef, opts: RevertOptions = {}): Promise<RevertResult> {
  const started = Date.now();
  const image = target.image;
  // The file lock is taken in every mode (a worker's Redis lease comes on top of it).
  const leased = opts.lockImage ? await opts.lockImage(image) : undefined;
  const unlockFile = await lockImage(ctx.work, image, ctx.deps.log ? { log: ctx.deps.log } : {});
  const txId = newJournalId();
  const txDir = createStaging(ctx.work, txId);
  try {
    const recNow = await ctx.deps.tables.getImage(image);
    const before = await ctx.snapshotLive(image, `before revert to ${target.stamp}`);
    const snapshotMs = Date.now() - started;
    const staging = join(txDir, 'new');
    mkdirSync(staging, { recursive: true });
    const staged = await stage(ctx, target, before, staging, opts.signal);
    const stageMs = Date.now() - started - snapshotMs;
    opts.signal?.throwIfAborted();
    const { moves, removed } = planMoves(ctx.deps.installRoot, staging, txDir, [...new Set([...target.roots, ...(before?.roots ?? [])])]);
    const rows = ctx.store.rows(target) as RowsDoc;
    const journal: Journal = {
      v: 2,
      id: txId,
      owner: currentOwner(),
      image,
      state: 'prepared',
      txDir,
      moves,
      createdDirs: [...new Set(moves.flatMap((m) => missingParents(m.to)))].sort((a, b) => a.length - b.length),
      outside: [],
      rowsBefore: recNow.osimage || recNow.linuximage ? recNow : null,
      rowsAfter: { osimage: rows.osimage ?? {}, linuximage: rows.linuximage ?? {}, litefile: rows.litefile ?? [] },
    };
    await commit({ work: ctx.work, tables: ctx.deps.tables, allow: ctx.deps.allow ?? [], ...(ctx.deps.log ? { log: ctx.deps.log } : {}) }, journal);
    // Files the target does not have (an archive packed since): gone with the image they belonged
    // to, through the trash like every replaced tree.
    removed.forEach((r, i) => moveToTrash(ctx.work, join(ctx.deps.installRoot, r), `${txId}-removed-${i}`));
    return {
      image,
      to: target.id,
      ...(before ? { before: before.id } : {}),
      entries: staged.entries,
      fromStore: staged.fromStore,
      reused: staged.linked,
      copied: staged.copied,
      bytesFromStore: staged.bytesFromStore,
      removed,
      notes: staged.notes,
      durationMs: Date.now() - started,
      phases: { snapshotMs, stageMs, commitMs: Date.now() - started - snapshotMs - stageMs },
    };
  } finally {
    // A journal left by a rollback that could not finish keeps its staging area (its backups).
    if (!existsSync(join(journalDir(ctx.work), `${txId}.json`))) moveToTrash(ctx.work, txDir, txId);
    unlockFile();
    await leased?.();
  }
}

/**
 * Builds the target in `staging`: a file equal to the live one (same digest and metadata in the
 * snapshot just taken, and still the same inode and ctime, with no other link) is a hardlink of
 * it; the rest comes from the store.
 */
async function stage(ctx: RevertContext, target: StoreRef, before: StoreRef | undefined, staging: string, signal?: AbortSignal) {
  const live = before ? new TreeCursor(ctx.store.tree(before)[Symbol.asyncIterator]()) : undefined;
  const liveEntries = new Map<string, TreeEntry>();
  const base = ctx.deps.installRoot;
  const withLive = async function* (it: AsyncIterable<TreeEntry>): AsyncGenerator<TreeEntry> {
    for await (const e of it) {
      const l = live ? await live.seek(e.p) : undefined;
      if (l) liveEntries.set(e.p, l);
      yield e;
    }
  };
  try {
    return await restoreTree(withLive(ctx.store.tree(target)), {
      objects: ctx.store.objects,
      dest: (p) => join(staging, p),
      link: (e) => {
        const l = liveEntries.get(e.p);
        liveEntries.delete(e.p);
        if (!l || !sameFile(l, e)) return undefined;
        const abs = join(base, e.p);
        const now = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
        if (!now || now.nlink !== 1n || Number(now.ino) !== l.i || now.ctimeNs.toString() !== l.ct) return undefined;
        return abs;
      },
      ...(signal ? { signal } : {}),
    });
  } finally {
    await live?.close();
  }
}

/** A move per root the target has (backing up what is there); roots only the live image has are removed. */
function planMoves(base: string, staging: string, txDir: string, roots: string[]): { moves: Journal['moves']; removed: string[] } {
  const moves: Journal['moves'] = [];
  const removed: string[] = [];
  for (const r of roots) {
    const from = join(staging, r);
    const to = join(base, r);
    const staged = lstatSync(from, { throwIfNoEntry: false });
    const there = lstatSync(to, { throwIfNoEntry: false });
    if (staged) moves.push({ from, to, what: r, dir: staged.isDirectory(), ...(there ? { backup: join(txDir, 'old', String(moves.length)) } : {}) });
    else if (there) removed.push(r);
  }
  if (moves.some((m) => m.backup)) mkdirSync(join(txDir, 'old'), { recursive: true });
  return { moves, removed };
}

function sameFile(a: TreeEntry, b: TreeEntry): boolean {
  return (
    a.t === 'f' &&
    b.t === 'f' &&
    a.h === b.h &&
    a.s === b.s &&
    a.m === b.m &&
    a.u === b.u &&
    a.g === b.g &&
    sameMicrosecond(a.mt, b.mt) &&
    a.k === undefined &&
    b.k === undefined &&
    canonicalJson(a.x ?? {}) === canonicalJson(b.x ?? {})
  );
}

/** mtimes are set to the microsecond (restore.ts): a file restored before equals its entry to that precision. */
function sameMicrosecond(a: string, b: string): boolean {
  return a === b || BigInt(a) / 1000n === BigInt(b) / 1000n;
}
