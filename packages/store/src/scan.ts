/**
 * Scanning: walks roots under a base directory in tree order (walk.ts: on a worker thread) and
 * writes their entries to a TreeWriter. An entry whose type, mode, owner, mtime, inode and ctime equal its parent tree's
 * line (compared on the line's text, with a plain lstat) is that line, reused verbatim (read-modify-write of a file or an xattr, a new link target
 * or a new link count all change the ctime): an unchanged image is read with lstat only, and its
 * lines are neither parsed nor serialized. Hardlinked files are always built afresh (their `k`
 * depends on the walk). Changed files are hashed and, with a store, written as objects (files
 * over CHUNK_OVER bytes as FastCDC chunks).
 */
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readFileSync, readlinkSync, readSync, type BigIntStats } from 'node:fs';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { ImgportError } from '@imgport/runtime';
import { Chunker, STORE_CHUNKS } from './fastcdc.js';
import type { Lease } from './lease.js';
import { sha256, type ObjectStore } from './objects.js';
import { LineCursor } from './diff.js';
import { comparePaths, parseTreeLine, prefetch, type EntryType, type TreeEntry, type TreeWriter } from './tree.js';
import { walkTree, type WalkStat } from './walk.js';
import { readXattrs } from './xattr.js';

/** Files larger than this are split by FastCDC. */
export const CHUNK_OVER = 4 * 1024 * 1024;

export interface ScanOptions {
  base: string;
  /** Paths relative to base; absent ones are skipped, nested ones are covered by their parent. */
  roots: readonly string[];
  out: TreeWriter;
  /** The parent snapshot's raw tree lines (Store.treeLines). */
  parent?: AsyncIterable<string[]>;
  /**
   * Whether the parent's ref still exists, asked after the digests reused from it are leased:
   * while it does, a collection marks them (store.ts), so they are not checked one by one.
   */
  parentAlive?: () => boolean;
  /** Without a store the scan only hashes (a live tree to diff against). */
  objects?: ObjectStore;
  lease?: Lease;
  signal?: AbortSignal;
  onProgress?: (files: number, bytes: number) => void;
}

export interface ScanStats {
  entries: number;
  files: number;
  bytes: number;
  hashed: number;
  reused: number;
  added: number;
  /** Entries naming an earlier path of the same inode (`k`). */
  links: number;
}

/** A queued entry: built afresh (`e`), or the parent's line reused verbatim (`line`). */
interface Pending {
  p: string;
  abs: string;
  e?: TreeEntry;
  line?: string;
  /** The parent's line of a path built afresh (a hardlink, a changed file), to tell whether the tree changed. */
  old?: string;
  reused: boolean;
}

const TYPE: Array<[number, EntryType]> = [
  [0o100000, 'f'],
  [0o040000, 'd'],
  [0o120000, 'l'],
  [0o020000, 'c'],
  [0o060000, 'b'],
  [0o010000, 'p'],
  [0o140000, 's'],
];

function typeOf(mode: number): EntryType {
  const fmt = mode & 0o170000;
  for (const [bits, t] of TYPE) if (bits === fmt) return t;
  return 'f';
}

export function digestsOf(e: TreeEntry): string[] {
  if (e.t !== 'f' || e.h === undefined) return [];
  return e.c ? e.c.map((c) => c[0]) : [e.h];
}

/** Milliseconds as fs.Stats computes them from a timespec (sec * 1e3 + nsec / 1e6), from a time in ns. */
function msOf(ns: string): number {
  return Number(ns.slice(0, -9)) * 1e3 + Number(ns.slice(-9)) / 1e6;
}

/**
 * Whether the parent's line records this path as it is: type, mode, owner and inode exactly;
 * mtime and ctime as fs.Stats holds them (ms as a double: about a quarter of a microsecond at
 * today's dates; a change moves the ctime by a clock tick or more). Read without parsing the
 * line (JSON.stringify wrote `p`, `t`, `m`, `u`, `g`, `mt`, `i`, `ct` first, in that order).
 */
function unchangedLine(line: string, rel: string, t: EntryType, st: WalkStat): boolean {
  const head = `{"p":${JSON.stringify(rel)},"t":"${t}","m":${st.mode & 0o7777},"u":${st.uid},"g":${st.gid},"mt":"`;
  if (!line.startsWith(head)) return false;
  const mtEnd = line.indexOf('"', head.length);
  if (mtEnd < 0 || msOf(line.slice(head.length, mtEnd)) !== st.mtimeMs) return false;
  const mid = `","i":${st.ino},"ct":"`;
  if (!line.startsWith(mid, mtEnd)) return false;
  const ctAt = mtEnd + mid.length;
  const ctEnd = line.indexOf('"', ctAt);
  if (ctEnd < 0 || msOf(line.slice(ctAt, ctEnd)) !== st.ctimeMs) return false;
  const next = line.charCodeAt(ctEnd + 1);
  return next === 44 || next === 125;
}

