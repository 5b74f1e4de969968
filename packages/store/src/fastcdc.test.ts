import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Chunker, chunkLengths, cutPoint, fingerprint32, masksFor, referenceFingerprint, referenceGear, type ChunkSizes } from './fastcdc.js';

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

test('the reference gear table and fingerprint reproduce the fastcdc crate\'s published all-zeros vector; ours is its low 32 bits', () => {
  const gear = referenceGear();
  // The MD5 of 64 zero bytes is 3b5d3c7d207e37dceeedd301e35e2e58: entry 0 is its first eight bytes.
  assert.equal(gear[0], 0x3b5d3c7d207e37dcn);
  // The crate's v2020 test_cut_all_zeros (64/256/1024 on 10240 zero bytes): every chunk is the
  // maximum, and each cut's fingerprint is 14169102344523991076 (after 64 or more zero bytes the
  // fingerprint no longer changes: G0 * (2^64 - 1) mod 2^64).
  assert.equal(referenceFingerprint(Buffer.alloc(1024 - 64)), 14169102344523991076n);
  assert.deepEqual(chunkLengths(Buffer.alloc(10240), { min: 64, avg: 256, max: 1024 }), Array(10).fill(1024), 'ours too: zeros never cut');
  // Same recurrence, narrower word: with the reference table's low halves, our fingerprint is the
  // low 32 bits of the reference one, for any input.
  const low = Uint32Array.from(gear, (g) => Number(g & 0xffffffffn));
  for (const seed of ['a', 'b', 'c']) {
    const data = bytes(4096, seed);
    assert.equal(BigInt(fingerprint32(data, low)), referenceFingerprint(data, gear) & 0xffffffffn);
  }
});
