import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentOwner, processStart } from '@imgport/runtime';
import { leaseDir, leasedDigests, takeLease } from './lease.js';

const base = mkdtempSync(join(tmpdir(), 'imgport-lease-'));
after(() => rmSync(base, { recursive: true, force: true }));

const D1 = 'a'.repeat(64);
const D2 = 'b'.repeat(64);

function writeLease(root: string, name: string, head: unknown, digests: string[]): string {
  mkdirSync(leaseDir(root), { recursive: true });
  const file = join(leaseDir(root), name);
  writeFileSync(file, `${JSON.stringify(head)}\n${digests.join('\n')}\n`);
  return file;
}

test('a lease names its writer as journals do, and counts while it is held', () => {
  const root = join(base, 'own');
  const lease = takeLease(root);
  lease.add([D1]);
  const set = new Set<string>();
  assert.equal(leasedDigests(root, 1000, set), 1);
  assert.deepEqual([...set], [D1]);
  lease.release();
  assert.deepEqual(readdirSync(leaseDir(root)), []);
});

test('a lease whose pid now belongs to another process (another start time) is a dead writer: removed, its digests not kept', async () => {
  const root = join(base, 'recycled');
  // A live process of this host, standing for the process the dead writer's pid was given to.
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await once(child, 'spawn');
    const pid = child.pid!;
    const start = processStart(pid)!;
    const me = currentOwner();
    writeLease(root, `${me.host}~${pid}~dead.lease`, { owner: { ...me, pid, start: String(Number(start) - 1) } }, [D1]);
    writeLease(root, `${me.host}~${pid}~live.lease`, { owner: { ...me, pid, start } }, [D2]);
    const set = new Set<string>();
    assert.equal(leasedDigests(root, 1000, set), 1);
    assert.deepEqual([...set], [D2]);
    assert.deepEqual(readdirSync(leaseDir(root)).sort(), [`${me.host}~${pid}~live.lease`]);
  } finally {
    child.kill();
  }
});

test('a lease of another boot is dead; another host counts until stale', () => {
  const root = join(base, 'hosts');
  const me = currentOwner();
  writeLease(root, 'x~1~boot.lease', { owner: { ...me, boot: 'another-boot' } }, [D1]);
  writeLease(root, 'far~1~far.lease', { owner: { ...me, host: 'far-away-host' } }, [D2]);
  const set = new Set<string>();
  assert.equal(leasedDigests(root, 60_000, set), 1);
  assert.deepEqual([...set], [D2]);
  assert.equal(leasedDigests(root, -1, new Set()), 0, 'past the stale age another host no longer counts');
  assert.deepEqual(readdirSync(leaseDir(root)), ['far~1~far.lease'], 'another host’s lease is never removed here');
});

test('a lease of the earlier format (host and pid in its name) is judged by that pid', () => {
  const root = join(base, 'legacy');
  const host = hostname();
  writeLease(root, `${host}~${process.pid}~old.lease`, { host, pid: process.pid }, [D1]);
  writeLease(root, `${host}~2147483646~old.lease`, { host, pid: 2147483646 }, [D2]);
  const set = new Set<string>();
  assert.equal(leasedDigests(root, 1000, set), 1);
  assert.deepEqual([...set], [D1]);
});
