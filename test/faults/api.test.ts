/**
 * The API under faults: killed -9 during an upload (no job, the partial file swept once stale,
 * the upload again succeeds); 200 uploads of one bundle under 200 profiles.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, utimesSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeNativeBundle } from '../support/bundles.js';
import { figure, leftovers, waitFor, world, type World } from './harness.js';
import { manyUploads } from './uploads-case.js';

describe('the API under faults', () => {
  let w: World;
  before(async () => {
    w = await world('api');
  });
  after(() => w.close());

  test('killed -9 during an upload: no job; the partial file is swept once stale; the upload again succeeds', async () => {
    const bytes = readFileSync(await makeNativeBundle(w.dir, { name: 'cut', rootFiles: 10 }));
    const api = await w.startApi();
    const spool = join(w.dataDir, 'spool');
    const req = request(`${api.base}/v1/imports`, { method: 'POST', headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/gzip', 'transfer-encoding': 'chunked' } });
    req.on('error', () => undefined);
    req.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
    await waitFor(() => readdirSync(spool).some((f) => f.endsWith('.part')), 10_000, 'the upload to start');
    await api.proc.kill9();
    const parts = readdirSync(spool).filter((f) => f.endsWith('.part'));
    assert.equal(parts.length, 1, 'the killed API left its partial upload');
    assert.equal((await w.queue.list()).total, 0, 'and no job');
    const old = new Date(Date.now() - 2 * 3600 * 1000);
    utimesSync(join(spool, parts[0]!), old, old);
    const again = await w.startApi();
    await waitFor(() => !readdirSync(spool).some((f) => f.endsWith('.part')), 10_000, 'the stale .part to be swept');
    const worker = w.startWorker({ host: 'host-a' });
    const r = await fetch(`${again.base}/v1/imports`, { method: 'POST', headers: { authorization: `Bearer ${again.token}`, 'content-type': 'application/gzip' }, body: bytes });
    assert.equal(r.status, 202);
    const done = await w.settled(((await r.json()) as { id: string }).id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    await waitFor(() => leftovers(w).length === 0, 10_000, `nothing left (${leftovers(w).join(', ')})`);
    figure('API killed during an upload', { partialFilesLeftAfterSweep: 0, jobsCreatedByTheCutUpload: 0 });
    await Promise.all([worker.stop(), again.proc.stop()]);
  });

  test('200 uploads of one bundle under 200 profiles, two workers: all succeed, nothing left', () => manyUploads(w, 200));
});
