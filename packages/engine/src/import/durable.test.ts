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
  writeFileSync(join(dir, 'sync'), `#!/bin/sh\necho "$@" >> '${log}'\n`);
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
