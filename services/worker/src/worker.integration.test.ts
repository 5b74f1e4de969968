/**
 * The worker in-process against the real Redis, SQLite tables and a temp install root: each job
 * type end to end, error codes, retries.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { ImportPayload } from '@imgport/jobs';
import { ImgportError } from '@imgport/runtime';
import type { TableStore } from '@imgport/tables';
import { makeNativeBundle } from '../../../test/support/bundles.js';
import { HANDLERS } from './handlers/index.js';
import { startHarness, type Harness } from '../test/support/harness.js';
import { assertHandlers } from './worker.js';

/** Puts a bundle in the spool as the API does with an upload. */
function spool(h: Harness, bundle: string): ImportPayload['source'] {
  const data = readFileSync(bundle);
  mkdirSync(join(h.dataDir, 'spool'), { recursive: true });
  const path = join(h.dataDir, 'spool', `${Math.random().toString(16).slice(2)}.tgz`);
  writeFileSync(path, data);
  return { kind: 'spool', path, sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
}

/** The table store, failing its first getImage with DB_UNAVAILABLE when armed. */
function flaky(t: TableStore, armed: { once: boolean }): TableStore {
  return new Proxy(t, {
    get(target, prop, receiver) {
      if (prop === 'getImage' && armed.once) {
        return async () => {
          armed.once = false;
          throw new ImgportError('DB_UNAVAILABLE', 'database sqlite:test unavailable: SQLITE_BUSY');
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('worker', () => {
  let h: Harness;
  const armed = { once: false };
  const rootimg = (profile: string) => join(h.installRoot, 'netboot/rhels8.5.0/x86_64', profile, 'rootimg');

  before(async () => {
    h = await startHarness({ tables: (t) => flaky(t, armed) });
  });
  after(async () => {
    await h.close();
  });

  test('an import from the spool: rows and files in place, progress recorded, the upload removed', async () => {
    const source = spool(h, await makeNativeBundle(h.dir, { name: 'w-a', profile: 'wa' }));
    const { id } = await h.jobs.submit('import', { source });
    const done = await h.settled(id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.attempts, 1);
    const result = done.result as { name: string; method: string; bytes: number; paths: string[] };
    assert.deepEqual([result.name, result.method], ['w-a', 'netboot']);
    assert.equal(done.image, 'w-a');
    assert.deepEqual(done.progress, { phase: 'done', percent: 100, bytesDone: result.bytes, bytesTotal: result.bytes });
    const rec = await h.tables.getImage('w-a');
    assert.equal(rec.osimage?.provmethod, 'netboot');
    assert.equal(rec.linuximage?.rootimgdir, join(h.installRoot, 'netboot/rhels8.5.0/x86_64/wa'));
    assert.equal(readFileSync(join(rootimg('wa'), 'etc/hostname'), 'utf8'), 'node01\n');
    assert.ok(result.paths.includes(join(h.installRoot, 'netboot/rhels8.5.0/x86_64/wa/kernel')));
    // BullMQ kept the last throttled progress report of the run.
    const job = await h.jobs.queue.getJob(id);
    const live = job?.progress as { phase: string; bytesTotal: number };
    assert.ok(['stage', 'plan', 'commit', 'done'].includes(live.phase), live.phase);
    assert.equal(live.bytesTotal, source.kind === 'spool' ? source.size : -1);
    // The upload goes once the job is over for good, just after its record says so.
    await h.waitFor(async () => !existsSync(source.kind === 'spool' ? source.path : ''), 'the spooled upload to be removed', 5000);
  });

  test('an invalid bundle fails at once, without retry, with its error code', async () => {
    const bundle = readFileSync(await makeNativeBundle(h.dir, { name: 'w-bad', profile: 'bad' }));
    const broken = join(h.dir, 'broken.tgz');
    writeFileSync(broken, bundle.subarray(0, bundle.length - 300));
    const { id } = await h.jobs.submit('import', { source: spool(h, broken) });
    const done = await h.settled(id);
    assert.equal(done.state, 'failed');
    assert.equal(done.error?.code, 'BUNDLE_INVALID');
    assert.equal(done.attempts, 1);
    // The durable record settles before BullMQ moves the job to failed: wait for BullMQ's side.
    const job = await bullSettled(h, id);
    assert.equal(job?.attemptsMade, 1);
    assert.match(job?.failedReason ?? '', /^BUNDLE_INVALID: /);
    assert.deepEqual(await h.tables.getImage('w-bad'), { litefile: [] });
    assert.equal(existsSync(join(h.installRoot, 'netboot/rhels8.5.0/x86_64/bad')), false);
  });

  test('a transient failure (the database unavailable once) is retried and succeeds', async () => {
    armed.once = true;
    const { id } = await h.jobs.submit('import', { source: spool(h, await makeNativeBundle(h.dir, { name: 'w-retry', profile: 'retry' })) });
    const done = await h.settled(id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(armed.once, false);
    assert.equal(done.attempts, 2);
    assert.equal(done.error, undefined);
    assert.ok((await h.tables.getImage('w-retry')).osimage);
  });

  test('a path outside the source directories is refused; one inside is imported', async () => {
    const bundle = await makeNativeBundle(h.dir, { name: 'w-path', profile: 'path' });
    const outside = await h.settled((await h.jobs.submit('import', { source: { kind: 'path', path: bundle } })).id);
    assert.equal(outside.state, 'failed');
    assert.deepEqual(outside.error, { code: 'UNSAFE_PATH', message: `${bundle} is not inside a source directory (IMGPORT_SOURCE_DIRS)` });
    const inside = join(h.sourceDir, 'w-path.tgz');
    copyFileSync(bundle, inside);
    const done = await h.settled((await h.jobs.submit('import', { source: { kind: 'path', path: inside } })).id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.ok(existsSync(inside), 'a file on shared storage is not ours to remove');
  });

  test('a URL job enqueued without the API is held to IMGPORT_URL_ALLOW, on every redirect too', async () => {
    const bundle = readFileSync(await makeNativeBundle(h.dir, { name: 'w-url', profile: 'url' }));
    const asked: string[] = [];
    const server = createServer((req, res) => {
      asked.push(req.url ?? '');
      if (req.url === '/ok/hop') res.writeHead(302, { location: '/private/b.tgz' }).end();
      else res.writeHead(200, { 'content-length': bundle.length }).end(bundle);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const refused = await h.settled((await h.jobs.submit('import', { source: { kind: 'url', url: `${base}/private/b.tgz` } })).id);
      assert.equal(refused.state, 'failed');
      assert.equal(refused.error?.code, 'UNSAFE_PATH');
      assert.deepEqual(asked, [], 'nothing was fetched');
      h.deps.urlAllow.push(`${base}/ok/`);
      const redirected = await h.settled((await h.jobs.submit('import', { source: { kind: 'url', url: `${base}/ok/hop` } })).id);
      assert.equal(redirected.state, 'failed');
      assert.equal(redirected.error?.code, 'UNSAFE_PATH');
      assert.match(redirected.error?.message ?? '', /redirected from/);
      assert.deepEqual(asked, ['/ok/hop'], 'the redirect target was not fetched');
      const done = await h.settled((await h.jobs.submit('import', { source: { kind: 'url', url: `${base}/ok/b.tgz` } })).id);
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    } finally {
      h.deps.urlAllow.length = 0;
      server.close();
    }
  });

  test('an export writes its bundle under exports/, named by the job', async () => {
    const { id } = await h.jobs.submit('export', { image: 'w-a' });
    const done = await h.settled(id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const result = done.result as { bundle: string; path: string; image: string };
    const expected = join(h.dataDir, 'exports', `${id}.tgz`);
    assert.deepEqual([result.bundle, result.path, result.image], [expected, expected, 'w-a']);
    const listing = execFileSync('tar', ['tzf', expected], { encoding: 'utf8' }).split('\n');
    assert.ok(listing.includes('manifest.cfg') && listing.includes('SHA256SUMS') && listing.includes('rootimg.cpio.gz'), listing.join(' '));
    const missing = await h.settled((await h.jobs.submit('export', { image: 'no-such-image' })).id);
    assert.equal(missing.error?.code, 'IMAGE_NOT_FOUND');
    assert.equal(missing.attempts, 1);
  });

  test('a bulk snapshot of three images, one missing: the parent succeeds and lists the failure', async () => {
    const { id } = await h.jobs.submitSnapshots({ images: ['w-a', 'no-such-image', 'w-retry'], label: 'nightly' });
    const done = await h.settled(id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const result = done.result as { snapshots: Array<{ image: string; label: string; path: string }>; failed: Array<{ image: string; error: { code: string } }> };
    assert.deepEqual(result.snapshots.map((s) => [s.image, s.label]), [['w-a', 'nightly'], ['w-retry', 'nightly']]);
    // Bulk snapshots go to the deduplicated store: `path` is the snapshot's ref.
    for (const s of result.snapshots) assert.ok(existsSync(s.path) && s.path.startsWith(join(h.dataDir, 'store', 'refs')));
    assert.deepEqual(result.failed.map((f) => [f.image, f.error.code]), [['no-such-image', 'IMAGE_NOT_FOUND']]);
    assert.deepEqual(done.children?.map((c) => [c.image, c.state]), [['w-a', 'succeeded'], ['no-such-image', 'failed'], ['w-retry', 'succeeded']]);
  });

  test('a bulk snapshot where every image fails fails itself', async () => {
    const { id } = await h.jobs.submitSnapshots({ images: ['gone-1', 'gone-2'] });
    const done = await h.settled(id);
    assert.equal(done.state, 'failed');
    assert.equal(done.error?.code, 'IMAGE_NOT_FOUND');
    assert.match(done.error?.message ?? '', /^every snapshot failed: gone-1: IMAGE_NOT_FOUND: .*; gone-2: IMAGE_NOT_FOUND: /);
  });

  test('startup fails when a job type of the catalog has no handler', () => {
    assert.doesNotThrow(() => assertHandlers(HANDLERS));
    const { export: _dropped, ...partial } = HANDLERS;
    assert.throws(() => assertHandlers(partial), { code: 'INTERNAL', message: 'no handler for job type export' });
  });
});

/** The BullMQ job once BullMQ itself has finished it (its state lags the durable record a little). */
async function bullSettled(h: Harness, id: string, timeoutMs = 10_000) {
  for (const start = Date.now(); Date.now() - start < timeoutMs; await sleep(20)) {
    const job = await h.jobs.queue.getJob(id);
    const state = job ? await job.getState() : 'unknown';
    if (state === 'failed' || state === 'completed') return job;
  }
  throw new Error(`job ${id} did not finish in BullMQ within ${timeoutMs} ms`);
}
