/**
 * FastCDC content-defined chunking (Xia et al., "FastCDC: a Fast and Efficient Content-Defined
 * Chunking Approach for Data Deduplication", USENIX ATC 2016): a gear rolling hash
 * (`fp = (fp << 1) + G[byte]`), cut-point skipping below the minimum size, and normalized
 * chunking: a stricter mask (more bits) before the average size and a looser one after it, so
 * chunk sizes cluster around the average. Cut points depend only on the bytes around them, so
 * an insertion or a rewrite moves only the chunks it touches.
 *
 * The fingerprint is 32 bits (JavaScript integers); the masks use its high bits, which depend
 * on the last 32 bytes. The gear table is derived from SHA-256 so that it is reproducible here
 * and documented, not copied: the cut points are therefore our own, stable across versions of
 * imgport (changing the table would only cost deduplication against older snapshots).
 *
 * How this relates to the reference (the authors' C code in destor and the widely used `fastcdc`
 * crate, whose published vectors are cut points of one JPEG file): same recurrence and the same
 * skipping and two-mask normalization, but their fingerprint is 64 bits wide, their gear table is
 * MD5-derived (`referenceGear`, made here by their documented procedure), their masks spread
 * their bits over the middle of the 64-bit word and their default normalization is level 1. Our
 * 32-bit fingerprint is exactly the low half of theirs for the same table (tested); the cut
 * points differ because table and masks do.
 */
import { createHash } from 'node:crypto';

export interface ChunkSizes {
  min: number;
  avg: number;
  max: number;
}

/** For large files in the store: 64 KiB / 256 KiB / 1 MiB. */
export const STORE_CHUNKS: ChunkSizes = { min: 64 * 1024, avg: 256 * 1024, max: 1024 * 1024 };

export const GEAR: Uint32Array = (() => {
  const g = new Uint32Array(256);
  for (let i = 0; i < 256; i++) g[i] = createHash('sha256').update(`imgport fastcdc gear ${i}`).digest().readUInt32BE(0);
  return g;
})();

/** A mask of `bits` set bits, the highest ones of 32. */
function highMask(bits: number): number {
  return bits >= 32 ? 0xffffffff : (((1 << bits) - 1) << (32 - bits)) >>> 0;
}

export interface Masks {
  small: number;
  large: number;
}

/** Normalization level 2, as the paper recommends: avg bits + 2 before the average, - 2 after. */
export function masksFor(sizes: ChunkSizes): Masks {
  checkSizes(sizes);
  const bits = Math.round(Math.log2(sizes.avg));
  return { small: highMask(bits + 2), large: highMask(bits - 2) };
}

function checkSizes(s: ChunkSizes): void {
  if (!(Number.isInteger(s.min) && Number.isInteger(s.avg) && Number.isInteger(s.max) && s.min >= 64 && s.min <= s.avg && s.avg <= s.max)) {
    throw new RangeError(`FastCDC sizes must be whole numbers with 64 <= min <= avg <= max, got ${JSON.stringify(s)}`);
  }
}

/**
 * Length of the chunk starting at `start` in `buf[start, end)`. When `end - start` is below
 * max and more data may follow, the caller must not trust a cut at `end` (see Chunker).
 */
export function cutPoint(buf: Uint8Array, start: number, end: number, sizes: ChunkSizes, masks: Masks): number {
  let n = end - start;
  if (n <= sizes.min) return n;
  if (n > sizes.max) n = sizes.max;
  const normal = n < sizes.avg ? n : sizes.avg;
  let fp = 0;
  let i = sizes.min;
  const ms = masks.small;
  const ml = masks.large;
  for (; i < normal; i++) {
    fp = ((fp << 1) + GEAR[buf[start + i]!]!) >>> 0;
    if ((fp & ms) === 0) return i + 1;
  }
  for (; i < n; i++) {
    fp = ((fp << 1) + GEAR[buf[start + i]!]!) >>> 0;
    if ((fp & ml) === 0) return i + 1;
  }
  return n;
}

/** Every chunk length of a whole buffer. */
export function chunkLengths(buf: Uint8Array, sizes: ChunkSizes = STORE_CHUNKS): number[] {
  const masks = masksFor(sizes);
  const out: number[] = [];
  for (let at = 0; at < buf.length; ) {
    const n = cutPoint(buf, at, buf.length, sizes, masks);
    out.push(n);
    at += n;
  }
  return out;
}

/**
 * Streaming: feed buffers in any sizes, get chunks out; memory stays below about 2 × max.
 * The chunks are exactly those chunkLengths() finds on the concatenation.
 */
export class Chunker {
  private readonly masks: Masks;
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly sizes: ChunkSizes = STORE_CHUNKS) {
    this.masks = masksFor(sizes);
  }

  /** Chunks that are complete once `data` is added. */
  push(data: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    const out: Buffer[] = [];
    let at = 0;
    // A cut is final only when a whole max-sized window was available to search.
    while (this.pending.length - at >= this.sizes.max) {
      const n = cutPoint(this.pending, at, this.pending.length, this.sizes, this.masks);
      out.push(this.pending.subarray(at, at + n));
      at += n;
    }
    this.pending = at === 0 ? this.pending : Buffer.from(this.pending.subarray(at));
    return out;
  }

  /** The remaining chunks at the end of the input. */
  end(): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < this.pending.length) {
      const n = cutPoint(this.pending, at, this.pending.length, this.sizes, this.masks);
      out.push(this.pending.subarray(at, at + n));
      at += n;
    }
    this.pending = Buffer.alloc(0);
    return out;
  }
}

const U64 = (1n << 64n) - 1n;

/**
 * The reference gear table (destor's FastCDC, the `fastcdc` crate): entry i is the first eight
 * bytes, big-endian, of the MD5 of 64 bytes of value i.
 */
export function referenceGear(): BigUint64Array {
  const g = new BigUint64Array(256);
  for (let i = 0; i < 256; i++) g[i] = createHash('md5').update(Buffer.alloc(64, i)).digest().readBigUInt64BE(0);
  return g;
}

/** The reference 64-bit fingerprint `fp = (fp << 1) + G[byte]` over `data`, from 0. */
export function referenceFingerprint(data: Uint8Array, gear: BigUint64Array = referenceGear()): bigint {
  let fp = 0n;
  for (const b of data) fp = ((fp << 1n) + gear[b]!) & U64;
  return fp;
}

/** Our 32-bit fingerprint over `data`, from 0, with `gear` (default: our table). */
export function fingerprint32(data: Uint8Array, gear: Uint32Array = GEAR): number {
  let fp = 0;
  for (const b of data) fp = ((fp << 1) + gear[b]!) >>> 0;
  return fp;
}
