import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { ImgportError } from '@imgport/runtime';
import { decompressError, decompressed, detectCompression, peek, type Compression, type CompressedCounter } from '../decompress.js';

/** Counts bytes passing through and enforces a ceiling (the bundle-size limit). */
export class ByteCounter extends Transform {
  bytes = 0;
  constructor(
    private readonly max: number,
    private readonly what: string,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) {
      cb(new ImgportError('LIMIT_EXCEEDED', `${this.what} is larger than the limit of ${this.max} bytes`));
      return;
    }
    cb(null, chunk);
  }
}

/** The bundle's tar stream, decompressed according to its magic bytes (SPEC §3), never its name. */
export async function openDecompressed(input: Readable): Promise<{ stream: Readable; compression: Compression; consumed: () => number }> {
  const compression = detectCompression(await peek(input, 6));
  const counter: CompressedCounter = { bytesIn: 0 };
  // The outer stream only feeds the tar parser: a small read-ahead keeps memory flat, and the
  // root image's own inflate (the expensive one) keeps its larger one.
  const stream = decompressed(input, compression, counter, 256 * 1024);
  // Corrupt or truncated compressed data is the bundle's fault: say so as BUNDLE_INVALID.
  const out = new Transform({ transform: (c, _e, cb) => cb(null, c) });
  stream.on('error', (err) => out.destroy(decompressError(err) as Error));
  // Given up on (a refused member, a limit): the inflate stops too (igzip is a process that
  // would otherwise keep writing into a pipe nobody reads).
  out.on('close', () => stream.destroy());
  stream.pipe(out);
  return { stream: out, compression, consumed: () => counter.consumed?.() ?? counter.bytesIn };
}
