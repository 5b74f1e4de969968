import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backgroundWriteback } from './durable.js';

/** A `sync` first on PATH that records its arguments, so the test sees every run. */
function recordingSync(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'writeback-'));
  const log = join(dir, 'calls');
  // It records each run, and fails for a path with "broken" in it (as sync does for a missing one).
  writeFileSync(join(dir, 'sync'), `#!/bin/sh\necho "$@" >> '${log}'\ncase "$*" in *broken*) exit 1;; esac\n`);
  chmodSync(join(dir, 'sync'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${dir}:${path}`;
  t.after(() => {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  });
  return () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
}

test('background writeback syncs the staging filesystem repeatedly while it runs, and not after stop', async (t) => {
  const calls = recordingSync(t);
  const wb = backgroundWriteback('/staging/area', 20);
  await sleep(150);
  await wb.stop();
  const seen = calls();
  assert.ok(seen.length >= 3, `ran ${seen.length} times in 150 ms at most every 20 ms`);
  assert.ok(seen.every((c) => c === '-f -- /staging/area'), seen.join('; '));
  await sleep(60);
  assert.equal(calls().length, seen.length, 'nothing runs once stopped');
});

test('stop is prompt between runs, and IMGPORT_NO_SYNC=1 turns the writeback off', async (t) => {
  const calls = recordingSync(t);
  const wb = backgroundWriteback('/staging/area', 10_000);
  const t0 = Date.now();
  await wb.stop();
  assert.ok(Date.now() - t0 < 1000, 'stop does not wait out the interval');
  process.env.IMGPORT_NO_SYNC = '1';
  t.after(() => delete process.env.IMGPORT_NO_SYNC);
  const off = backgroundWriteback('/staging/area', 5);
  await sleep(50);
  await off.stop();
  assert.deepEqual(calls(), []);
});

test("the commit's sync goes through the writeback's own program, after the background ones, and is done when it resolves", async (t) => {
  const calls = recordingSync(t);
  const wb = backgroundWriteback('/staging/area', 20);
  await sleep(70);
  wb.pause();
  const paused = calls().length;
  await sleep(60);
  assert.equal(calls().length, paused, 'no background sync once paused');
  await wb.syncNow(['/staging/area', '/other/fs', '/staging/area']);
  const seen = calls();
  assert.deepEqual(seen.slice(-2), ['-f -- /staging/area', '-f -- /other/fs'], 'each filesystem once, at the end, before syncNow resolved');
  assert.equal(seen.length, paused + 2);
  await wb.stop();
});

test('a failing sync at the commit fails it; a writeback program that is gone leaves the commit a sync of its own', async (t) => {
  const calls = recordingSync(t);
  const wb = backgroundWriteback('/staging/area', 10_000);
  await assert.rejects(wb.syncNow(['/staging/broken']), 'the failure of the last sync is the commit\'s');
  // Run twice: by the writeback's program, then once more on its own, which fails again.
  assert.deepEqual(calls(), ['-f -- /staging/broken', '-f -- /staging/broken']);
  await wb.stop();
  const gone = backgroundWriteback('/staging/area', 10_000);
  await gone.stop();
  await gone.syncNow(['/staging/area']);
  assert.equal(calls().at(-1), '-f -- /staging/area', 'synced all the same');
  // No xargs on the PATH at all (only the recording sync): the commit still gets its sync.
  const path = process.env.PATH!;
  process.env.PATH = path.split(':')[0]!;
  try {
    const none = backgroundWriteback('/staging/area', 10_000);
    await none.syncNow(['/staging/none']);
    await none.stop();
  } finally {
    process.env.PATH = path;
  }
  assert.equal(calls().at(-1), '-f -- /staging/none', 'synced without xargs');
});
