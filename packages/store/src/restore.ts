/**
 * Materializes tree entries into a fresh directory (a staging area, never a live tree): files
 * from their objects or chunks (a large file patched from a copy of a file whose chunks are
 * known, writing only the chunks that differ); symlinks, devices and FIFOs; hardlinks within the tree; then
 * owners, modes, xattrs and times, directories last and deepest first. Nothing is fsynced file by
 * file: a revert's commit flushes the staging area's filesystem once before its journal.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, copyFileSync, ftruncateSync, linkSync, lchownSync, lutimesSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { ImgportError } from '@imgport/runtime';
import type { ObjectStore } from './objects.js';
import type { TreeEntry } from './tree.js';
import { replaceXattrs, writeXattrs } from './xattr.js';

export interface RestoreOptions {
  objects: ObjectStore;
  /** Where entry `p` goes. */
  dest: (p: string) => string;
  /**
   * For a chunked file: another file and the chunks a snapshot just recorded of it (the live
   * file a revert replaces). It is copied (reflinked where offered), and only the entry's chunks
   * that are not there at the same offset are written from the store; `unchanged()`, asked after
   * the copy, says the file is still as recorded (else the entry is rebuilt from the store).
   */
  patchFrom?: (e: TreeEntry) => { path: string; chunks: Array<[string, number]>; unchanged: () => boolean } | undefined;
  signal?: AbortSignal;
}

export interface RestoreStats {
  entries: number;
  fromStore: number;
  copied: number;
  bytesFromStore: number;
  notes: string[];
}

function splitDev(dev: number): [number, number] {
  const d = BigInt(dev);
  return [Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)), Number((d & 0xffn) | ((d >> 12n) & ~0xffn))];
}

/**
 * Seconds as a double for lutimes. libuv truncates what it is given to whole microseconds, and a
 * double near today's epoch carries about a quarter of a microsecond, so the value aims at the
 * middle of the wanted microsecond: the truncation then lands on it exactly (the nanoseconds
 * below it are lost; Node sets no finer time).
 */
function seconds(mt: string): number {
  const ns = BigInt(mt);
  const micros = (ns % 1000000000n) / 1000n;
  return Number(ns / 1000000000n) + (Number(micros) * 1000 + 500) / 1e9;
}

export async function restoreTree(entries: AsyncIterable<TreeEntry>, o: RestoreOptions): Promise<RestoreStats> {
  const st: RestoreStats = { entries: 0, fromStore: 0, copied: 0, bytesFromStore: 0, notes: [] };
  const dirs: TreeEntry[] = [];
  const root = process.getuid?.() === 0;
  let xattrDropped = 0;
  const made = new Set<string>();
  for await (const e of entries) {
    const to = o.dest(e.p);
    st.entries++;
    const parent = dirname(to);
    if (!made.has(parent)) {
      // A root (a kernel, a rootimg/ tree) lands in directories the tree does not list.
      mkdirSync(parent, { recursive: true });
      made.add(parent);
    }
    if (e.t === 'd') made.add(to);
    if (st.entries % 128 === 0) {
      await yieldNow();
      o.signal?.throwIfAborted();
    }
    switch (e.t) {
      case 'd':
        mkdirSync(to, { recursive: true, mode: 0o700 });
        dirs.push(e);
        continue;
      case 'l':
        symlinkSync(e.l ?? '', to);
        break;
      case 'f':
        if (e.k !== undefined) {
          linkSync(o.dest(e.k), to);
          continue;
        }
        writeFile(e, to, o, st);
        break;
      case 'c':
      case 'b':
      case 'p': {
        const args = ['-m', (e.m & 0o777).toString(8), to, e.t];
        if (e.t !== 'p') args.push(...splitDev(e.r ?? 0).map(String));
        try {
          execFileSync('mknod', args, { stdio: ['ignore', 'ignore', 'pipe'] });
        } catch (err) {
          throw new ImgportError('IO_ERROR', `cannot create ${e.t === 'p' ? 'FIFO' : 'device'} ${to}: ${String((err as { stderr?: Buffer }).stderr ?? err)}`, { where: e.p });
        }
        break;
      }
      default:
        continue; // sockets are not restored (a running service recreates them)
    }
    if (!writeXattrs(to, e.t === 'l' ? undefined : e.x)) xattrDropped++;
    meta(e, to, root);
  }
  for (const d of dirs.reverse()) {
    const to = o.dest(d.p);
    if (!writeXattrs(to, d.x)) xattrDropped++;
    meta(d, to, root);
  }
  if (xattrDropped > 0) st.notes.push(`xattrs not restored: fs-xattr is not available (${xattrDropped} entries)`);
  return st;
}

function meta(e: TreeEntry, to: string, root: boolean): void {
  if (root) lchownSync(to, e.u, e.g);
  if (e.t !== 'l') chmodSync(to, e.m);
  const t = seconds(e.mt);
  lutimesSync(to, t, t);
}

function writeFile(e: TreeEntry, to: string, o: RestoreOptions, st: RestoreStats): void {
  if (e.c && patchFile(e, e.c, to, o, st)) return;
  const fd = openSync(to, 'wx', 0o600);
  try {
    if (e.c) {
      for (const [d] of e.c) {
        const data = o.objects.read(d, true);
        writeSync(fd, data);
        st.bytesFromStore += data.length;
      }
    } else if (e.h !== undefined && (e.s ?? 0) > 0) {
      const data = o.objects.read(e.h, true);
      writeSync(fd, data);
      st.bytesFromStore += data.length;
    }
  } finally {
    closeSync(fd);
  }
  st.fromStore++;
}


/** The metadata a revert sets on a directory it keeps. */
export interface DirAttrs {
  m: number;
  u: number;
  g: number;
  mt: string;
  x?: Record<string, string>;
}

/**
 * Sets a kept directory's owner (as root), mode, xattrs (exactly: extra ones removed) and,
 * last, its mtime (to the microsecond, as restoreTree does). Never through a symlink: the
 * caller checked the path is a directory.
 */
export function setDirAttrs(path: string, a: DirAttrs): void {
  if (process.getuid?.() === 0) lchownSync(path, a.u, a.g);
  chmodSync(path, a.m);
  if (!replaceXattrs(path, a.x)) throw new ImgportError('IO_ERROR', `cannot set the xattrs of ${path}: fs-xattr is not available`, { where: path });
  const t = seconds(a.mt);
  lutimesSync(path, t, t);
}

/** A copy of `patchFrom`'s file with the chunks that differ written over it; false (nothing left behind) when it cannot be used. */
function patchFile(e: TreeEntry, chunks: Array<[string, number]>, to: string, o: RestoreOptions, st: RestoreStats): boolean {
  const src = o.patchFrom?.(e);
  if (!src) return false;
  try {
    copyFileSync(src.path, to, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
  } catch {
    rmSync(to, { force: true });
    return false;
  }
  if (!src.unchanged()) {
    rmSync(to, { force: true });
    return false;
  }
  const there = new Map<number, string>();
  let at = 0;
  for (const [d, n] of src.chunks) {
    there.set(at, d);
    at += n;
  }
  const fd = openSync(to, 'r+');
  try {
    let pos = 0;
    for (const [d, n] of chunks) {
      if (there.get(pos) !== d) {
        const data = o.objects.read(d, true);
        writeSync(fd, data, 0, data.length, pos);
        st.bytesFromStore += data.length;
      }
      pos += n;
    }
    ftruncateSync(fd, pos);
  } finally {
    closeSync(fd);
  }
  st.fromStore++;
  st.copied++;
  return true;
}
