/**
 * Tree files: one per snapshot, every entry of the image (paths relative to the install root)
 * as one JSON line, sorted by path component by component (a directory's own entry, then its
 * children, each directory's names in code-unit order: the order of a sorted depth-first walk),
 * gzip-compressed. Readers and the diff stream them; nothing holds a whole tree.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createGunzip, createGzip, type Gzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { ImgportError } from '@imgport/runtime';

export type EntryType = 'f' | 'd' | 'l' | 'c' | 'b' | 'p' | 's';

export interface TreeEntry {
  /** Path relative to the install root, '/'-separated, no leading or trailing slash. */
  p: string;
  t: EntryType;
  /** Permission bits with setuid/setgid/sticky (no file type bits). */
  m: number;
  u: number;
  g: number;
  /** mtime in nanoseconds, as a decimal string (exact). */
  mt: string;
  /** Regular files: size and the SHA-256 of the whole content. */
  s?: number;
  h?: string;
  /** Large files: their FastCDC chunks as [digest, length]; otherwise the file is object `h`. */
  c?: Array<[string, number]>;
  /** Extended attributes, values base64. */
  x?: Record<string, string>;
  /** Symlink target. */
  l?: string;
  /** Device number of character and block devices. */
  r?: number;
  /** Hardlink: the first path (in tree order) of the same inode. */
  k?: string;
  /** Stat cache (not content): inode and ctime in ns, to reuse digests next time. */
  i?: number;
  ct?: string;
}

/** Path order: component by component, so '/' sorts before every other character. */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 47) return -1;
    if (y === 47) return 1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * The path of a raw tree line without parsing it: every line starts `{"p":"` (JSON.stringify of
 * an entry, `p` first), and a path with no backslash in it ends at the next quote. Undefined
 * for a line that does not start so (the caller parses it).
 */
export function linePath(line: string): string | undefined {
  if (!line.startsWith('{"p":"')) return undefined;
  const end = line.indexOf('"', 6);
  if (end < 0) return undefined;
  const p = line.slice(6, end);
  return p.includes('\\') ? undefined : p;
}

/** Writes entries (which must come in path order) as a gzip NDJSON file. */
export class TreeWriter {
  private readonly gz: Gzip;
  private readonly done: Promise<void>;
  private buf: string[] = [];
  private bufLen = 0;
  private last: string | undefined;
  count = 0;

  /** `level`: gzip level (a temporary tree that becomes a patch is written quickly, at 1). */
  constructor(
    readonly file: string,
    level = 6,
  ) {
    this.gz = createGzip({ level });
    const out = createWriteStream(file, { flags: 'wx', mode: 0o644 });
    this.gz.pipe(out);
    this.done = new Promise((resolve, reject) => {
      out.on('close', () => resolve());
      out.on('error', reject);
      this.gz.on('error', reject);
    });
  }

  async add(e: TreeEntry): Promise<void> {
    await this.addLine(e.p, JSON.stringify(e));
  }

  /** A raw line of entry `p` (a parent's line reused verbatim), in order like add(); a promise only when the caller must wait. */
  addLine(p: string, line: string): Promise<void> | undefined {
    if (this.last !== undefined && comparePaths(this.last, p) >= 0) {
      throw new ImgportError('INTERNAL', `tree entries out of order: ${JSON.stringify(this.last)} then ${JSON.stringify(p)}`);
    }
    this.last = p;
    this.count++;
    this.buf.push(line);
    this.bufLen += line.length + 1;
    return this.bufLen >= 256 * 1024 ? this.flush() : undefined;
  }

  private async flush(): Promise<void> {
    if (this.buf.length === 0) return;
    const text = `${this.buf.join('\n')}\n`;
    this.buf = [];
    this.bufLen = 0;
    // Compression runs off the main thread: a backlog of a few MiB lets it overlap the caller.
    if (!this.gz.write(text) && this.gz.writableLength > 8 * 1024 * 1024) await once(this.gz, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    this.gz.end();
    await this.done;
  }
}

/** Raw lines of a tree file (or of an already-open gzip stream), in batches, without parsing them. */
export async function* readTreeLines(source: string | Readable): AsyncGenerator<string[]> {
  const input = typeof source === 'string' ? createReadStream(source, { highWaterMark: 256 * 1024 }) : source;
  const gunzip = input.pipe(createGunzip({ chunkSize: 256 * 1024 }));
  input.on('error', (err: Error) => gunzip.destroy(err));
  let rest = '';
  try {
    for await (const chunk of gunzip) {
      const text = rest + (chunk as Buffer).toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      if (lines.length > 0) yield lines;
    }
    if (rest !== '') yield [rest];
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}

/** Parses one line of a tree, checking it follows `last` in path order. */
export function parseTreeLine(line: string, last: string | undefined, where: string, n: number): TreeEntry {
  let e: TreeEntry;
  try {
    e = JSON.parse(line) as TreeEntry;
  } catch {
    throw new ImgportError('BUNDLE_INVALID', `tree ${where} line ${n} is not JSON`, { where });
  }
  if (typeof e !== 'object' || e === null || typeof e.p !== 'string' || typeof e.t !== 'string' || (last !== undefined && comparePaths(last, e.p) >= 0)) {
    throw new ImgportError('BUNDLE_INVALID', `tree ${where} line ${n} is not a valid entry in order`, { where });
  }
  return e;
}

/** Entries of a tree file (or of an already-open gzip stream), in order, checked as they come. */
export async function* readTree(source: string | Readable, where = typeof source === 'string' ? source : 'tree'): AsyncGenerator<TreeEntry> {
  let last: string | undefined;
  let n = 0;
  for await (const lines of readTreeLines(source)) {
    for (const line of lines) {
      n++;
      if (line === '') continue;
      const e = parseTreeLine(line, last, where, n);
      last = e.p;
      yield e;
    }
  }
}

/** A forward-only lookup in a sorted entry stream (for merge joins against a walk in the same order). */
export class TreeCursor {
  private head: TreeEntry | undefined;
  private started = false;
  private ended = false;

  constructor(private readonly it: AsyncIterator<TreeEntry> | undefined) {
    if (!it) this.ended = true;
  }

  /** The entry at `path`, skipping every entry before it; paths must be asked in order. */
  async seek(path: string): Promise<TreeEntry | undefined> {
    if (this.ended) return undefined;
    if (!this.started) {
      this.started = true;
      await this.next();
    }
    while (this.head && comparePaths(this.head.p, path) < 0) await this.next();
    return this.head && this.head.p === path ? this.head : undefined;
  }

  private async next(): Promise<void> {
    const r = await this.it!.next();
    if (r.done) {
      this.head = undefined;
      this.ended = true;
    } else this.head = r.value;
  }

  async close(): Promise<void> {
    await this.it?.return?.(undefined);
  }
}

/**
 * Keeps up to `depth` items of `src` requested ahead, so that decompressing a tree (zlib works
 * off the main thread) overlaps a consumer that awaits rarely, like a scan's walk.
 */
export async function* prefetch<T>(src: AsyncIterable<T>, depth = 4): AsyncGenerator<T> {
  const it = src[Symbol.asyncIterator]();
  const ahead: Array<Promise<IteratorResult<T>>> = [];
  const ask = () => {
    const p = it.next();
    // Handled here too: one still pending when the consumer stops early must not go unhandled.
    p.catch(() => undefined);
    ahead.push(p);
  };
  for (let i = 0; i < depth; i++) ask();
  try {
    for (;;) {
      const r = await ahead.shift()!;
      if (r.done) return;
      ask();
      yield r.value;
    }
  } finally {
    await it.return?.(undefined);
  }
}
