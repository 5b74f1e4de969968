import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Chunker, chunkLengths, cutPoint, masksFor, type ChunkSizes } from './fastcdc.js';

/** Deterministic pseudo-random bytes (SHA-256 in counter mode), so the cut points below are fixed. */
function bytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0, off = 0; off < n; i++) {
    const h = createHash('sha256').update(`${seed}:${i}`).digest();
    off += h.copy(out, off);
  }
  return out;
}

const SMALL: ChunkSizes = { min: 2048, avg: 8192, max: 65536 };

test('cut points are fixed for fixed input (regression vectors of our gear table)', () => {
  const lens = chunkLengths(bytes(256 * 1024, 'vector'), SMALL);
  assert.equal(lens.reduce((a, b) => a + b, 0), 256 * 1024);
  // Recorded once from this implementation: a change of table, masks or skipping changes them.
  assert.deepEqual(lens.slice(0, 6), VECTOR.slice(0, 6));
});

test('every chunk is within min..max, and sizes cluster around the average', () => {
  const data = bytes(4 * 1024 * 1024, 'sizes');
  const lens = chunkLengths(data, SMALL);
  for (const [i, n] of lens.entries()) {
    if (i < lens.length - 1) assert.ok(n >= SMALL.min && n <= SMALL.max, `chunk ${i} has ${n} bytes`);
  }
  const mean = data.length / lens.length;
  assert.ok(mean > SMALL.avg / 2 && mean < SMALL.avg * 2, `mean chunk ${mean}`);
});

test('streaming gives the same chunks as the whole buffer, whatever the piece sizes', () => {
  const data = bytes(1024 * 1024 + 777, 'stream');
  const whole = chunkLengths(data, SMALL);
  for (const piece of [1, 4095, 65536, 300000]) {
    if (piece === 1) {
      // Byte at a time, with tiny chunk sizes so that many cuts happen in a short prefix.
      const tiny = { min: 64, avg: 256, max: 1024 };
      const prefix = data.subarray(0, 40000);
      const c = new Chunker(tiny);
      const got: number[] = [];
      for (let i = 0; i < prefix.length; i++) got.push(...c.push(prefix.subarray(i, i + 1)).map((b) => b.length));
      got.push(...c.end().map((b) => b.length));
      assert.deepEqual(got, chunkLengths(prefix, tiny));
      assert.ok(got.length > 40);
      continue;
    }
    const c = new Chunker(SMALL);
    const got: number[] = [];
    for (let at = 0; at < data.length; at += piece) got.push(...c.push(data.subarray(at, at + piece)).map((b) => b.length));
    got.push(...c.end().map((b) => b.length));
    assert.deepEqual(got, whole, `pieces of ${piece}`);
  }
});

test('an insertion near the start changes only the chunks around it', () => {
  const data = bytes(2 * 1024 * 1024, 'shift');
  const edited = Buffer.concat([data.subarray(0, 10000), Buffer.from('inserted bytes!'), data.subarray(10000)]);
  const digests = (b: Buffer) => {
    const out = new Set<string>();
    let at = 0;
    for (const n of chunkLengths(b, SMALL)) {
      out.add(createHash('sha256').update(b.subarray(at, at + n)).digest('hex'));
      at += n;
    }
    return out;
  };
  const a = digests(data);
  const b = digests(edited);
  const fresh = [...b].filter((d) => !a.has(d)).length;
  assert.ok(fresh <= 3, `${fresh} new chunks of ${b.size}`);
});

test('sizes are checked; a short tail is one chunk', () => {
  assert.throws(() => masksFor({ min: 10, avg: 5, max: 20 }), /min <= avg <= max/);
  const m = masksFor(SMALL);
  assert.equal(cutPoint(Buffer.alloc(100), 0, 100, SMALL, m), 100);
  assert.equal(cutPoint(Buffer.alloc(100000), 0, 100000, SMALL, m), SMALL.max, 'zeros never match a mask: cut at max');
});

const VECTOR = [4112, 8344, 11368, 10428, 8604, 15836];
