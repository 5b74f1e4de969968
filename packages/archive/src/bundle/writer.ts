import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { constants as zc, createGzip } from 'node:zlib';
import { pack as tarPack, type Pack } from 'tar-stream';
import { formatSha256Sums } from '@imgport/format';

/** One member of a bundle to write. Directories are listed as their own entries. */
export interface BundleEntry {
  /** Path inside the bundle, relative (the prefix is added). */
  name: string;
  source: { file: string } | { data: Buffer | string } | { dir: true };
  /** Already compressed (root images, initrds, kernels): stored without deflating it again. */
  precompressed?: boolean;
  mode?: number;
  mtime?: Date;
}

export interface WriteBundleOptions {
  /** '<imagename>/' for xCAT's layout; '' (default) for the native one. */
  prefix?: string;
  compression?: 'gzip' | 'none';
  /** Deflate level for members that are not precompressed (default 6, like gzip). */
  level?: number;
  /** Append SHA256SUMS of every file (default true). */
  checksums?: boolean;
  signal?: AbortSignal;
  onProgress?: (bytesDone: number) => void;
}

export interface WrittenBundle {
  bytesIn: number;
  sums: Array<[string, string]>;
}

/**
 * Streams a bundle (tar, optionally gzip) to `out`, hashing each file as it is read, with
 * SHA256SUMS last. The gzip output is a series of gzip members: deflate for text members,
 * stored blocks for precompressed ones, so an already-gzipped root image is copied at disk speed
 * instead of being deflated a second time (every gzip reader, GNU tar included, reads
 * concatenated members as one stream).
 */
export async function writeBundle(out: Writable, entries: BundleEntry[], opts: WriteBundleOptions = {}): Promise<WrittenBundle> {
  const prefix = opts.prefix ?? '';
  const pack = tarPack();
  const sink = opts.compression === 'none' ? plainSink(pack, out) : new GzipSegments(pack, out, opts.level ?? 6);
  const sums: Array<[string, string]> = [];
  let bytesIn = 0;
  for (const e of entries) {
    opts.signal?.throwIfAborted();
    sink.level(e.precompressed === true);
    const name = prefix + e.name;
    const mtime = e.mtime ?? new Date();
    if ('dir' in e.source) {
      await addEntry(pack, { name, type: 'directory', mode: e.mode ?? 0o755, mtime });
      continue;
    }
    const hash = createHash('sha256');
    if ('data' in e.source) {
      const data = Buffer.from(e.source.data);
      hash.update(data);
      await addEntry(pack, { name, size: data.length, mode: e.mode ?? 0o644, mtime }, data);
      bytesIn += data.length;
    } else {
      const st = await stat(e.source.file);
      const stream = createReadStream(e.source.file, { highWaterMark: 1024 * 1024 });
      stream.on('data', (c) => {
        hash.update(c as Buffer);
        bytesIn += (c as Buffer).length;
        opts.onProgress?.(bytesIn);
      });
      await addEntry(pack, { name, size: st.size, mode: e.mode ?? st.mode & 0o7777, mtime: e.mtime ?? st.mtime }, stream);
    }
    sums.push([e.name, hash.digest('hex')]);
  }
  if (opts.checksums !== false) {
    sink.level(false);
    const text = formatSha256Sums(sums);
    await addEntry(pack, { name: prefix + 'SHA256SUMS', size: Buffer.byteLength(text), mode: 0o644, mtime: new Date() }, Buffer.from(text));
  }
  pack.finalize();
  await sink.done();
  return { bytesIn, sums };
}

type Header = Parameters<Pack['entry']>[0];

function addEntry(pack: Pack, header: Header, body?: Buffer | Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (body === undefined || Buffer.isBuffer(body)) {
      pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      return;
    }
    const w = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    body.on('error', (err) => {
      w.destroy(err);
      reject(err);
    });
    body.pipe(w);
  });
}

interface Sink {
  level(precompressed: boolean): void;
  done(): Promise<void>;
}

function plainSink(pack: Pack, out: Writable): Sink {
  const piped = new Promise<void>((resolve, reject) => {
    pack.on('error', reject);
    out.on('error', reject);
    out.on('finish', resolve);
  });
  pack.pipe(out);
  return { level: () => undefined, done: () => piped };
}

/** Routes the tar stream into consecutive gzip members whose level follows the current entry. */
class GzipSegments implements Sink {
  private current: ReturnType<typeof createGzip> | undefined;
  private stored = false;
  private readonly queue: Array<ReturnType<typeof createGzip>> = [];
  private readonly writer: Promise<void>;
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(
    private readonly pack: Pack,
    private readonly out: Writable,
    private readonly deflateLevel: number,
  ) {
    this.open(false);
    pack.on('data', (chunk) => {
      if (!this.current!.write(chunk as Buffer)) {
        pack.pause();
        this.current!.once('drain', () => pack.resume());
      }
    });
    pack.on('end', () => {
      this.current!.end();
      this.ended = true;
      this.wake?.();
    });
    this.writer = this.drainQueue();
    // Observed by done(); this keeps an early failure from being reported as unhandled.
    this.writer.catch(() => undefined);
  }

  level(precompressed: boolean): void {
    if (precompressed === this.stored) return;
    const old = this.current!;
    this.open(precompressed);
    old.end();
  }

  private open(precompressed: boolean): void {
    this.stored = precompressed;
    const level = precompressed ? zc.Z_NO_COMPRESSION : this.deflateLevel;
    this.current = createGzip({ level, chunkSize: 1024 * 1024 });
    this.queue.push(this.current);
    this.wake?.();
  }

  /** Copies each gzip member's output to `out` in order, with backpressure. */
  private async drainQueue(): Promise<void> {
    for (let i = 0; ; i++) {
      while (i >= this.queue.length) {
        if (this.ended) return;
        await new Promise<void>((r) => (this.wake = r));
      }
      for await (const chunk of this.queue[i]!) {
        if (!this.out.write(chunk)) await once(this.out, 'drain');
      }
    }
  }

  async done(): Promise<void> {
    await this.writer;
    this.out.end();
    if (!this.out.writableFinished) await once(this.out, 'finish');
  }
}

