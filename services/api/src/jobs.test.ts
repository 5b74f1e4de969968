import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { JobStatus } from '@imgport/jobs';
import { errorOf, startApi, type Harness } from '../test/support/harness.js';

interface Page {
  jobs: JobStatus[];
  total: number;
  limit: number;
  offset: number;
  next: string | null;
}

/** Reads an event stream to its end: the events in order, and the comment lines seen. */
async function readEvents(res: Response): Promise<{ events: Array<{ event: string; data: JobStatus }>; comments: number }> {
  const text = await res.text();
  const events = [];
  let comments = 0;
  for (const block of text.split('\n\n').filter(Boolean)) {
    if (block.startsWith(':')) comments++;
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (event && data) events.push({ event, data: JSON.parse(data) as JobStatus });
  }
  return { events, comments };
}

describe('jobs', () => {
  let h: Harness;
  before(async () => {
    h = await startApi();
  });
  after(() => h.close());
  beforeEach(() => h.fake.jobs.clear());

  test('GET /v1/jobs/:id returns the status; unknown and malformed ids are 404', async () => {
    const st = h.fake.put({ id: 'exp-1', type: 'export', image: 'img' });
    const res = await h.call('/v1/jobs/exp-1');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), st);
    assert.deepEqual(await errorOf(await h.call('/v1/jobs/nope')), { status: 404, code: 'NOT_FOUND', message: 'job nope not found' });
    assert.equal((await errorOf(await h.call('/v1/jobs/a:b'))).status, 404);
  });

  test('GET /v1/jobs: newest first, filtered, paginated with total and next', async () => {
    for (let i = 1; i <= 5; i++) h.fake.put({ id: `j${i}`, type: i % 2 ? 'import' : 'export', state: i === 5 ? 'failed' : 'queued' });
    const first = (await (await h.call('/v1/jobs?limit=2')).json()) as Page;
    assert.deepEqual(first.jobs.map((j) => j.id), ['j5', 'j4']);
    assert.deepEqual({ ...first, jobs: [] }, { jobs: [], total: 5, limit: 2, offset: 0, next: '/v1/jobs?limit=2&offset=2' });
    const second = (await (await h.call(first.next!)).json()) as Page;
    assert.deepEqual(second.jobs.map((j) => j.id), ['j3', 'j2']);
    const last = (await (await h.call(second.next!)).json()) as Page;
    assert.deepEqual([last.jobs.map((j) => j.id), last.next], [['j1'], null]);
    const imports = (await (await h.call('/v1/jobs?type=import&state=queued')).json()) as Page;
    assert.deepEqual(imports.jobs.map((j) => j.id), ['j3', 'j1']);
    assert.match((await errorOf(await h.call('/v1/jobs?state=done'))).message, /^query\.state: /);
    assert.match((await errorOf(await h.call('/v1/jobs?limit=501'))).message, /^query\.limit: /);
  });

  test('DELETE /v1/jobs/:id: 200 with the status, 409 once finished, 404 unknown', async () => {
    h.fake.put({ id: 'imp-1', type: 'import' });
    const res = await h.call('/v1/jobs/imp-1', { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as JobStatus).state, 'cancelled');
    assert.deepEqual(await errorOf(await h.call('/v1/jobs/imp-1', { method: 'DELETE' })), {
      status: 409,
      code: 'CONFLICT',
      message: 'job imp-1 has already cancelled',
    });
    assert.equal((await errorOf(await h.call('/v1/jobs/imp-2', { method: 'DELETE' }))).status, 404);
  });

  test('GET /v1/jobs/:id/events: progress on each change, then the final state, then the end', async () => {
    h.fake.put({ id: 'exp-9', type: 'export' });
    const steps: Array<Partial<JobStatus>> = [
      { state: 'running', progress: { phase: 'pack', percent: 10, bytesDone: 10, bytesTotal: 100 } },
      { state: 'running', progress: { phase: 'pack', percent: 10, bytesDone: 10, bytesTotal: 100 } },
      { state: 'running', progress: { phase: 'write', percent: 90, bytesDone: 90, bytesTotal: 100 } },
      { state: 'succeeded', progress: { phase: 'done', percent: 100, bytesDone: 100, bytesTotal: 100 } },
    ];
    const res = await h.call('/v1/jobs/exp-9/events');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const timer = setInterval(() => {
      const s = steps.shift();
      if (s) h.fake.update('exp-9', s);
      else clearInterval(timer);
    }, 60);
    const { events, comments } = await readEvents(res);
    clearInterval(timer);
    assert.deepEqual(
      events.map((e) => [e.event, e.data.state, e.data.progress.percent]),
      [
        ['progress', 'queued', 0],
        ['progress', 'running', 10],
        ['progress', 'running', 90],
        ['progress', 'succeeded', 100],
        ['state', 'succeeded', 100],
      ],
    );
    assert.ok(comments >= 1, 'heartbeat comments');
  });

  test('events of a finished job: its state at once; unknown job 404', async () => {
    h.fake.put({ id: 'f1', type: 'import', state: 'failed', error: { code: 'MANIFEST_INVALID', message: 'bad' } });
    const { events } = await readEvents(await h.call('/v1/jobs/f1/events'));
    assert.deepEqual(events.map((e) => e.event), ['progress', 'state']);
    assert.deepEqual(events[1]?.data.error, { code: 'MANIFEST_INVALID', message: 'bad' });
    assert.equal((await errorOf(await h.call('/v1/jobs/zz/events'))).status, 404);
  });

  test('an event stream stops polling when the client goes away', async () => {
    h.fake.put({ id: 'r1', type: 'import', state: 'running' });
    const ac = new AbortController();
    const res = await h.call('/v1/jobs/r1/events', { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    let polls = 0;
    const status = h.fake.status.bind(h.fake);
    h.fake.status = async (id) => (polls++, status(id));
    ac.abort();
    await new Promise((r) => setTimeout(r, 100));
    const seen = polls;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(polls, seen, 'no polls after the client left');
    h.fake.status = status;
  });

  test('GET /v1/jobs/:id/bundle streams a finished export as <image>.tgz', async () => {
    const path = join(h.dirs.data, 'exports', 'exp-b.tgz');
    await mkdir(join(h.dirs.data, 'exports'), { recursive: true });
    const bytes = Buffer.alloc(100_000, 3);
    await writeFile(path, bytes);
    h.fake.put({ id: 'exp-b', type: 'export', image: 'img1', state: 'succeeded', result: { image: 'img1', path } });
    const res = await h.call('/v1/jobs/exp-b/bundle');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '100000');
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="img1.tgz"');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
  });

  test('bundle: not an export 404, not finished 409, outside IMGPORT_DATA or gone 404', async () => {
    h.fake.put({ id: 'imp-x', type: 'import', state: 'succeeded' });
    h.fake.put({ id: 'exp-r', type: 'export', state: 'running' });
    h.fake.put({ id: 'exp-o', type: 'export', state: 'succeeded', result: { image: 'i', path: '/etc/passwd' } });
    h.fake.put({ id: 'exp-g', type: 'export', state: 'succeeded', result: { image: 'i', path: join(h.dirs.data, 'exports', 'gone.tgz') } });
    assert.deepEqual(await errorOf(await h.call('/v1/jobs/imp-x/bundle')), {
      status: 404,
      code: 'NOT_FOUND',
      message: 'job imp-x is not an export (its type is import): it has no bundle',
    });
    assert.equal((await errorOf(await h.call('/v1/jobs/exp-r/bundle'))).status, 409);
    assert.equal((await errorOf(await h.call('/v1/jobs/exp-o/bundle'))).status, 404);
    assert.deepEqual(await errorOf(await h.call('/v1/jobs/exp-g/bundle')), {
      status: 404,
      code: 'NOT_FOUND',
      message: 'the bundle of export job exp-g is no longer on the server',
    });
  });

  test('a bug in a queue call (not a connection error) is 500 INTERNAL, never a retryable 503', async () => {
    h.fake.failWith = new TypeError("Cannot read properties of undefined (reading 'id')");
    try {
      for (const p of ['/v1/jobs', '/v1/jobs/x']) {
        const e = await errorOf(await h.call(p));
        assert.equal(e.status, 500, p);
        assert.equal(e.code, 'INTERNAL', p);
      }
    } finally {
      h.fake.failWith = undefined;
    }
  });

  test('Redis down: job routes answer 503 QUEUE_UNAVAILABLE', async () => {
    h.fake.failWith = new Error('connect ECONNREFUSED');
    try {
      for (const p of ['/v1/jobs', '/v1/jobs/x', '/v1/jobs/x/events']) {
        assert.equal((await errorOf(await h.call(p))).code, 'QUEUE_UNAVAILABLE', p);
      }
    } finally {
      h.fake.failWith = undefined;
    }
  });
});