/** The digests a raw file line names (parsed only for chunked files). */
function lineDigests(line: string): string[] {
  if (line.includes('"c":[')) return digestsOf(JSON.parse(line) as TreeEntry);
  const at = line.lastIndexOf('"h":"');
  return at < 0 ? [] : [line.slice(at + 5, at + 69)];
}

export class Scanner {
  readonly stats: ScanStats = { entries: 0, files: 0, bytes: 0, hashed: 0, reused: 0, added: 0, links: 0 };
  private parent: LineCursor | undefined;
  private readonly links = new Map<string, TreeEntry>();
  private readonly leaders = new Map<string, TreeEntry>();
  private queue: Pending[] = [];
  /** Set once the parent's ref was seen gone: reused digests are then checked one by one. */
  private parentGone = false;
  /** True after run() when the tree written is the parent's, line for line (an unchanged image). */
  sameAsParent: boolean;

  constructor(private readonly o: ScanOptions) {
    this.parent = o.parent ? new LineCursor(prefetch(o.parent), 'parent tree') : undefined;
    this.sameAsParent = this.parent !== undefined;
  }

  async run(): Promise<ScanStats> {
    const roots = [...new Set(this.o.roots)].sort(comparePaths);
    const kept = roots.filter((r, i) => !roots.slice(0, i).some((q) => r.startsWith(`${q}/`)));
    try {
      await this.openParent();
      for await (const batch of walkTree(this.o.base, kept)) {
        for (const [rel, st] of batch) {
          this.stats.entries++;
          if (this.stats.entries % 1024 === 0) {
            await yieldNow();
            this.o.signal?.throwIfAborted();
          }
          let old = this.lineAt(rel);
          while (old === null) {
            await this.parent!.fill();
            old = this.lineAt(rel);
          }
          this.place(rel, `${this.o.base}/${rel}`, st, old);
          if (this.queue.length >= 512) await this.flush();
        }
      }
      await this.flush();
      if (this.parent) {
        await this.parent.fill();
        if (this.parent.line() !== undefined) this.sameAsParent = false;
      }
    } finally {
      await this.parent?.close();
    }
    return this.stats;
  }

  /**
   * Opens the parent tree before the walk starts (an open object stays readable whatever a
   * collection does next). A parent pruned and collected since the caller chose it is no parent:
   * everything is hashed, as for a first snapshot.
   */
  private async openParent(): Promise<void> {
    try {
      await this.parent?.fill();
    } catch (err) {
      if (!(err instanceof ImgportError && err.code === 'FILE_MISSING')) throw err;
      await this.parent?.close();
      this.parent = undefined;
      this.sameAsParent = false;
    }
  }

  /** Queues the entry: the parent's line when it records the path as it is, else built afresh. */
  private place(rel: string, abs: string, st: WalkStat, old: string | undefined): void {
    const t = typeOf(st.mode);
    if (old !== undefined && (t !== 'f' || st.nlink === 1) && unchangedLine(old, rel, t, st)) {
      if (t === 'f') {
        this.stats.files++;
        this.stats.bytes += st.size;
        this.stats.reused++;
      }
      this.queue.push({ p: rel, abs, line: old, reused: t === 'f' });
    } else {
      let big: BigIntStats;
      try {
        big = lstatSync(abs, { bigint: true });
      } catch (err) {
        throw ioError(err, abs);
      }
      const e = this.entry(rel, abs, big, typeOf(Number(big.mode)), old === undefined ? undefined : parseTreeLine(old, undefined, 'parent tree', 0));
      this.queue.push({ p: rel, abs, e, reused: e.t === 'f' && this.reusedLast, ...(old !== undefined ? { old } : {}) });
    }
  }

  /** The parent's line at `path`, consumed (lines before it are passed over); null when the cursor must be filled first. */
  private lineAt(path: string): string | undefined | null {
    const c = this.parent;
    if (!c) return undefined;
    for (;;) {
      if (c.needsFill) return null;
      const line = c.line();
      if (line === undefined) return undefined;
      const cmp = comparePaths(c.path(), path);
      if (cmp > 0) return undefined;
      c.skip();
      if (cmp === 0) return line;
      // A parent line no path of this walk has: the tree is not the parent's.
      this.sameAsParent = false;
    }
  }

  private reusedLast = false;

