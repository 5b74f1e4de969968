import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { errorOf, startApi, TOKEN, type Harness } from '../test/support/harness.js';

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  req?: { headers: Record<string, string> };
}

describe('request ids, logs and errors', () => {
  let h: Harness;
  before(async () => {
    h = await startApi();
  });
  after(() => h.close());

  test('X-Request-Id is echoed, or generated when absent or unusable', async () => {
    const given = await h.call('/v1/jobs', { headers: { 'x-request-id': 'abc-123' } });
    assert.equal(given.headers.get('x-request-id'), 'abc-123');
    const generated = (await h.call('/v1/jobs')).headers.get('x-request-id');
    assert.match(generated ?? '', /^[0-9a-f-]{36}$/);
    const unusable = (await h.call('/v1/jobs', { headers: { 'x-request-id': 'a b\u00e9"{}' } })).headers.get('x-request-id');
    assert.match(unusable ?? '', /^[0-9a-f-]{36}$/);
    assert.ok((await fetch(`${h.url}/healthz`)).headers.get('x-request-id'));
  });

  test('each request logs one line under its id, and no line ever holds a token', async () => {
    await h.call('/v1/jobs/none', { headers: { 'x-request-id': 'req-404' } });
    await fetch(`${h.url}/v1/jobs`, { headers: { authorization: 'Bearer wrong-secret-token', 'x-request-id': 'req-401', cookie: 's=cookie-secret' } });
    await h.call('/v1/exports', { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-400' }, body: JSON.stringify({ image: 'x', token: TOKEN }) });
    const lines = h.logs.map((l) => JSON.parse(l) as Line);
    const byId = (id: string) => lines.filter((l) => l.reqId === id);
    assert.deepEqual(byId('req-404').map((l) => [l.level, l.msg]), [[40, 'request completed']]);
    assert.equal(byId('req-401')[0]?.req?.headers.authorization, '[redacted]');
    assert.equal(byId('req-401')[0]?.req?.headers.cookie, '[redacted]');
    const all = h.logs.join('\n');
    for (const secret of [TOKEN, 'wrong-secret-token', 'cookie-secret']) assert.ok(!all.includes(secret), secret);
  });

  test('an unexpected failure is 500 INTERNAL naming the request, details only in the log', async () => {
    const original = h.tables.getImage.bind(h.tables);
    h.tables.getImage = async () => {
      throw new TypeError('secret internals at /srv/x');
    };
    try {
      const res = await h.call('/v1/images/x', { headers: { 'x-request-id': 'req-500' } });
      assert.deepEqual(await errorOf(res), { status: 500, code: 'INTERNAL', message: 'internal error (request req-500)' });
      assert.ok(h.logs.some((l) => l.includes('req-500') && l.includes('secret internals') && l.includes('"level":50')));
    } finally {
      h.tables.getImage = original;
    }
  });
});

describe('/metrics and /readyz', () => {
  let h: Harness;
  before(async () => {
    h = await startApi();
  });
  after(() => h.close());

  test('/metrics: defaults, request durations by route, uploads, submissions and jobs by state', async () => {
    await h.call('/v1/jobs/nope');
    await h.call('/v1/imports?name=m1', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(1000, 1) });
    h.fake.put({ id: 'r1', type: 'export', state: 'running' });
    const res = await h.call('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    for (const line of [
      'imgport_http_request_duration_seconds_count{method="GET",route="/v1/jobs/:id",status="404"} 1',
      'imgport_http_request_duration_seconds_count{method="POST",route="/v1/imports",status="202"} 1',
      'imgport_upload_bytes_total 1000',
      'imgport_jobs_submitted_total{type="import"} 1',
      'imgport_jobs{state="queued"} 1',
      'imgport_jobs{state="running"} 1',
      'imgport_jobs{state="failed"} 0',
    ]) {
      assert.ok(text.includes(line), line);
    }
    assert.match(text, /^process_cpu_user_seconds_total /m);
  });

  test('/readyz: 200 with every check when Redis, the database and the spool are fine', async () => {
    const res = await fetch(`${h.url}/readyz`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; checks: Record<string, { ok: boolean }> };
    assert.equal(body.status, 'ready');
    assert.deepEqual(Object.entries(body.checks).map(([k, v]) => [k, v.ok]), [['redis', true], ['db', true], ['spool', true]]);
  });
});

describe('/readyz when things are down', () => {
  let h: Harness;
  before(async () => {
    h = await startApi({
      deps: {
        redis: { ping: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')) },
        options: { minSpoolFreeBytes: Number.MAX_SAFE_INTEGER },
      },
    });
  });
  after(() => h.close());

  test('503 naming each failed check', async () => {
    await h.tables.close();
    const res = await fetch(`${h.url}/readyz`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { status: string; checks: Record<string, { ok: boolean; message?: string }> };
    assert.equal(body.status, 'unready');
    assert.deepEqual(body.checks.redis, { ok: false, message: 'connect ECONNREFUSED 127.0.0.1:6379' });
    assert.equal(body.checks.db?.ok, false);
    assert.equal(body.checks.spool?.ok, false);
    assert.match(body.checks.spool?.message ?? '', /bytes free in the spool, below/);
    assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
  });

  test('503 while shutting down', async () => {
    h.closing.abort();
    assert.equal(((await (await fetch(`${h.url}/readyz`)).json()) as { status: string }).status, 'shutting down');
  });
});
