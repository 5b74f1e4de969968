/**
 * The image lock file under contention: eight processes start at once against a lock left by a
 * dead process, and a breaker left by a remover that died; each takes the lock three times, holds
 * it a moment and releases it. One process at a time removes a stale lock, and only while it still
 * holds the record judged stale: at no time do two hold it, and nothing is left behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
for (let taken = 0; taken < 3; ) {
  let release;
  try { release = await lockImage(work, 'raced'); } catch (e) { if (e.code !== 'LOCKED') throw e; await sleep(5 + Math.random() * 10); continue; }
  mkdirSync(holders, { recursive: true });
  writeFileSync(join(holders, String(process.pid)), '');
  const n = readdirSync(holders).length;
  appendFileSync(log, n + '\\n');
  await sleep(30);
  rmSync(join(holders, String(process.pid)));
  release();
  taken++;
  await sleep(Math.random() * 5);
}
`;

test('eight processes racing for a stale lock three times each: one holder at a time, every one gets it', async () => {
  const dir = tempDir('imgport-lock-race-');
  try {
    const work = join(dir, '.imgport');
    mkdirSync(join(work, 'locks'), { recursive: true });
    // A lock of a process that is gone (this host, a pid with another start time).
    const gone = JSON.stringify({ v: 1, image: 'raced', owner: { ...currentOwner(), pid: 2 ** 22 - 7, start: '1' } });
    writeFileSync(join(work, 'locks/raced.lock'), gone);
    writeFileSync(join(work, 'locks/raced.lock.break'), gone);
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
    assert.equal(counts.length, 24, 'every process got the lock three times');
    assert.deepEqual([...new Set(counts)], [1], 'never two holders at once');
    assert.deepEqual(readdirSync(join(work, 'locks')), [], 'no lock, breaker or private file left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
