import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openapi } from './openapi.js';
import { errorOf, startApi, TOKEN, type Harness } from '../test/support/harness.js';

/** Every path+method in the OpenAPI document, with path parameters filled in. */
function documentedRoutes(): Array<{ method: string; path: string; open: boolean }> {
  const out = [];
  for (const [path, ops] of Object.entries(openapi.paths)) {
    for (const [method, op] of Object.entries(ops as Record<string, { security?: unknown[] }>)) {
      out.push({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'x1'), open: Array.isArray(op.security) && op.security.length === 0 });
    }
  }
  return out;
}

describe('auth', () => {
  let h: Harness;
  before(async () => {
    h = await startApi();
  });
  after(() => h.close());

  const protectedRoutes = documentedRoutes().filter((r) => !r.open);

  test('the document marks exactly /healthz and /readyz as open', () => {
    assert.deepEqual(documentedRoutes().filter((r) => r.open).map((r) => r.path).sort(), ['/healthz', '/readyz']);
    assert.ok(protectedRoutes.length >= 15);
  });

  for (const [label, authorization] of [
    ['no token', undefined],
    ['a wrong token', 'Bearer not-the-token'],
    ['a token with another scheme', `Basic ${TOKEN}`],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
  ] as const) {
    test(`401 with ${label} on every protected route, nothing enqueued`, async () => {
      for (const r of protectedRoutes) {
        const headers: Record<string, string> = { 'content-type': 'application/json', authorization: authorization ?? '' };
        const body = r.method === 'POST' ? JSON.stringify({ source: '/x', image: 'x', all: true }) : undefined;
        const res = await fetch(h.url + r.path, { method: r.method, headers, ...(body ? { body } : {}) });
        const e = await errorOf(res);
        assert.equal(e.status, 401, `${r.method} ${r.path}`);
        assert.equal(e.code, 'UNAUTHORIZED');
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="imgport"');
      }
      assert.equal(h.fake.submitted.length, 0);
    });
  }

  test('an upload without a token is refused before its body is read', async () => {
    const res = await fetch(`${h.url}/v1/imports`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(4096, 1),
    });
    assert.equal(res.status, 401);
    assert.equal(h.fake.submitted.length, 0);
    assert.deepEqual((await readdir(join(h.dirs.data, 'spool')).catch(() => [])).length, 0, 'nothing of the body was spooled');
  });

  test('unknown routes are 401 without a token and 404 NOT_FOUND with one', async () => {
    assert.equal((await fetch(`${h.url}/v2/nothing`)).status, 401);
    assert.deepEqual(await errorOf(await h.call('/v2/nothing')), { status: 404, code: 'NOT_FOUND', message: 'no route GET /v2/nothing' });
  });

  test('/healthz and /readyz answer without a token', async () => {
    const health = await fetch(`${h.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${h.url}/readyz`);
    assert.equal(ready.status, 200);
  });

  test('the right token is accepted, case-insensitive scheme', async () => {
    assert.equal((await h.call('/v1/jobs')).status, 200);
    assert.equal((await h.call('/v1/jobs', { headers: { authorization: `bearer ${TOKEN}` } })).status, 200);
  });
});

describe('auth without tokens configured', () => {
  let h: Harness;
  before(async () => {
    h = await startApi({ env: { IMGPORT_TOKENS: '' } });
  });
  after(() => h.close());

  test('every protected request is 401, and startup says why', async () => {
    assert.equal((await h.call('/v1/jobs')).status, 401);
    assert.equal((await h.call('/v1/jobs', { headers: { authorization: 'Bearer ' } })).status, 401);
    assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
    const line = h.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.startsWith('no API token'));
    assert.equal(line?.level, 50);
  });
});
