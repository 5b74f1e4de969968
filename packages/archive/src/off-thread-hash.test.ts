import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../test/support/helpers.js';
import { OffThreadSha256 } from './off-thread-hash.js';

/** Chunks of awkward sizes: empty, tiny, exactly a piece, larger than the ring. */
const SIZES = [0, 1, 511, 4096, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 + 17, 9 * 1024 * 1024, 65536, 7];

test('digests equal node:crypto over chunks of every size, two hashes interleaved', async () => {
  const a = new OffThreadSha256();
  const b = new OffThreadSha256();
  const refA = createHash('sha256');
  const refB = createHash('sha256');
  for (let round = 0; round < 3; round++) {
    for (const n of SIZES) {
      const chunk = randomBytes(n);
      refA.update(chunk);
      await a.update(chunk);
      // The second hash sees a view into the middle of a larger buffer (as a Buffer from a pool is).
      const big = randomBytes(n + 100);
      const view = big.subarray(50, 50 + n);
      refB.update(view);
      // Not awaited: its chunks queue behind the first hash's while the ring is full.
      void b.update(view);
    }
  }
  assert.equal(await a.digest(), refA.digest('hex'));
  assert.equal(await b.digest(), refB.digest('hex'));
});

test('a caller that never waits still gets the right digest, and a digest asked twice is the same', async () => {
  const h = new OffThreadSha256();
  const ref = createHash('sha256');
  for (let i = 0; i < 40; i++) {
    const c = Buffer.alloc(700_000, i);
    ref.update(c);
    void h.update(c);
  }
  const want = ref.digest('hex');
  assert.equal(await h.digest(), want);
  assert.equal(await h.digest(), want);
});

test('update resolves only once the bytes are taken: a full ring holds the caller back', async () => {
  const h = new OffThreadSha256();
  const waits: Array<Promise<void> | undefined> = [];
  for (let i = 0; i < 12; i++) waits.push(h.update(Buffer.alloc(1024 * 1024, i)));
  // The ring holds 8 MiB: the later chunks of 12 MiB given at once must wait for room.
  assert.ok(waits.slice(8).every((w) => w instanceof Promise), 'chunks beyond the ring wait');
  await Promise.all(waits);
  const ref = createHash('sha256');
  for (let i = 0; i < 12; i++) ref.update(Buffer.alloc(1024 * 1024, i));
  assert.equal(await h.digest(), ref.digest('hex'));
});

test('a dropped hash does not disturb another, and a new hash after it starts empty', async () => {
  const keep = new OffThreadSha256();
  const gone = new OffThreadSha256();
  await gone.update(Buffer.from('abandoned'));
  await keep.update(Buffer.from('kept'));
  gone.drop();
  assert.equal(await keep.digest(), createHash('sha256').update('kept').digest('hex'));
  const fresh = new OffThreadSha256();
  assert.equal(await fresh.digest(), createHash('sha256').digest('hex'));
});

test('a hashing thread started ahead serves the hashes, and idle it keeps no process alive', (t) => {
  // In processes of their own: whether the thread keeps them alive is the point.
  const here = JSON.stringify(new URL('./off-thread-hash.ts', import.meta.url).href);
  const run = (code: string[]): string => {
    // A file, not -e: --input-type=module would reach the hashing thread's own (CommonJS) code.
    const file = join(tempDir(t), 'run.mjs');
    writeFileSync(file, [`const m = await import(${here});`, ...code].join('\n'));
    const r = spawnSync(process.execPath, [...process.execArgv, file], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.signal, null, 'the process ended by itself');
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  // Started and never used.
  assert.equal(run(['m.prestartHashThread();', "console.log('end');"]), 'end');
  // Started, used, then idle.
  const digest = run([
    'm.prestartHashThread(); m.prestartHashThread();',
    "const h = new m.OffThreadSha256(); await h.update(Buffer.from('node image')); console.log(await h.digest());",
    'm.prestartHashThread();',
  ]);
  assert.equal(digest, createHash('sha256').update('node image').digest('hex'));
});
