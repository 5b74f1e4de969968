/**
 * Revert to a store snapshot, differentially: the image as it is is snapshotted first (so the
 * revert can itself be reverted), then that snapshot and the target are merged (revert-plan.ts)
 * and only what differs is touched. Changed and added entries are written from the store's
 * objects into the transaction's staging area (never a hardlink into or out of the live tree:
 * admins chroot into rootimg/ and edit files in place), then the import's journaled commit
 * takes away what the target lacks, moves the staged entries in (backing up the live ones),
 * sets the metadata of the directories it kept, and writes the rows. The backups go to the
 * trash with the staging area and are deleted after the lock is released, off the revert's path.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readTreeLines, restoreTree, type RowsDoc, type Store, type StoreRef } from '@imgport/store';
import { commit, createStaging, journalDir, missingParents, newJournalId, type Journal } from '../import/journal.js';
import { lockImage } from '../import/lock.js';
import { currentOwner } from '../import/owner.js';
import { moveToTrash } from '../import/trash.js';
import type { EngineDeps } from '../types.js';
import { RevertPlan } from './revert-plan.js';

export interface RevertResult {
  image: string;
  to: string;
  /** The snapshot taken of the image as it was. */
  before?: string;
  /** Entries of the target tree. */
  entries: number;
  /** Files written from the store's objects (changed or added ones). */
  fromStore: number;
  /** Target entries left as they were in the live tree (equal in content and metadata; kept directories whose metadata was set are `dirsSet`). */
  reused: number;
  /** Entries staged from the store and moved in (files, links, devices, whole added subtrees). */
  staged: number;
  /** Of `fromStore`: large files patched from a copy of the live one (only their changed chunks read from the store). */
  copied: number;
  bytesFromStore: number;
  /** Top-most paths the target lacks, taken away (relative to the install root). */
  removed: string[];
  /** Directories kept whose metadata was set back (their own, or their entries changed). */
  dirsSet: number;
  notes: string[];
  /** Until the commit landed (the replaced entries are deleted after, in the background). */
  durationMs: number;
  /** Where the time went: the snapshot of the image as it was, merging and staging what differs, the commit. */
  phases: { snapshotMs: number; stageMs: number; commitMs: number };
}

export interface RevertContext {
  deps: EngineDeps;
  store: Store;
  /** The install root's `.imgport` work directory. */
  work: string;
  /**
   * Snapshots the image as it is (undefined when it has no rows any more), with the full tree
   * file it wrote (the caller removes it).
   */
  snapshotLive(image: string, label: string): Promise<{ ref: StoreRef; treeFile: string } | undefined>;
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
  let liveTree: string | undefined;
  try {
    const recNow = await ctx.deps.tables.getImage(image);
    const live = await ctx.snapshotLive(image, `before revert to ${target.stamp}`);
    liveTree = live?.treeFile;
    const before = live?.ref;
    const snapshotMs = Date.now() - started;
    const { plan, stats } = await stage(ctx, target, live, txDir, opts.signal);
    const stageMs = Date.now() - started - snapshotMs;
    opts.signal?.throwIfAborted();
    const rows = ctx.store.rows(target) as RowsDoc;
    const journal: Journal = {
      v: 2,
      id: txId,
      owner: currentOwner(),
      image,
      state: 'prepared',
      txDir,
      moves: plan.moves,
      removes: plan.removes,
      attrs: plan.attrs,
      createdDirs: [...new Set(plan.moves.filter((m) => !m.backup).flatMap((m) => missingParents(m.to)))].sort((a, b) => a.length - b.length),
      outside: [],
      rowsBefore: recNow.osimage || recNow.linuximage ? recNow : null,
      rowsAfter: { osimage: rows.osimage ?? {}, linuximage: rows.linuximage ?? {}, litefile: rows.litefile ?? [] },
    };
    await commit({ work: ctx.work, tables: ctx.deps.tables, allow: ctx.deps.allow ?? [], ...(ctx.deps.log ? { log: ctx.deps.log } : {}) }, journal);
    const notes = [...stats.notes, ...(plan.skipped ? [`${plan.skipped} sockets not restored (a running service recreates them)`] : [])];
    return {
      image,
      to: target.id,
      ...(before ? { before: before.id } : {}),
      entries: plan.targetEntries,
      fromStore: stats.fromStore,
      reused: plan.unchanged,
      staged: stats.entries,
      copied: stats.copied,
      bytesFromStore: stats.bytesFromStore,
      removed: plan.removed,
      dirsSet: plan.attrs.length,
      notes,
      durationMs: Date.now() - started,
      phases: { snapshotMs, stageMs, commitMs: Date.now() - started - snapshotMs - stageMs },
    };
  } finally {
    if (liveTree) rmSync(liveTree, { force: true });
    // A journal left by a rollback that could not finish keeps its staging area (its backups).
    if (!existsSync(join(journalDir(ctx.work), `${txId}.json`))) moveToTrash(ctx.work, txDir, txId);
    unlockFile();
    await leased?.();
  }
}

/** Merges the live tree (the snapshot just taken) with the target and stages what differs, as the merge runs. */
async function stage(ctx: RevertContext, target: StoreRef, live: { ref: StoreRef; treeFile: string } | undefined, txDir: string, signal?: AbortSignal) {
  const staging = join(txDir, 'new');
  const backups = join(txDir, 'old');
  mkdirSync(staging, { recursive: true });
  mkdirSync(backups, { recursive: true });
  const plan = new RevertPlan({
    base: ctx.deps.installRoot,
    staging,
    backups,
    live: live ? readTreeLines(live.treeFile) : empty(),
    target: ctx.store.treeLines(target),
    liveLinks: live ? await ctx.store.hardlinks(live.ref) : new Map(),
    targetLinks: await ctx.store.hardlinks(target),
  });
  const stats = await restoreTree(plan.staged(), {
    objects: ctx.store.objects,
    dest: (p) => join(staging, p),
    patchFrom: (e) => plan.patchSource(e),
    ...(signal ? { signal } : {}),
  });
  return { plan, stats };
}

async function* empty(): AsyncGenerator<never> {}
