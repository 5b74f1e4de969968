/**
 * Compression of a root image, recognised by its magic bytes (never by its name), and the
 * decompressed stream. gzip uses Node's zlib with 1 MiB chunks (about twice as fast as
 * `gzip -dc` here, PERFORMANCE.md); xz needs the xz(1) program, run with an argument array.
 */
import { spawn } from 'node:child_process';
import { Readable, Transform, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ZlibOptions } from 'node:zlib';
import { ImgportError } from '@imgport/runtime';
import { chunksPassed } from './scavenge.js';

export type Compression = 'gzip' | 'xz' | 'none';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 6 && head.subarray(0, 6).equals(XZ_MAGIC)) return 'xz';
  return 'none';
}

/** Reads at least `n` bytes (fewer at end of input) and puts them back. */
export async function peek(input: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const chunk = input.read() as Buffer | null;
    if (chunk !== null) {
      parts.push(chunk);
      len += chunk.length;
      continue;
    }
    if (input.readableEnded || input.destroyed) break;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        input.off('readable', done).off('end', done).off('error', done);
        if (err) reject(err);
        else resolve();
      };
      input.on('readable', done).on('end', done).on('error', done);
    });
  }
  const head = Buffer.concat(parts);
  if (head.length > 0) input.unshift(head);
  return head;
}

/** Compressed bytes read so far; `consumed`, when set, says how many the inflate has used up. */
export interface CompressedCounter {
  bytesIn: number;
  consumed?: () => number;
}

/**
 * The decompressed bytes of `input`. `counter.bytesIn` follows the compressed bytes read (for
 * progress); for gzip `counter.consumed` gives those zlib has actually inflated, which is what
 * the ratio limit needs: bytes merely read ahead would let a bomb pass it.
 */
export function decompressed(input: Readable, kind: Compression, counter: CompressedCounter, ahead = 512 * 1024): Readable {
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      counter.bytesIn += chunk.length;
      cb(null, chunk);
    },
  });
  if (kind === 'none') return pipeline(input, count, () => {});
  if (kind === 'gzip') {
    // Room for a few inflated chunks (`ahead`), so zlib keeps inflating while the writer is busy.
    // 256 KiB chunks: measured as fast as 1 MiB ones here, and each dead chunk waits less memory
    // for the garbage collector (the writer copies every chunk into its batches at once).
    const gunzip = createGunzip({ chunkSize: Math.min(ahead, 256 * 1024), readableHighWaterMark: ahead } as ZlibOptions);
    counter.consumed = () => gunzip.bytesWritten;
    return pipeline(input, count, gunzip, () => {});
  }
  return xzStream(pipeline(input, count, () => {}));
}

/** xz -dc as a stream; a missing xz is UNSUPPORTED, a failing one BUNDLE_INVALID. */
function xzStream(source: Readable): Readable {
  const child = spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 2000) stderr += d.toString();
  });
  const exited = new Promise<number | string>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') return reject(err);
      reject(new ImgportError('UNSUPPORTED', 'root image is xz-compressed but the xz program is not installed (install xz-utils)', { cause: err }));
    });
    child.on('close', (code, signal) => resolve(code ?? signal ?? -1));
  });
  exited.catch(() => {}); // observed below; this only keeps an early failure from going unhandled
  // EPIPE when xz stops reading early: its exit status says why.
  pipeline(source, child.stdin, () => {});
  async function* run(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of child.stdout) yield chunk as Buffer;
      const status = await exited;
      if (status !== 0) throw new ImgportError('BUNDLE_INVALID', `xz: ${stderr.trim() || `exited with ${status}`}`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      source.destroy();
    }
  }
  return Readable.from(run(), { objectMode: false });
}

/** zlib's errors are the archive's fault: report them as an invalid bundle. */
export function decompressError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && e.code.startsWith('Z_')) {
    return new ImgportError('BUNDLE_INVALID', `gzip: ${e.message === 'unexpected end of file' ? 'truncated data (unexpected end of file)' : e.message}`, { cause: err });
  }
  return err;
}

/**
 * The chunks of a stream as zlib made them: the stream's own async iterator reads in paused
 * mode, where read() joins everything buffered into one new buffer (a copy of up to `ahead`
 * bytes per step). Flowing mode, paused while a chunk waits, hands them over as they are.
 * Ending the iteration early destroys the stream.
 */
export async function* chunksOf(stream: Readable): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (c: Buffer): void => {
    queue.push(c);
    stream.pause();
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onError = (err: unknown): void => {
    failure ??= err;
    notify();
  };
  const onClose = (): void => {
    if (!ended) failure ??= Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    notify();
  };
  stream.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  try {
    for (;;) {
      const c = queue.shift();
      if (c !== undefined) {
        // Inflate the next chunk while this one is written.
        if (queue.length === 0 && !ended) stream.resume();
        chunksPassed(c.length);
        yield c;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended) return;
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    stream.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    if (!ended) stream.destroy();
  }
}
