import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { currentOwner, processStart, type Logger } from '@imgport/runtime';
import { lockImage } from './lock.js';

function setup(): { work: string; lock: string; done: () => void } {
  const work = join(mkdtempSync(join(tmpdir(), 'imgport-lock-')), '.imgport');
  mkdirSync(join(work, 'locks'), { recursive: true });
  return { work, lock: join(work, 'locks', 'img.lock'), done: () => rmSync(join(work, '..'), { recursive: true, force: true }) };
}

const record = (owner: object, lease?: string) => JSON.stringify({ v: 1, image: 'img', owner, ...(lease ? { lease } : {}) });

/** The warnings a run logs, in order (a recorder in place of the pino logger's `warn`). */
async function warnings(fn: (log: Logger) => Promise<void>): Promise<string[]> {
  const said: string[] = [];
  await fn({ warn: (_obj: object, msg: string) => said.push(msg) } as unknown as Logger);
  return said;
}

test('a live holder makes LOCKED naming it and keeps its lock', async () => {
  const { work, lock, done } = setup();
  try {
    const parent = { ...currentOwner(), pid: process.ppid, start: processStart(process.ppid) ?? '' };
    writeFileSync(lock, record(parent));
    await assert.rejects(lockImage(work, 'img'), (err: Error & { code?: string }) => err.code === 'LOCKED' && err.message.includes(`process ${process.ppid} on ${parent.host}`));
    assert.equal(readFileSync(lock, 'utf8'), record(parent));
    // This very process holds it: a second take is refused as well.
    rmSync(lock);
    const release = await lockImage(work, 'img');
    await assert.rejects(lockImage(work, 'img'), /being changed by process/);
    release();
    assert.equal(existsSync(lock), false);
  } finally {
    done();
  }
});

test('a dead holder is taken over and a torn lock set aside, each with a warning naming it', async () => {
  const { work, lock, done } = setup();
  try {
    const said = await warnings(async (log) => {
      writeFileSync(lock, record({ ...currentOwner(), pid: 2 ** 22 - 5, start: '1' }));
      (await lockImage(work, 'img', { log }))();
      writeFileSync(lock, '{"v":1,"image":"img"');
      (await lockImage(work, 'img', { log }))();
    });
    assert.equal(said.length, 2);
    assert.match(said[0]!, new RegExp(`took over the lock of image img left by process ${2 ** 22 - 5}`));
    assert.match(said[1]!, /image lock .*img\.lock is not a valid imgport lock \(not JSON: .*\); set aside as .*quarantine/);
    const aside = readdirSync(join(work, 'quarantine'));
    assert.equal(aside.length, 1);
    assert.equal(readFileSync(join(work, 'quarantine', aside[0]!), 'utf8'), '{"v":1,"image":"img"', 'the torn lock is kept for the admin');
    assert.deepEqual(readdirSync(join(work, 'locks')), []);
  } finally {
    done();
  }
});

test("another host's lock is stale only when its lease is no longer held", async () => {
  const { work, lock, done } = setup();
  try {
    const other = { host: 'other-node', boot: 'b', pid: 4242, start: '7' };
    writeFileSync(lock, record(other, 'lease-1'));
    const asked: string[] = [];
    await assert.rejects(lockImage(work, 'img'), /being changed by process 4242 on other-node/);
    await assert.rejects(lockImage(work, 'img', { lease: 'lease-2', leaseHeld: async (_i, l) => (asked.push(l), true) }), /being changed by process 4242 on other-node/);
    assert.deepEqual([...new Set(asked)], ['lease-1']);
    const release = await lockImage(work, 'img', { lease: 'lease-2', leaseHeld: async () => false });
    assert.deepEqual(JSON.parse(readFileSync(lock, 'utf8')), { v: 1, image: 'img', owner: currentOwner(), lease: 'lease-2' });
    release();
  } finally {
    done();
  }
});
