/**
 * Image locks and cancellation with a worker in-process: imports of one image serialize, of
 * different images run in parallel; a cancelled import rolls back; close() lets jobs finish.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { ImageLocks, type AcquireOptions, type LockHandle } from '@imgport/jobs';
import { makeNativeBundle } from '../../../test/support/bundles.js';
import { startHarness, type Harness } from '../test/support/harness.js';

interface Held {
  image: string;
  requested: number;
  acquired?: number;
  released?: number;
}

/** Image locks that record when each was asked for, taken and given back, and hold a little longer. */
class RecordingLocks extends ImageLocks {
  readonly held: Held[] = [];
  holdMs = 0;

  override async acquire(image: string, opts?: AcquireOptions): Promise<LockHandle> {
    const ev: Held = { image, requested: Date.now() };
    this.held.push(ev);
    const handle = await super.acquire(image, opts);
    ev.acquired = Date.now();
    const holdMs = this.holdMs;
    return {
      image: handle.image,
      token: handle.token,
      get lost() {
        return handle.lost;
      },
      release: async () => {
        await sleep(holdMs);
        ev.released = Date.now();
        await handle.release();
      },
    };
  }
}

/** Serves the bundle slowly (2 KiB every 100 ms); with `stall`, stops after the first half until the client goes away. */
async function slowServer(bundle: Buffer, stall = false): Promise<{ url: string; server: Server }> {
  const server = createServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': bundle.length });
    for (let off = 0; off < bundle.length && !res.destroyed; off += 2048) {
      res.write(bundle.subarray(off, off + 2048));
      await sleep(100);
      // A cancel test must not race the end of the download on a loaded machine.
      while (stall && off >= bundle.length / 2 && !res.destroyed) await sleep(50);
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/b.tgz`, server };
}

describe('worker locks and cancellation', () => {
  let h: Harness;
  let locks: RecordingLocks;
  // The test holds image locks itself, from another connection, as another host's job would.
  let other: ImageLocks;
  let otherRedis: Redis;

  before(async () => {
    h = await startHarness({ locks: (redis, keys) => (locks = new RecordingLocks(redis, { keyspace: keys, minPollMs: 20, maxPollMs: 100 })) });
    otherRedis = h.deps.redis.duplicate();
    other = new ImageLocks(otherRedis, { keyspace: h.deps.keys });
  });
  after(async () => {
    otherRedis.disconnect();
    await h.close();
  });

  const bundleAt = (name: string, profile: string, lines: string[] = []) => makeNativeBundle(h.dir, { name, profile, lines });
  const requested = (image: string, n: number) => h.waitFor(async () => locks.held.filter((e) => e.image === image).length >= n, `${n} lock requests for ${image}`);
  const pathSource = async (name: string, profile: string, lines: string[] = []) => {
    const inside = join(h.sourceDir, `${name}-${Math.random().toString(16).slice(2)}.tgz`);
    copyFileSync(await bundleAt(name, profile, lines), inside);
    return { kind: 'path' as const, path: inside };
  };

  test('two imports of the same image serialize: their critical sections do not overlap', async () => {
    locks.holdMs = 200;
    const blocker = await other.acquire('w-same');
    const [r1, r2] = await Promise.all([
      h.jobs.submit('import', { source: await pathSource('w-same', 'same', ['osimage.comments one']), force: true }),
      h.jobs.submit('import', { source: await pathSource('w-same', 'same', ['osimage.comments two']), force: true }),
    ]);
    await requested('w-same', 2);
    await blocker.release();
    const [d1, d2] = await Promise.all([h.settled(r1.id), h.settled(r2.id)]);
    assert.deepEqual([d1.state, d2.state], ['succeeded', 'succeeded'], JSON.stringify([d1.error, d2.error]));
    const [first, second] = locks.held.filter((e) => e.image === 'w-same').sort((a, b) => a.acquired! - b.acquired!);
    assert.ok(first && second);
    assert.ok(second.requested < first.released!, 'the second asked while the first held the lock');
    assert.ok(second.acquired! >= first.released!, `overlap: ${JSON.stringify([first, second])}`);
    assert.match((await h.tables.getImage('w-same')).osimage?.comments ?? '', /^(one|two)$/);
  });

  test('imports of different images run in parallel: their critical sections overlap', async () => {
    locks.holdMs = 300;
    const blockers = [await other.acquire('w-p1'), await other.acquire('w-p2')];
    const ids = await Promise.all([h.jobs.submit('import', { source: await pathSource('w-p1', 'p1') }), h.jobs.submit('import', { source: await pathSource('w-p2', 'p2') })]);
    await Promise.all([requested('w-p1', 1), requested('w-p2', 1)]);
    await Promise.all(blockers.map((b) => b.release()));
    const done = await Promise.all(ids.map((r) => h.settled(r.id)));
    assert.deepEqual(done.map((d) => d.state), ['succeeded', 'succeeded']);
    const p1 = locks.held.find((e) => e.image === 'w-p1')!;
    const p2 = locks.held.find((e) => e.image === 'w-p2')!;
    assert.ok(p1.acquired! < p2.released! && p2.acquired! < p1.released!, `no overlap: ${JSON.stringify([p1, p2])}`);
    locks.holdMs = 0;
  });

  test('cancel of an import waiting for its image: cancelled at once, no retry, nothing written', async () => {
    const blocker = await other.acquire('w-wait');
    const { id } = await h.jobs.submit('import', { source: await pathSource('w-wait', 'wait') });
    await requested('w-wait', 1);
    assert.equal((await h.jobs.cancel(id)).state, 'running');
    const done = await h.settled(id, 5000);
    await blocker.release();
    assert.equal(done.state, 'cancelled');
    assert.deepEqual(done.error, { code: 'CANCELLED', message: `job ${id} cancelled` });
    assert.equal(done.attempts, 1);
    const job = await h.jobs.queue.getJob(id);
    assert.deepEqual([await job?.getState(), job?.attemptsMade], ['failed', 1]);
    assert.deepEqual(await h.tables.getImage('w-wait'), { litefile: [] });
    assert.equal(existsSync(join(h.installRoot, 'netboot/rhels8.5.0/x86_64/wait')), false);
    assert.equal(await h.deps.redis.exists(h.deps.keys.cancel(id)), 0, 'the request is cleared');
  });

  test('cancel of an import mid-stream rolls back: no rows, no files, no staging left', async () => {
    const bundle = readFileSync(await bundleAt('w-slow', 'slow'));
    const { url, server } = await slowServer(bundle, true);
    h.deps.urlAllow.push(url);
    try {
      const { id } = await h.jobs.submit('import', { source: { kind: 'url', url } });
      await h.waitFor(async () => ((await h.jobs.status(id))?.progress.bytesDone ?? 0) > 0, 'bytes to arrive');
      await h.jobs.cancel(id);
      const done = await h.settled(id, 10_000);
      assert.equal(done.state, 'cancelled');
      assert.equal(done.error?.code, 'CANCELLED');
      assert.deepEqual(await h.tables.getImage('w-slow'), { litefile: [] });
      assert.equal(existsSync(join(h.installRoot, 'netboot/rhels8.5.0/x86_64/slow')), false);
      const work = join(h.installRoot, '.imgport');
      assert.deepEqual(existsSync(join(work, 'tx')) ? readdirSync(join(work, 'tx')) : [], []);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test('close() stops taking jobs and lets the running one finish', async () => {
    const bundle = readFileSync(await bundleAt('w-close', 'close'));
    const { url, server } = await slowServer(bundle);
    h.deps.urlAllow.push(url);
    try {
      const { id } = await h.jobs.submit('import', { source: { kind: 'url', url } });
      await h.waitFor(async () => (await h.jobs.status(id))?.state === 'running', 'the import to start');
      await h.worker!.close();
      assert.equal((await h.jobs.status(id))?.state, 'succeeded');
      const queued = await h.jobs.submit('export', { image: 'w-close' });
      await sleep(300);
      assert.equal((await h.jobs.status(queued.id))?.state, 'queued', 'a closed worker takes no job');
      await h.startWorker();
      assert.equal((await h.settled(queued.id)).state, 'succeeded');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
