/**
 * The API and two workers as real processes against the real Redis and MariaDB, driven over HTTP
 * the way cluster automation drives them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openTableStore, type TableStore } from '@imgport/tables';
import { makeNativeBundle } from '../support/bundles.js';
import { api, freePort, settled, startCluster, type Cluster, job, waitFor } from './services-helpers.js';

let c: Cluster & { logs: string[] };
let tables: TableStore;

async function upload(path: string, query = ''): Promise<{ status: number; body: any }> {
  const r = await api(c, `/v1/imports${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: readFileSync(path),
  });
  return { status: r.status, body: await r.json() };
}

async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const r = await api(c, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

describe('services end to end', () => {
  // The one origin the API may fetch bundles from (IMGPORT_URL_ALLOW): a test's file server.
  let urlPort: number;
  before(async () => {
    urlPort = await freePort();
    c = await startCluster(2, { IMGPORT_URL_ALLOW: `http://127.0.0.1:${urlPort}/` });
    tables = await openTableStore(c.dbUrl, { create: true });
  });
  after(async () => {
    await tables?.close();
    await c?.stop();
  });

  test('no token: 401 and nothing is enqueued', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'unauth' });
    const r = await api(c, '/v1/imports', { method: 'POST', headers: { 'content-type': 'application/gzip' }, body: readFileSync(bundle) }, null);
    assert.equal(r.status, 401);
    assert.equal(((await r.json()) as any).error.code, 'UNAUTHORIZED');
    const wrong = await api(c, '/v1/jobs', {}, 'wrong-token');
    assert.equal(wrong.status, 401);
    const list = (await (await api(c, '/v1/jobs')).json()) as any;
    assert.equal(list.total, 0);
  });

  test('upload import succeeds with rows and files in place; resubmission returns the same job', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'svc-a', profile: 'a' });
    const first = await upload(bundle);
    assert.equal(first.status, 202);
    assert.equal(first.body.status, `/v1/jobs/${first.body.id}`);
    const again = await upload(bundle);
    assert.equal(again.body.id, first.body.id);
    const done = await settled(c, first.body.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const rec = await tables.getImage('svc-a');
    assert.equal(rec.linuximage?.rootimgdir, join(c.installRoot, 'netboot/rhels8.5.0/x86_64/a'));
    assert.ok(existsSync(join(c.installRoot, 'netboot/rhels8.5.0/x86_64/a/rootimg/etc/hostname')));
  });

  test('import by path from a source directory', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'svc-path', profile: 'path' });
    const inside = join(c.sourceDir, 'svc-path.tgz');
    copyFileSync(bundle, inside);
    const r = await post('/v1/imports', { source: inside });
    assert.equal(r.status, 202);
    assert.equal((await settled(c, r.body.id)).state, 'succeeded');
    const outside = await post('/v1/imports', { source: bundle });
    assert.equal(outside.status, 400);
  });

  test('an invalid bundle fails at once with its error code, without retries', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'svc-bad', profile: 'bad' });
    const buf = readFileSync(bundle);
    const broken = join(c.dir, 'broken.tgz');
    writeFileSync(broken, buf.subarray(0, buf.length - 300));
    const r = await upload(broken);
    const done = await settled(c, r.body.id);
    assert.equal(done.state, 'failed');
    assert.equal(done.error?.code, 'BUNDLE_INVALID');
    assert.equal(done.attempts, 1);
    assert.deepEqual(await tables.getImage('svc-bad'), { litefile: [] });
  });

  test('a transient failure (the bundle URL answers 503 once) is retried and succeeds', async () => {
    const bundle = readFileSync(await makeNativeBundle(c.dir, { name: 'svc-retry', profile: 'retry' }));
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      if (hits === 1) {
        res.writeHead(503).end('busy');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': bundle.length }).end(bundle);
    });
    await new Promise<void>((r) => server.listen(urlPort, '127.0.0.1', () => r()));
    try {
      const r = await post('/v1/imports', { source: `http://127.0.0.1:${urlPort}/svc-retry.tgz` });
      const done = await settled(c, r.body.id, 90_000);
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      assert.ok(done.attempts >= 2, `attempts ${done.attempts}`);
      assert.ok(hits >= 2);
    } finally {
      server.close();
    }
  });

  test('export, download, and the bundle verifies with sha256sum -c', async () => {
    const r = await post('/v1/exports', { image: 'svc-a' });
    assert.equal(r.status, 202);
    assert.equal((await settled(c, r.body.id)).state, 'succeeded');
    const dl = await api(c, `/v1/jobs/${r.body.id}/bundle`);
    assert.equal(dl.status, 200);
    const out = join(c.dir, 'dl');
    mkdirSync(out);
    writeFileSync(join(out, 'b.tgz'), Buffer.from(await dl.arrayBuffer()));
    execFileSync('tar', ['xzf', 'b.tgz'], { cwd: out });
    assert.match(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out, encoding: 'utf8' }), /rootimg\.cpio\.gz: OK/);
    const missing = await post('/v1/exports', { image: 'no-such-image' });
    assert.equal(missing.status, 404);
  });

  test('bulk snapshot of several images: one parent, one child per image', async () => {
    const r = await post('/v1/snapshots', { images: ['svc-a', 'svc-path'], label: 'nightly' });
    assert.equal(r.status, 202);
    const done = await settled(c, r.body.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.deepEqual(done.children?.map((ch) => [ch.image, ch.state]).sort(), [['svc-a', 'succeeded'], ['svc-path', 'succeeded']]);
    const snaps = (await (await api(c, '/v1/snapshots?image=svc-a')).json()) as any;
    assert.ok((Array.isArray(snaps) ? snaps : snaps.snapshots).some((s: any) => s.label === 'nightly'));
  });

  test('jobs on the same image serialize and both end correct', async () => {
    const b1 = await makeNativeBundle(c.dir, { name: 'svc-same', profile: 'same', lines: ['osimage.comments one'] });
    const b2 = await makeNativeBundle(c.dir, { name: 'svc-same', profile: 'same', lines: ['osimage.comments two'] });
    const [r1, r2] = await Promise.all([upload(b1, '?force=true'), upload(b2, '?force=true')]);
    const [d1, d2] = await Promise.all([settled(c, r1.body.id), settled(c, r2.body.id)]);
    assert.deepEqual([d1.state, d2.state], ['succeeded', 'succeeded'], JSON.stringify([d1.error, d2.error]));
    const comments = (await tables.getImage('svc-same')).osimage?.comments;
    assert.ok(comments === 'one' || comments === 'two');
    assert.ok(existsSync(join(c.installRoot, 'netboot/rhels8.5.0/x86_64/same/rootimg/etc/hostname')));
  });

  test('cancel of a queued or running import: cancelled, and the image does not exist', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'svc-cancel', profile: 'cancel' });
    const r = await upload(bundle);
    const del = await api(c, `/v1/jobs/${r.body.id}`, { method: 'DELETE' });
    assert.ok([200, 409].includes(del.status), `DELETE answered ${del.status}`);
    const done = await settled(c, r.body.id);
    if (del.status === 200) {
      assert.equal(done.state, 'cancelled');
      assert.deepEqual(await tables.getImage('svc-cancel'), { litefile: [] });
    } else assert.equal(done.state, 'succeeded', 'a job that finished first cannot be cancelled');
    assert.equal((await api(c, '/v1/jobs/imp-doesnotexist', { method: 'DELETE' })).status, 404);
  });

  test('a worker killed with SIGKILL mid-import: the job is picked up again and ends correct', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'svc-kill', profile: 'kill', rootFiles: 3000 });
    const r = await upload(bundle);
    await waitFor(async () => (await job(c, r.body.id)).state === 'running', 30_000, 'the import to start', c.logs);
    for (const w of c.workers) w.kill('SIGKILL');
    c.workers.length = 0;
    c.startWorker();
    const done = await settled(c, r.body.id, 120_000);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const rec = await tables.getImage('svc-kill');
    assert.ok(rec.osimage && rec.linuximage);
    const tree = join(c.installRoot, 'netboot/rhels8.5.0/x86_64/kill/rootimg/usr/lib');
    assert.ok(existsSync(join(tree, 'lib2999.so')), 'the whole tree is there');
  });
});
