import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'bullmq';
import { CancelWatcher } from './cancel.js';
import { importJobId } from './catalog.js';
import { JobQueue } from './queue.js';
import { openJobRecords, type JobRecords } from './records.js';
import { createRedis } from './redis.js';
import { liveOf } from './status.js';
import { cleanupPrefix, testPrefix, testRedis } from '../test/support/servers.js';
import { QUEUE_NAME, type ImportPayload } from './types.js';

const SHA = 'c'.repeat(64);
const spoolImport = (name: string): ImportPayload => ({ source: { kind: 'spool', path: `/spool/${name}`, sha256: SHA, size: 1234 }, name });

describe('JobQueue', () => {
  const prefix = testPrefix();
  const dir = mkdtempSync(join(tmpdir(), 'imgport-queue-'));
  const redis = testRedis('api');
  let records: JobRecords;
  let jobs: JobQueue;

  before(async () => {
    records = await openJobRecords(`sqlite:${dir}`);
    jobs = new JobQueue({ connection: redis, records, prefix });
    await jobs.queue.waitUntilReady();
  });
  after(async () => {
    await jobs.close();
    await records.close();
    redis.disconnect();
    await cleanupPrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  test('submit is idempotent: the same import twice is one job, in the records and in Redis', async () => {
    const payload = spoolImport('img-a');
    const first = await jobs.submit('import', payload);
    assert.deepEqual(first, { id: importJobId(payload), existing: false });
    assert.deepEqual(await jobs.submit('import', payload), { id: first.id, existing: true });
    const job = await jobs.queue.getJob(first.id);
    assert.equal(job?.name, 'import');
    assert.deepEqual(job?.data, payload);
    assert.equal(job?.opts.attempts, 3);
    assert.equal((await jobs.queue.getJobCounts('waiting')).waiting, 1);
    const status = await jobs.status(first.id);
    assert.ok(status);
    assert.deepEqual(status, {
      id: first.id,
      type: 'import',
      state: 'queued',
      image: 'img-a',
      progress: { phase: 'receive', percent: 0, bytesDone: 0, bytesTotal: 1234 },
      attempts: 0,
      createdAt: status.createdAt,
      updatedAt: status.updatedAt,
    });
  });

  test('a record whose job never reached Redis is repaired by resubmitting', async () => {
    const payload = spoolImport('img-lost');
    const { id } = await jobs.submit('import', payload);
    await jobs.queue.remove(id);
    assert.deepEqual(await jobs.submit('import', payload), { id, existing: true });
    assert.equal(await jobs.queue.getJobState(id), 'waiting');
  });

  test('exports get random ids unless one is given; bad input writes nothing', async () => {
    const a = await jobs.submit('export', { image: 'img-a' });
    assert.match(a.id, /^exp-[0-9a-f]{24}$/);
    assert.equal(a.existing, false);
    assert.deepEqual(await jobs.submit('export', { image: 'img-a' }, { id: 'nightly-img-a' }), { id: 'nightly-img-a', existing: false });
    assert.deepEqual(await jobs.submit('export', { image: 'img-a' }, { id: 'nightly-img-a' }), { id: 'nightly-img-a', existing: true });
    await assert.rejects(jobs.submit('export', { image: 'img-a' }, { id: '1234' }), { code: 'BAD_REQUEST' });
    await assert.rejects(jobs.submit('export', { image: 'a/b' }), { code: 'BAD_REQUEST' });
    await assert.rejects(jobs.submit('snapshot' as 'export', { image: 'x' }), { code: 'BAD_REQUEST' });
    assert.equal(await jobs.status('1234'), undefined);
  });

  test('list newest first with filters; counts per state', async () => {
    const { jobs: list, total } = await jobs.list({ type: 'export' });
    assert.equal(total, 2);
    assert.deepEqual(list.map((j) => j.id).at(-1)?.startsWith('exp-'), true);
    assert.equal(list[0]?.id, 'nightly-img-a');
    assert.ok(list.every((j) => j.type === 'export' && j.state === 'queued'));
    const counts = await jobs.counts();
    assert.deepEqual(counts, { queued: 4, running: 0, succeeded: 0, failed: 0, cancelled: 0 });
  });

  test('cancel of a queued job removes it; again is CONFLICT; unknown is NOT_FOUND; resubmitting runs it anew', async () => {
    const payload = spoolImport('img-c');
    const { id } = await jobs.submit('import', payload);
    const status = await jobs.cancel(id);
    assert.equal(status.state, 'cancelled');
    assert.deepEqual(status.error, { code: 'CANCELLED', message: 'cancelled before it ran' });
    assert.equal(await jobs.queue.getJob(id), undefined);
    await assert.rejects(jobs.cancel(id), { code: 'CONFLICT', message: `job ${id} has already been cancelled` });
    await assert.rejects(jobs.cancel('no-such-job'), { code: 'NOT_FOUND' });
    assert.deepEqual(await jobs.submit('import', payload), { id, existing: false });
    const again = await jobs.status(id);
    assert.equal(again?.state, 'queued');
    assert.equal(again?.error, undefined);
    await jobs.cancel(id);
  });

  test('cancel of a running job asks its worker to stop: key and message, seen by a watcher elsewhere', async () => {
    const { id } = await jobs.submit('export', { image: 'img-run' });
    await drain(jobs, id);
    const workerConn = testRedis();
    const watcher = new CancelWatcher(workerConn, jobs.keys, { pollMs: 100 });
    await watcher.start();
    const worker = new Worker(QUEUE_NAME, null, { connection: workerConn, prefix, autorun: false });
    try {
      const job = await worker.getNextJob('tok');
      assert.equal(job?.id, id);
      let heard = 0;
      const seen = new Promise<void>((resolve) => watcher.watch(id, () => resolve(void heard++)));
      const status = await jobs.cancel(id);
      assert.equal(status.state, 'running');
      await seen;
      assert.equal(heard, 1);
      assert.equal(await workerConn.exists(jobs.keys.cancel(id)), 1);
      assert.ok((await workerConn.ttl(jobs.keys.cancel(id))) > 3600);
      // A job BullMQ failed on its own (stalled too often) is reported failed, and the record follows.
      job!.discard();
      await job!.moveToFailed(new Error('job stalled more than allowable limit'), 'tok', false);
      const failed = await jobs.status(id);
      assert.equal(failed?.state, 'failed');
      assert.deepEqual(failed?.error, { code: 'INTERNAL', message: 'job stalled more than allowable limit' });
      assert.equal((await records.get(id))?.state, 'failed');
    } finally {
      await worker.close();
      await watcher.close();
      workerConn.disconnect();
    }
  });

  test('a job read just before it finished is read again for its result or failure: a succeeded export keeps its bundle', async () => {
    const workerConn = testRedis();
    const worker = new Worker(QUEUE_NAME, null, { connection: workerConn, prefix, autorun: false });
    try {
      for (const outcome of ['succeeded', 'failed'] as const) {
        const { id } = await jobs.submit('export', { image: `img-${outcome}` });
        await drain(jobs, id);
        const job = await worker.getNextJob('tok');
        assert.equal(job?.id, id);
        // What a status request read while the job still ran, before the worker ended it.
        const read = (await jobs.queue.getJob(id))!;
        if (outcome === 'succeeded') await job!.moveToCompleted({ image: 'img-succeeded', bundle: '/data/exports/x.tgz' }, 'tok', false);
        else {
          job!.discard(); // no retry: this failure is the last
          await job!.moveToFailed(new Error('IO_ERROR: disk gone'), 'tok', false);
        }
        const live = await liveOf(read, () => jobs.queue.getJob(id));
        assert.equal(live?.state, outcome);
        if (outcome === 'succeeded') assert.deepEqual(live?.result, { image: 'img-succeeded', bundle: '/data/exports/x.tgz' });
        else assert.deepEqual(live?.error, { code: 'IO_ERROR', message: 'disk gone' });
      }
    } finally {
      await worker.close();
      workerConn.disconnect();
    }
  });

  test('bulk snapshot: one parent waiting for one child per image, children that may fail', async () => {
    const { id, existing } = await jobs.submitSnapshots({ images: ['a', 'b', 'a'], label: 'nightly' });
    assert.match(id, /^snap-[0-9a-f]{24}$/);
    assert.equal(existing, false);
    assert.equal(await jobs.queue.getJobState(id), 'waiting-children');
    const status = await jobs.status(id);
    assert.equal(status?.state, 'queued');
    assert.deepEqual(status?.children, [
      { id: `${id}-00000`, image: 'a', state: 'queued' },
      { id: `${id}-00001`, image: 'b', state: 'queued' },
    ]);
    assert.equal(status?.progress.phase, 'snapshot');
    const child = await jobs.queue.getJob(`${id}-00001`);
    assert.equal(child?.name, 'snapshot-image');
    assert.deepEqual(child?.data, { image: 'b', label: 'nightly' });
    assert.equal(child?.opts.ignoreDependencyOnFailure, true);
    assert.equal(child?.parentKey, `${prefix}:${QUEUE_NAME}:${id}`);
    assert.equal((await jobs.status(`${id}-00000`))?.parentId, id);
    // Cancelling the parent cancels its queued children and the parent itself.
    const cancelled = await jobs.cancel(id);
    assert.equal(cancelled.state, 'cancelled');
    assert.deepEqual(cancelled.children?.map((c) => c.state), ['cancelled', 'cancelled']);
    assert.equal(await jobs.queue.getJob(id), undefined);
  });

  test('ping checks both Redis and the records', async () => {
    await jobs.ping();
  });
});

describe('JobQueue with its dependencies down', () => {
  test('Redis down: QUEUE_UNAVAILABLE at once, and no record is left behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgport-queue-'));
    const records = await openJobRecords(`sqlite:${dir}`);
    const redis = createRedis('redis://127.0.0.1:1', 'api');
    const jobs = new JobQueue({ connection: redis, records, prefix: testPrefix(), owns: true });
    try {
      const started = Date.now();
      await assert.rejects(jobs.submit('export', { image: 'a' }), { code: 'QUEUE_UNAVAILABLE' });
      await assert.rejects(jobs.ping(), { code: 'QUEUE_UNAVAILABLE' });
      await assert.rejects(jobs.submitSnapshots({ images: ['a'] }), { code: 'QUEUE_UNAVAILABLE' });
      assert.ok(Date.now() - started < 3000);
      assert.equal((await records.list()).total, 0);
    } finally {
      await jobs.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('records down: DB_UNAVAILABLE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgport-queue-'));
    const records = await openJobRecords(`sqlite:${dir}`);
    const prefix = testPrefix();
    const redis = testRedis('api');
    const jobs = new JobQueue({ connection: redis, records, prefix, owns: true });
    try {
      await jobs.queue.waitUntilReady();
      await records.close();
      await assert.rejects(jobs.submit('export', { image: 'a' }), { code: 'DB_UNAVAILABLE' });
      await assert.rejects(jobs.status('x'), { code: 'DB_UNAVAILABLE' });
      await assert.rejects(jobs.ping(), { code: 'DB_UNAVAILABLE' });
    } finally {
      await jobs.close();
      await cleanupPrefix(prefix);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Removes every other waiting job so the next one a worker takes is `id`. */
async function drain(jobs: JobQueue, id: string): Promise<void> {
  for (const job of await jobs.queue.getJobs(['waiting'])) {
    if (job.id !== id) await jobs.queue.remove(job.id!);
  }
}