  private entry(rel: string, abs: string, st: BigIntStats, t: EntryType, old: TreeEntry | undefined): TreeEntry {
    this.reusedLast = false;
    const mode = Number(st.mode);
    const e: TreeEntry = { p: rel, t, m: mode & 0o7777, u: Number(st.uid), g: Number(st.gid), mt: st.mtimeNs.toString() };
    e.i = Number(st.ino);
    e.ct = st.ctimeNs.toString();
    const same = old !== undefined && old.t === e.t && old.i === e.i && old.ct === e.ct && old.mt === e.mt;
    if (e.t === 'l') e.l = readlinkSync(abs);
    if (e.t === 'c' || e.t === 'b') e.r = Number(st.rdev);
    if (e.t === 'f' || e.t === 'd') {
      const x = same ? old.x : readXattrs(abs);
      if (x) e.x = x;
    }
    if (e.t !== 'f') return e;
    e.s = Number(st.size);
    this.stats.files++;
    this.stats.bytes += e.s;
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first) {
        this.stats.links++;
        e.k = first.p;
        e.h = first.h!;
        if (first.c) e.c = first.c;
        return e;
      }
      this.links.set(key, e);
      this.leaders.set(rel, e);
    }
    if (same && old.s === e.s && old.h !== undefined) {
      e.h = old.h;
      if (old.c) e.c = old.c;
      this.stats.reused++;
      this.reusedLast = true;
      return e;
    }
    this.hashInto(e, abs);
    return e;
  }
  /** Hashes (and stores) the content of a regular file into its entry. */
  private hashInto(e: TreeEntry, abs: string): void {
    this.stats.hashed++;
    const objects = this.o.objects;
    delete e.c;
    if ((e.s ?? 0) <= CHUNK_OVER) {
      const data = readFileSync(abs);
      const h = sha256(data);
      e.h = h;
      e.s = data.length;
      if (objects) {
        this.o.lease?.add([h]);
        this.stats.added += objects.putFile(abs, data, h).added;
      }
      this.o.onProgress?.(this.stats.files, data.length);
      return;
    }
    const whole = createHash('sha256');
    const chunks: Array<[string, number]> = [];
    const chunker = new Chunker(STORE_CHUNKS);
    const take = (list: Buffer[]) => {
      for (const c of list) {
        const d = sha256(c);
        chunks.push([d, c.length]);
        if (objects) {
          this.o.lease?.add([d]);
          this.stats.added += objects.putBuffer(c, d).added;
        }
      }
    };
    const fd = openSync(abs, 'r');
    let size = 0;
    try {
      const buf = Buffer.allocUnsafe(1024 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        const piece = Buffer.from(buf.subarray(0, n));
        whole.update(piece);
        size += n;
        take(chunker.push(piece));
      }
      take(chunker.end());
    } finally {
      closeSync(fd);
    }
    e.h = whole.digest('hex');
    e.s = size;
    e.c = chunks;
    this.o.onProgress?.(this.stats.files, size);
  }

  /**
   * Writes queued entries. Digests reused from the parent are leased first; then, unless the
   * parent's ref is still there (which protects them), checked: one a concurrent collection
   * removed is stored again from the file (hashed again, as it is now).
   */
  private async flush(): Promise<void> {
    const q = this.queue;
    this.queue = [];
    const objects = this.o.objects;
    if (objects) {
      const digests = (p: Pending) => (p.line !== undefined ? lineDigests(p.line) : digestsOf(p.e!));
      this.o.lease?.add(q.filter((p) => p.reused).flatMap(digests));
      if (!this.parentGone && !(this.o.parentAlive?.() ?? false)) this.parentGone = true;
      if (this.parentGone) {
        for (const p of q) {
          if (!p.reused || digests(p).every((d) => objects.has(d))) continue;
          if (p.line !== undefined) {
            p.e = JSON.parse(p.line) as TreeEntry;
            delete p.line;
          }
          this.hashInto(p.e!, p.abs);
        }
      }
    }
    for (const p of q) {
      if (p.line !== undefined) {
        const wait = this.o.out.addLine(p.p, p.line);
        if (wait) await wait;
        continue;
      }
      const e = p.e!;
      if (e.k !== undefined) {
        const first = this.leaders.get(e.k);
        if (first) {
          e.h = first.h!;
          if (first.c) e.c = first.c;
          else delete e.c;
        }
      }
      const line = JSON.stringify(e);
      if (line !== p.old) this.sameAsParent = false;
      const wait = this.o.out.addLine(e.p, line);
      if (wait) await wait;
    }
  }
}

function ioError(err: unknown, path: string): ImgportError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new ImgportError('IO_ERROR', `cannot read ${path} (${code})`, { cause: err, where: path });
}
