/**
 * The image lock file under contention: eight processes start at once against a lock left by a
 * dead process; each takes it once, holds it a moment and releases it. Takeover is atomic (an
 * inode-checked rename, never read → rm → create): at no time do two hold it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { currentOwner } from '@imgport/engine';
import { REPO, tempDir } from '../support/bundles.js';

const CHILD = `
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
const { lockImage } = await import(process.env.LOCK_MODULE);
const [work, holders, log] = process.argv.slice(1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (;;) {
  let release;
  try { release = await lockImage(work, 'raced'); } catch (e) { if (e.code !== 'LOCKED') throw e; await sleep(5 + Math.random() * 10); continue; }
  mkdirSync(holders, { recursive: true });
  writeFileSync(join(holders, String(process.pid)), '');
  const n = readdirSync(holders).length;
  appendFileSync(log, n + '\\n');
  await sleep(30);
  rmSync(join(holders, String(process.pid)));
  release();
  break;
}
`;

test('eight processes racing for a stale lock: one holder at a time, every one gets it', async () => {
  const dir = tempDir('imgport-lock-race-');
  try {
    const work = join(dir, '.imgport');
    mkdirSync(join(work, 'locks'), { recursive: true });
    // A lock of a process that is gone (this host, a pid with another start time).
    writeFileSync(join(work, 'locks/raced.lock'), JSON.stringify({ v: 1, image: 'raced', owner: { ...currentOwner(), pid: 2 ** 22 - 7, start: '1' } }));
    const log = join(dir, 'log');
    writeFileSync(log, '');
    const mod = pathToFileURL(join(REPO, 'packages/engine/dist/import/lock.js')).href;
    const runs = Array.from({ length: 8 }, () =>
      new Promise<number | null>((resolve) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', CHILD, work, join(dir, 'holders'), log], { env: { ...process.env, LOCK_MODULE: mod }, stdio: ['ignore', 'ignore', 'inherit'] });
        c.on('exit', resolve);
      }),
    );
    assert.deepEqual(await Promise.all(runs), Array(8).fill(0));
    const { readFileSync } = await import('node:fs');
    const counts = readFileSync(log, 'utf8').trim().split('\n').map(Number);
    assert.equal(counts.length, 8, 'every process got the lock once');
    assert.deepEqual([...new Set(counts)], [1], 'never two holders at once');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
