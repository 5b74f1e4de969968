/**
 * Scanning: walks roots under a base directory in tree order and writes their entries to a
 * TreeWriter. A regular file whose size, mtime, ctime and inode equal its entry in the parent
 * tree keeps the parent's digest, chunks and xattrs (read-modify-write of a file or xattr
 * changes its ctime), so an unchanged image is read with lstat only. Changed files are hashed
 * and, with a store, written as objects (files over CHUNK_OVER bytes as FastCDC chunks).
 */
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { ImgportError } from '@imgport/runtime';
import { Chunker, STORE_CHUNKS } from './fastcdc.js';
import type { Lease } from './lease.js';
import { sha256, type ObjectStore } from './objects.js';
import { comparePaths, TreeCursor, type EntryType, type TreeEntry, type TreeWriter } from './tree.js';
import { readXattrs } from './xattr.js';

/** Files larger than this are split by FastCDC. */
export const CHUNK_OVER = 4 * 1024 * 1024;

export interface ScanOptions {
  base: string;
  /** Paths relative to base; absent ones are skipped, nested ones are covered by their parent. */
  roots: readonly string[];
  out: TreeWriter;
  parent?: AsyncIterator<TreeEntry>;
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
}

interface Pending {
  e: TreeEntry;
  abs: string;
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

export class Scanner {
  readonly stats: ScanStats = { entries: 0, files: 0, bytes: 0, hashed: 0, reused: 0, added: 0 };
  private readonly cursor: TreeCursor;
  private readonly links = new Map<string, TreeEntry>();
  private readonly leaders = new Map<string, TreeEntry>();
  private queue: Pending[] = [];

  constructor(private readonly o: ScanOptions) {
    this.cursor = new TreeCursor(o.parent);
  }

  async run(): Promise<ScanStats> {
    const roots = [...new Set(this.o.roots)].sort(comparePaths);
    const kept = roots.filter((r, i) => !roots.slice(0, i).some((q) => r.startsWith(`${q}/`)));
    try {
      for (const root of kept) await this.visit(root);
      await this.flush();
    } finally {
      await this.cursor.close();
    }
    return this.stats;
  }

  private async visit(rel: string): Promise<void> {
    const abs = join(this.o.base, rel);
    let st: BigIntStats;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw ioError(err, abs);
    }
    const e = await this.entry(rel, abs, st);
    this.queue.push({ e, abs, reused: e.t === 'f' && this.reusedLast });
    if (this.queue.length >= 512) await this.flush();
    if (e.t !== 'd') return;
    let names: string[];
    try {
      names = readdirSync(abs).sort();
    } catch (err) {
      throw ioError(err, abs);
    }
    for (const name of names) await this.visit(`${rel}/${name}`);
  }

  private reusedLast = false;

  private async entry(rel: string, abs: string, st: BigIntStats): Promise<TreeEntry> {
    this.reusedLast = false;
    const mode = Number(st.mode);
    const e: TreeEntry = { p: rel, t: typeOf(mode), m: mode & 0o7777, u: Number(st.uid), g: Number(st.gid), mt: st.mtimeNs.toString() };
    e.i = Number(st.ino);
    e.ct = st.ctimeNs.toString();
    this.stats.entries++;
    if (this.stats.entries % 64 === 0) {
      await yieldNow();
      this.o.signal?.throwIfAborted();
    }
    const old = await this.cursor.seek(rel);
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
   * Writes queued entries. Digests reused from the parent are leased first, then checked: one
   * a concurrent collection removed is stored again from the file (hashed again, as it is now).
   */
  private async flush(): Promise<void> {
    const q = this.queue;
    this.queue = [];
    const objects = this.o.objects;
    if (objects) {
      this.o.lease?.add(q.filter((p) => p.reused).flatMap((p) => digestsOf(p.e)));
      for (const p of q) {
        if (p.reused && digestsOf(p.e).some((d) => !objects.has(d))) this.hashInto(p.e, p.abs);
      }
    }
    for (const p of q) {
      if (p.e.k !== undefined) {
        const first = this.leaders.get(p.e.k);
        if (first) {
          p.e.h = first.h!;
          if (first.c) p.e.c = first.c;
          else delete p.e.c;
        }
      }
      await this.o.out.add(p.e);
    }
  }
}

function ioError(err: unknown, path: string): ImgportError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new ImgportError('IO_ERROR', `cannot read ${path} (${code})`, { cause: err, where: path });
}
