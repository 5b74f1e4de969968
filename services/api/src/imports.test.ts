import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ImportPayload } from '@imgport/jobs';
import { LINGER_MS } from './errors.js';
import { sweepSpool } from './spool.js';
import { errorOf, startApi, TOKEN, type Harness } from '../test/support/harness.js';

const LIMIT = 64 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const upload = (h: Harness, body: Buffer, query = '', type = 'application/octet-stream') =>
  h.call(`/v1/imports${query}`, { method: 'POST', headers: { 'content-type': type }, body });
const spoolFiles = async (h: Harness) => (await readdir(join(h.dirs.data, 'spool')).catch(() => [])).sort();

/** A raw request, so the test controls Content-Length, chunking and when the client gives up. */
function rawUpload(h: Harness, headers: Record<string, string | number>) {
  const req = request(`${h.url}/v1/imports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream', ...headers },
  });
  // An error before any answer (the connection reset under the client) fails the test, never hangs it.
  const response = new Promise<import('node:http').IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject)).then(async (res) => {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return { status: res.statusCode as number, headers: res.headers, body: Buffer.concat(chunks).toString() };
  });
  // A test that aborts the request never awaits the response.
  response.catch(() => undefined);
  return { req, response };
}

describe('POST /v1/imports: uploads', () => {
  let h: Harness;
  before(async () => {
    h = await startApi({ env: { IMGPORT_MAX_BUNDLE_BYTES: String(LIMIT) } });
  });
  after(() => h.close());
  afterEach(() => h.fake.submitted.splice(0));

  test('streams the body to its own <spool>/<random>.bundle and submits an import of it', async () => {
    const bytes = Buffer.from('bundle bytes '.repeat(1000));
    const res = await upload(h, bytes, '?name=img1&force=1&dryRun=false');
    assert.equal(res.status, 202);
    const body = (await res.json()) as { id: string; status: string };
    assert.deepEqual(body, { id: body.id, status: `/v1/jobs/${body.id}` });
    assert.equal(res.headers.get('location'), body.status);
    const files = await spoolFiles(h);
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^[0-9a-f-]{36}\.bundle$/);
    const path = join(h.dirs.data, 'spool', files[0]!);
    assert.deepEqual(await readFile(path), bytes);
    assert.deepEqual(h.fake.submitted, [
      {
        type: 'import',
        id: body.id,
        payload: { source: { kind: 'spool', path, sha256: sha(bytes), size: bytes.length }, name: 'img1', force: true, dryRun: false },
      },
    ]);
    await rm(path);
  });

  test('the same bytes and options give the same job while it is unfinished; one spool file per job', async () => {
    const bytes = Buffer.from('same bundle');
    const ids = [];
    for (const q of ['?name=a', '?name=a', '?name=b', '?name=a&force']) {
      const res = await upload(h, bytes, q, 'application/gzip');
      assert.equal(res.status, 202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    assert.equal(ids[0], ids[1]);
    assert.equal(new Set(ids).size, 3);
    assert.equal(h.fake.submitted.length, 3);
    const files = (await spoolFiles(h)).filter((f) => f.endsWith('.bundle'));
    assert.equal(files.length, 3, 'the duplicate upload dropped its file; each job has its own');
    const paths = h.fake.submitted.map((s) => (s.payload as { source: { path: string } }).source.path);
    assert.equal(new Set(paths).size, 3);
    for (const f of files) await rm(join(h.dirs.data, 'spool', f));
  });

  test('a resubmission whose job already finished runs again, with a spool file of its own', async () => {
    const bytes = Buffer.from('finished bundle');
    const first = (await (await upload(h, bytes)).json()) as { id: string };
    const firstPath = (h.fake.submitted[0]!.payload as { source: { path: string } }).source.path;
    h.fake.update(first.id, { state: 'succeeded' });
    await rm(firstPath); // what the worker does when done
    const again = (await (await upload(h, bytes)).json()) as { id: string };
    assert.equal(again.id, first.id);
    assert.equal(h.fake.submitted.length, 2, 'submitted again');
    const secondPath = (h.fake.submitted[1]!.payload as { source: { path: string } }).source.path;
    assert.deepEqual(await readFile(secondPath), bytes);
    await rm(secondPath);
  });

  test('.part files an interrupted upload left are swept once stale; fresh ones are kept', async () => {
    const dir = join(h.dirs.data, 'spool');
    const { utimes } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'old.part'), 'x');
    await writeFile(join(dir, 'new.part'), 'y');
    const old = new Date(Date.now() - 3 * 3600 * 1000);
    await utimes(join(dir, 'old.part'), old, old);
    assert.deepEqual(await sweepSpool(dir, 3600 * 1000), [join(dir, 'old.part')]);
    assert.ok((await spoolFiles(h)).includes('new.part'));
    await rm(join(dir, 'new.part'));
  });

  test('over the limit while streaming: 413 and the partial file removed', async () => {
    const { req, response } = rawUpload(h, { 'transfer-encoding': 'chunked' });
    for (let i = 0; i < 10 && !req.destroyed; i++) {
      req.write(Buffer.alloc(16 * 1024, i));
      await sleep(5);
    }
    req.end();
    const res = await response;
    assert.equal(res.status, 413);
    assert.equal(JSON.parse(res.body).error.code, 'LIMIT_EXCEEDED');
    assert.match(JSON.parse(res.body).error.message, /IMGPORT_MAX_BUNDLE_BYTES/);
    assert.deepEqual((await spoolFiles(h)).filter((f) => f.endsWith('.part')), []);
    assert.equal(h.fake.submitted.length, 0);
  });

  test('a Content-Length over the limit is refused before the body is read; a client that goes on sending is cut after a while', async () => {
    const { req, response } = rawUpload(h, { 'content-length': LIMIT + 1 });
    const closed = new Promise<number>((resolve) => req.on('socket', (s) => s.on('close', () => resolve(Date.now()))));
    req.write(Buffer.alloc(10));
    const res = await response;
    const answered = Date.now();
    assert.equal(res.status, 413);
    assert.equal(JSON.parse(res.body).error.code, 'LIMIT_EXCEEDED');
    assert.deepEqual((await spoolFiles(h)).filter((f) => f.endsWith('.part')), []);
    // The client neither finishes nor stops: the server drains it for LINGER_MS, then closes.
    const feeding = setInterval(() => req.write(Buffer.alloc(1024)), 20);
    try {
      const at = await closed;
      assert.ok(at - answered < LINGER_MS + 5000, `closed ${at - answered} ms after the answer`);
    } finally {
      clearInterval(feeding);
    }
  });

  test('an upload refused mid-stream while the client keeps sending still gets its answer (lingering close), many times over', async () => {
    for (let round = 0; round < 20; round++) {
      const { req, response } = rawUpload(h, { 'transfer-encoding': 'chunked' });
      let answered = false;
      void response.then(() => (answered = true), () => undefined);
      for (let i = 0; i < 40 && !answered && !req.destroyed; i++) {
        req.write(Buffer.alloc(16 * 1024, i));
        await sleep(1);
      }
      const res = await response;
      assert.equal(res.status, 413, `round ${round}`);
      req.destroy();
    }
    assert.equal(h.fake.submitted.length, 0);
  });

  test('an upload the client aborts leaves no partial file and no job', async () => {
    const { req } = rawUpload(h, { 'content-length': LIMIT - 1 });
    req.write(Buffer.alloc(8192, 7));
    for (let i = 0; i < 100 && !(await spoolFiles(h)).some((f) => f.endsWith('.part')); i++) await sleep(10);
    assert.ok((await spoolFiles(h)).some((f) => f.endsWith('.part')), 'the upload started');
    req.destroy();
    for (let i = 0; i < 100 && (await spoolFiles(h)).some((f) => f.endsWith('.part')); i++) await sleep(10);
    assert.deepEqual((await spoolFiles(h)).filter((f) => f.endsWith('.part')), []);
    assert.equal(h.fake.submitted.length, 0);
    // A client going away is not a server error.
    assert.deepEqual(h.logs.filter((l) => l.includes('"level":50')), []);
  });

  test('bad query options and content types are 400 naming the problem', async () => {
    assert.deepEqual(await errorOf(await upload(h, Buffer.from('x'), '?name=../etc')), {
      status: 400,
      code: 'BAD_REQUEST',
      message: 'query.name: must be 1-128 characters of A-Z a-z 0-9 . _ + - (not "." or "..")',
    });
    assert.match((await errorOf(await upload(h, Buffer.from('x'), '?forse=1'))).message, /^query: Unrecognized key: "forse"/);
    assert.match((await errorOf(await upload(h, Buffer.from('x'), '', 'text/plain'))).message, /^Content-Type text\/plain: send the bundle as/);
    assert.match((await errorOf(await upload(h, Buffer.alloc(0)))).message, /empty upload/);
    assert.equal(h.fake.submitted.length, 0);
  });

  test('Redis down: 503 QUEUE_UNAVAILABLE and the spooled file is not left behind', async () => {
    h.fake.failWith = new Error('Connection is closed.');
    try {
      const bytes = Buffer.from('while redis is down');
      const e = await errorOf(await upload(h, bytes));
      assert.deepEqual(e, { status: 503, code: 'QUEUE_UNAVAILABLE', message: 'job queue unavailable: Connection is closed.' });
      assert.deepEqual((await spoolFiles(h)).filter((f) => f.endsWith('.bundle')), []);
    } finally {
      h.fake.failWith = undefined;
    }
  });
});

describe('POST /v1/imports: JSON sources', () => {
  let h: Harness;
  const post = (body: unknown) => h.call('/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  before(async () => {
    h = await startApi();
    await writeFile(join(h.dirs.sources, 'a.tgz'), 'a');
    await mkdir(join(h.dirs.base, 'elsewhere'));
    await writeFile(join(h.dirs.base, 'elsewhere', 'b.tgz'), 'b');
    await symlink(join(h.dirs.base, 'elsewhere', 'b.tgz'), join(h.dirs.sources, 'link.tgz'));
  });
  after(() => h.close());
  afterEach(() => h.fake.submitted.splice(0));

  test('a path inside IMGPORT_SOURCE_DIRS is submitted as a path source', async () => {
    const res = await post({ source: join(h.dirs.sources, 'a.tgz'), name: 'n1', dryRun: true });
    assert.equal(res.status, 202);
    const payload = h.fake.submitted[0]?.payload as ImportPayload;
    assert.deepEqual(payload, { source: { kind: 'path', path: join(h.dirs.sources, 'a.tgz') }, name: 'n1', dryRun: true });
    const again = await post({ source: join(h.dirs.sources, 'a.tgz'), name: 'n1', dryRun: true });
    assert.equal(((await again.json()) as { id: string }).id, ((await res.json()) as { id: string }).id);
  });

  test('a path outside, or a link leading outside, is 400 naming the path and the setting', async () => {
    for (const source of [join(h.dirs.base, 'elsewhere', 'b.tgz'), join(h.dirs.sources, '..', 'elsewhere', 'b.tgz'), join(h.dirs.sources, 'link.tgz')]) {
      assert.deepEqual(await errorOf(await post({ source })), {
        status: 400,
        code: 'BAD_REQUEST',
        message: `body.source: ${source} is outside IMGPORT_SOURCE_DIRS (${h.dirs.sources})`,
      });
    }
    // Whether a file exists outside the directories is not revealed.
    const missingOutside = await errorOf(await post({ source: '/no/such/file.tgz' }));
    assert.match(missingOutside.message, /is outside IMGPORT_SOURCE_DIRS/);
    assert.match((await errorOf(await post({ source: join(h.dirs.sources, 'nope.tgz') }))).message, /is not a file on the server$/);
    assert.match((await errorOf(await post({ source: 'relative.tgz' }))).message, /neither an absolute path nor an http\(s\):\/\/ URL/);
    assert.equal(h.fake.submitted.length, 0);
  });

  test('an http(s) URL is handed to the worker', async () => {
    assert.equal((await post({ source: 'https://example.org/b/img.tgz', profile: 'compute' })).status, 202);
    assert.deepEqual(h.fake.submitted[0]?.payload, { source: { kind: 'url', url: 'https://example.org/b/img.tgz' }, profile: 'compute' });
    assert.match((await errorOf(await post({ source: 'https://u:p@example.org/x' }))).message, /credentials/);
  });

  test('a URL outside IMGPORT_URL_ALLOW is refused (no blind SSRF into the network)', async () => {
    for (const source of ['http://127.0.0.1:6379/', 'http://169.254.169.254/latest/meta-data/', 'https://example.org/bx/img.tgz', 'https://example.org.evil.test/b/img.tgz']) {
      const e = await errorOf(await post({ source }));
      assert.equal(e.status, 400, source);
      assert.match(e.message, /is not under an allowed URL prefix \(IMGPORT_URL_ALLOW/, source);
    }
    assert.equal(h.fake.submitted.length, 0);
  });

  test('body errors name the field; bad JSON is 400', async () => {
    assert.deepEqual(await errorOf(await post({ source: '/x', force: 'yes' })), {
      status: 400,
      code: 'BAD_REQUEST',
      message: 'body.force: Invalid input: expected boolean, received string',
    });
    assert.match((await errorOf(await post({}))).message, /^body\.source: /);
    const bad = await h.call('/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"source":' });
    assert.deepEqual({ ...(await errorOf(bad)), message: '' }, { status: 400, code: 'BAD_REQUEST', message: '' });
  });
});

describe('POST /v1/imports: no source directories configured', () => {
  let h: Harness;
  before(async () => {
    h = await startApi({ env: { IMGPORT_SOURCE_DIRS: '', IMGPORT_URL_ALLOW: '' } });
  });

  test('without IMGPORT_URL_ALLOW every URL is refused, saying the setting is empty', async () => {
    const res = await h.call('/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'https://example.org/b/img.tgz' }) });
    assert.match((await errorOf(res)).message, /URL sources are not accepted: IMGPORT_URL_ALLOW is empty/);
  });
  after(() => h.close());

  test('every path is refused, saying the setting is empty', async () => {
    const res = await h.call('/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: '/tmp/x.tgz' }) });
    assert.match((await errorOf(res)).message, /IMGPORT_SOURCE_DIRS is empty/);
  });
});
