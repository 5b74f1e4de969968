/**
 * Packs a rootimg/ tree into gzip'd cpio newc, as xCAT's packimage does
 * (`cd rootimg && find . | cpio -H newc -o | gzip`). Names are what GNU cpio stores for that
 * pipeline: '.' for the root, then relative paths without './'. Entries come parents first,
 * names sorted, symlinks never followed. Hardlinks follow GNU cpio: every link of an inode
 * carries the same ino and nlink, all but the last are written with size 0, the last carries
 * the data (links whose inode has names outside the tree are flushed at the end).
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { cpioPadding, encodeCpioEntry, encodeCpioTrailer } from '@imgport/format';
import type { CpioEntryType, CpioWriteEntry } from '@imgport/format';
import { ImgportError, toImgportError } from '@imgport/runtime';
import { splitDev } from './tree-fs.js';
import type { ProgressFn } from './types.js';

export interface PackOptions {
  /** gzip level, 1–9 (default 6, gzip's own default). */
  level?: number;
  signal?: AbortSignal;
  /** bytesIn: file data read; bytesOut: archive bytes before compression. */
  onProgress?: ProgressFn;
}

/** Entries written, and bytes of regular-file data packed. */
export interface PackResult {
  entries: number;
  bytes: number;
}

const CHUNK = 1024 * 1024;
const BATCH = 256 * 1024;

export async function packRootImage(srcDir: string, out: Writable, opts: PackOptions = {}): Promise<PackResult> {
  const packer = new CpioPacker(srcDir, opts.onProgress);
  const gzip = createGzip({ level: opts.level ?? 6, chunkSize: CHUNK });
  try {
    await pipeline(Readable.from(batched(packer.archive()), { objectMode: false }), gzip, out, { signal: opts.signal });
  } catch (err) {
    if (opts.signal?.aborted) throw new ImgportError('CANCELLED', 'packing the root image was cancelled', { cause: err });
    throw toImgportError(err);
  }
  return { entries: packer.entries, bytes: packer.bytes };
}

/**
 * Joins the many small pieces (headers, small files) into chunks of about 256 KiB: each write
 * to zlib is a thread-pool job, and tens of thousands of tiny ones cost more than the copy.
 */
function* batched(pieces: Iterable<Buffer>): Generator<Buffer> {
  let held: Buffer[] = [];
  let len = 0;
  for (const p of pieces) {
    if (p.length >= BATCH && len === 0) {
      yield p;
      continue;
    }
    held.push(p);
    len += p.length;
    if (len >= BATCH) {
      yield Buffer.concat(held, len);
      held = [];
      len = 0;
    }
  }
  if (len > 0) yield Buffer.concat(held, len);
}

interface LinkGroup {
  ino: number;
  nlink: number;
  names: Array<{ rel: string; st: fs.Stats }>;
}

class CpioPacker {
  entries = 0;
  bytes = 0;
  private offset = 0;
  private nextIno = 1;
  /** Inodes with nlink > 1 whose last link has not been seen yet, by dev:ino. */
  private readonly groups = new Map<string, LinkGroup>();
  private lastProgress = { entries: 0, bytes: 0 };

  constructor(
    private readonly root: string,
    private readonly onProgress?: ProgressFn,
  ) {}

  *archive(): Generator<Buffer> {
    yield* this.entry('.', '', fs.lstatSync(this.root));
    yield* this.walk('');
    for (const g of this.groups.values()) yield* this.flushGroup(g);
    yield this.count(encodeCpioTrailer(this.offset));
    this.progress(true);
  }

  private *walk(rel: string): Generator<Buffer> {
    const dir = rel === '' ? this.root : `${this.root}/${rel}`;
    for (const name of fs.readdirSync(dir).sort()) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const st = fs.lstatSync(`${this.root}/${child}`);
      yield* this.entry(child, child, st);
      if (st.isDirectory()) yield* this.walk(child);
    }
  }

  private *entry(name: string, rel: string, st: fs.Stats): Generator<Buffer> {
    const type = statType(st);
    if (type === undefined || type === 'socket') return;
    if (type === 'file' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      let g = this.groups.get(key);
      if (!g) this.groups.set(key, (g = { ino: this.nextIno++, nlink: st.nlink, names: [] }));
      g.names.push({ rel, st });
      if (g.names.length < g.nlink) return;
      this.groups.delete(key);
      yield* this.flushGroup(g);
      return;
    }
    yield* this.write(name, rel, st, type, this.nextIno++, st.isFile() ? st.size : 0);
  }

  private *flushGroup(g: LinkGroup): Generator<Buffer> {
    const last = g.names.length - 1;
    for (let i = 0; i <= last; i++) {
      const { rel, st } = g.names[i]!;
      yield* this.write(rel, rel, st, 'file', g.ino, i === last ? st.size : 0);
    }
  }

  private *write(name: string, rel: string, st: fs.Stats, type: CpioEntryType, ino: number, size: number): Generator<Buffer> {
    const [devmajor, devminor] = splitDev(st.dev);
    const [rdevmajor, rdevminor] = splitDev(st.rdev);
    const e: CpioWriteEntry = {
      name, type, ino, size, devmajor, devminor,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      nlink: st.nlink,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    const full = rel === '' ? this.root : `${this.root}/${rel}`;
    if (type === 'symlink') e.linkname = fs.readlinkSync(full);
    if (type === 'chardev' || type === 'blockdev') Object.assign(e, { rdevmajor, rdevminor });
    this.entries++;
    yield this.count(encodeCpioEntry(e));
    if (size > 0) yield* this.fileData(full, size);
    this.progress(false);
  }

  /** Exactly `size` bytes (the size in the header), even if the file changed meanwhile. */
  private *fileData(full: string, size: number): Generator<Buffer> {
    const fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      let left = size;
      while (left > 0) {
        const buf = Buffer.alloc(Math.min(left, CHUNK));
        let got = 0;
        while (got < buf.length) {
          const n = fs.readSync(fd, buf, got, buf.length - got, null);
          if (n === 0) break; // file shrank: the rest stays zero, like GNU cpio
          got += n;
        }
        left -= buf.length;
        this.bytes += buf.length;
        yield this.count(buf);
      }
      const pad = cpioPadding(size);
      if (pad.length > 0) yield this.count(pad);
    } finally {
      fs.closeSync(fd);
    }
  }

  private count(buf: Buffer): Buffer {
    this.offset += buf.length;
    return buf;
  }

  private progress(force: boolean): void {
    if (!this.onProgress) return;
    const { entries, bytes } = this.lastProgress;
    if (!force && this.entries - entries < 256 && this.bytes - bytes < 8 * CHUNK) return;
    this.lastProgress = { entries: this.entries, bytes: this.bytes };
    this.onProgress({ bytesIn: this.bytes, bytesOut: this.offset, entries: this.entries });
  }
}

/** The entry type of a file as lstat sees it (never following a link). */
export function statType(st: fs.Stats): CpioEntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return undefined;
}
