/**
 * The API on the real JobQueue: Redis at 127.0.0.1:6379 under a random prefix per suite (its keys
 * deleted afterwards), durable records in SQLite, and where a job must finish, a BullMQ worker
 * of the test's own standing in for services/worker.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedis, JobQueue, openJobRecords, QUEUE_NAME, redisReady, type JobStatus } from '@imgport/jobs';
import { addInstallImage, errorOf, startApi, TOKEN, type Harness } from '../test/support/harness.js';

const REDIS_URL = process.env.IMGPORT_TEST_REDIS ?? 'redis://127.0.0.1:6379';

interface RealQueue {
  queue: JobQueue;
  redis: Redis;
  prefix: string;
  dispose(): Promise<void>;
}

async function realQueue(redisUrl = REDIS_URL): Promise<RealQueue> {
  const prefix = `imgport-test-${randomBytes(5).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'imgport-api-records-'));
  const records = await openJobRecords(`sqlite:${dir}`, { create: true });
  const redis = createRedis(redisUrl, 'api');
  await redisReady(redis, 2000).catch(() => undefined);
  const queue = new JobQueue({ connection: redis, records, prefix, owns: true });
  return {
    queue,
    redis,
    prefix,
    async dispose() {
      await queue.close();
      await deleteKeys(prefix);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = createRedis(REDIS_URL, 'worker');
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const upload = (h: Harness, body: Buffer, query: string) =>
  h.call(`/v1/imports${query}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
const idOf = async (res: Response) => ((await res.json()) as { id: string }).id;

describe('API on the real queue: submissions, listing, cancel', () => {
  let q: RealQueue;
  let h: Harness;
  before(async () => {
    q = await realQueue();
    h = await startApi({ queue: q.queue, deps: { redis: q.redis, bullQueue: q.queue.queue } });
    await addInstallImage(h, 'img-a');
    await addInstallImage(h, 'img-b');
  });
  after(async () => {
    await h.close();
    await q.dispose();
  });

  test('the same upload and options find the same job; other options make another', async () => {
    const bytes = randomBytes(50_000);
    const first = await upload(h, bytes, '?name=x1');
    assert.equal(first.status, 202);
    const id = await idOf(first);
    assert.equal(await idOf(await upload(h, bytes, '?name=x1')), id);
    const other = await idOf(await upload(h, bytes, '?name=x1&dryRun=1'));
    assert.notEqual(other, id);
    const st = (await (await h.call(`/v1/jobs/${id}`)).json()) as JobStatus;
    assert.deepEqual([st.type, st.state, st.image, st.progress.bytesTotal], ['import', 'queued', 'x1', 50_000]);
    const page = (await (await h.call('/v1/jobs?type=import&limit=1')).json()) as { jobs: JobStatus[]; total: number; next: string | null };
    assert.deepEqual([page.jobs.map((j) => j.id), page.total, page.next], [[other], 2, '/v1/jobs?type=import&limit=1&offset=1']);
  });

  test('cancel: 200 for a queued job, 409 once cancelled, 404 unknown; resubmitting runs it again', async () => {
    const bytes = randomBytes(1000);
    const id = await idOf(await upload(h, bytes, '?name=c1'));
    const res = await h.call(`/v1/jobs/${id}`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as JobStatus).state, 'cancelled');
    assert.equal((await errorOf(await h.call(`/v1/jobs/${id}`, { method: 'DELETE' }))).status, 409);
    assert.equal((await errorOf(await h.call('/v1/jobs/exp-nope', { method: 'DELETE' }))).status, 404);
    assert.equal((await errorOf(await h.call('/v1/jobs/exp-nope'))).status, 404);
    const again = await upload(h, bytes, '?name=c1');
    assert.equal(again.status, 202, await again.clone().text());
    assert.equal(await idOf(again), id);
    assert.equal(((await (await h.call(`/v1/jobs/${id}`)).json()) as JobStatus).state, 'queued');
  });

  test('a bulk snapshot is one parent job with one child per image', async () => {
    const res = await h.call('/v1/snapshots', json({ selector: { name: 'img-*' }, label: 'nightly' }));
    assert.equal(res.status, 202);
    const st = (await (await h.call(`/v1/jobs/${await idOf(res)}`)).json()) as JobStatus;
    assert.equal(st.type, 'snapshot');
    assert.deepEqual(st.children?.map((c) => [c.image, c.state]), [['img-a', 'queued'], ['img-b', 'queued']]);
  });

  test('/metrics counts jobs by state from the records; /readyz pings Redis', async () => {
    const text = await (await h.call('/metrics')).text();
    const queued = Number(/^imgport_jobs\{state="queued"\} (\d+)$/m.exec(text)?.[1]);
    assert.ok(queued >= 5, text.slice(0, 200));
    assert.match(text, /^imgport_jobs_submitted_total\{type="snapshot"\} 1$/m);
    assert.equal((await fetch(`${h.url}/readyz`)).status, 200);
  });

  test('the dashboard is read-only and behind the same auth', async () => {
    assert.equal((await fetch(`${h.url}/admin/queues`)).status, 401);
    const page = await h.call('/admin/queues');
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const api = await fetch(`${h.url}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = (await api.json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    assert.deepEqual(body.queues.map((x) => [x.name, x.readOnlyMode]), [[QUEUE_NAME, true]]);
  });
});

describe('API on the real queue: an export a worker finishes', () => {
  let q: RealQueue;
  let h: Harness;
  let worker: Worker;
  // BullMQ leaves a connection it was given open at close(): the test closes it.
  const workerRedis = createRedis(REDIS_URL, 'worker');
  let release: () => void = () => undefined;
  before(async () => {
    q = await realQueue();
    h = await startApi({ queue: q.queue, deps: { redis: q.redis } });
    await addInstallImage(h, 'img-e');
    const gate = new Promise<void>((r) => (release = r));
    worker = new Worker(
      QUEUE_NAME,
      async (job: Job) => {
        await job.updateProgress({ phase: 'pack', percent: 50, bytesDone: 5, bytesTotal: 10 });
        await gate;
        const path = join(h.dirs.data, 'exports', `${job.id}.tgz`);
        await mkdir(join(h.dirs.data, 'exports'), { recursive: true });
        await writeFile(path, Buffer.alloc(12_345, 9));
        return { image: job.data.image, path, bundle: path };
      },
      { connection: workerRedis, prefix: q.prefix },
    );
  });
  after(async () => {
    await worker.close();
    workerRedis.disconnect();
    await h.close();
    await q.dispose();
  });

  test('events follow it to the end; then its bundle downloads', async () => {
    const id = await idOf(await h.call('/v1/exports', json({ image: 'img-e' })));
    const events = h.call(`/v1/jobs/${id}/events`).then((r) => r.text());
    // Let the stream see the job running at 50% before the worker finishes.
    for (let i = 0; i < 200; i++) {
      const st = (await (await h.call(`/v1/jobs/${id}`)).json()) as JobStatus;
      if (st.progress.percent === 50) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await errorOf(await h.call(`/v1/jobs/${id}/bundle`))).status, 409);
    release();
    const text = await events;
    const seen = [...text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => [m[1], (JSON.parse(m[2]!) as JobStatus).state]);
    assert.deepEqual(seen.at(-1), ['state', 'succeeded']);
    assert.ok(seen.some(([e, s]) => e === 'progress' && s === 'running'), JSON.stringify(seen));
    const res = await h.call(`/v1/jobs/${id}/bundle`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="img-e.tgz"');
    assert.equal((await res.arrayBuffer()).byteLength, 12_345);
  });
});

describe('API with Redis down', () => {
  let q: RealQueue;
  let h: Harness;
  before(async () => {
    q = await realQueue('redis://127.0.0.1:1');
    h = await startApi({ queue: q.queue, deps: { redis: q.redis } });
    await addInstallImage(h, 'img-d');
  });
  after(async () => {
    await h.close();
    await q.dispose();
  });

  test('submissions and status fail fast with 503 QUEUE_UNAVAILABLE; /readyz says Redis', async () => {
    const started = Date.now();
    assert.equal((await errorOf(await h.call('/v1/exports', json({ image: 'img-d' })))).code, 'QUEUE_UNAVAILABLE');
    assert.equal((await errorOf(await upload(h, Buffer.from('b'), ''))).code, 'QUEUE_UNAVAILABLE');
    assert.equal((await errorOf(await h.call('/v1/jobs/exp-x'))).code, 'QUEUE_UNAVAILABLE');
    assert.ok(Date.now() - started < 3000, 'fails fast');
    const ready = await fetch(`${h.url}/readyz`);
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { checks: { redis: { ok: boolean }; db: { ok: boolean } } };
    assert.deepEqual([body.checks.redis.ok, body.checks.db.ok], [false, true]);
  });
});
