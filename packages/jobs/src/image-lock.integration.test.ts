import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { ImageLocks } from './image-lock.js';
import { keyspace } from './keys.js';
import { cleanupPrefix, testPrefix, testRedis } from '../test/support/servers.js';

describe('image lock', () => {
  const prefix = testPrefix();
  const keys = keyspace(prefix);
  // Two connections stand for two worker hosts.
  const a = testRedis();
  const b = testRedis();
  const locksA = new ImageLocks(a, { keyspace: keys, ttlMs: 300, minPollMs: 20, maxPollMs: 50 });
  const locksB = new ImageLocks(b, { keyspace: keys, ttlMs: 300, minPollMs: 20, maxPollMs: 50 });

  after(async () => {
    a.disconnect();
    b.disconnect();
    await cleanupPrefix(prefix);
  });

  test('excludes a second holder across connections until released', async () => {
    const held = await locksA.acquire('img1');
    await assert.rejects(locksB.acquire('img1'), (err: unknown) => {
      assert.ok(err instanceof ImgportError);
      assert.equal(err.code, 'LOCKED');
      assert.match(err.message, /^image img1 is being changed by another job \(.+~\d+~[0-9a-f]{16}\)/);
      return true;
    });
    // Another image is independent.
    const other = await locksB.acquire('img2');
    await held.release();
    const next = await locksB.acquire('img1');
    await Promise.all([next.release(), other.release()]);
  });

  test('is renewed while held: it outlives its TTL several times over', async () => {
    const held = await locksA.acquire('renewed');
    await sleep(1000);
    assert.equal(held.lost, false);
    assert.equal(await a.get(keys.lock('renewed')), held.token);
    await assert.rejects(locksB.acquire('renewed'), { code: 'LOCKED' });
    await held.release();
    assert.equal(await a.get(keys.lock('renewed')), null);
  });

  test('only its owner releases it: a stale holder does not free the next owner', async () => {
    const stale = await locksA.acquire('owned');
    // The holder stalls (Redis unreachable, a paused VM): its lock expires and B takes it.
    await a.del(keys.lock('owned'));
    const lostSeen = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (stale.lost) resolve(clearInterval(timer));
      }, 10);
    });
    const current = await locksB.acquire('owned');
    await lostSeen;
    await stale.release();
    assert.equal(await a.get(keys.lock('owned')), current.token);
    await current.release();
  });

  test('onLost is called when a renewal finds the lock gone', async () => {
    let lost = false;
    const held = await locksA.acquire('lost', { onLost: () => (lost = true) });
    await a.set(keys.lock('lost'), 'someone-else');
    await sleep(250);
    assert.equal(lost, true);
    assert.equal(held.lost, true);
    await held.release();
    assert.equal(await a.get(keys.lock('lost')), 'someone-else');
    await a.del(keys.lock('lost'));
  });

  test('wait: polls until the holder releases', async () => {
    const held = await locksA.acquire('waited');
    const started = Date.now();
    setTimeout(() => void held.release(), 200);
    const next = await locksB.acquire('waited', { wait: true });
    assert.ok(Date.now() - started >= 190);
    await next.release();
  });

  test('wait: an abort stops waiting with the signal reason, and takes nothing', async () => {
    const held = await locksA.acquire('aborted');
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(new ImgportError('CANCELLED', 'job cancelled')), 150);
    await assert.rejects(locksB.acquire('aborted', { wait: true, signal: ctrl.signal }), { code: 'CANCELLED', message: 'job cancelled' });
    assert.equal(await a.get(keys.lock('aborted')), held.token);
    // Already aborted: fails before trying.
    await assert.rejects(locksB.acquire('free', { wait: true, signal: AbortSignal.abort() }), { code: 'CANCELLED' });
    await held.release();
  });
});
