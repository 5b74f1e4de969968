import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { NO_PROGRESS, openJobRecords, type JobRecords } from './records.js';
import { dropMysql, freshMysqlUrl } from '../test/support/servers.js';

const BACKENDS = [
  { name: 'sqlite', url: (dir: string) => `sqlite:${join(dir, 'xcat')}`, drop: async () => undefined },
  { name: 'mysql', url: () => freshMysqlUrl(), drop: dropMysql },
];

for (const backend of BACKENDS) {
  describe(`job records on ${backend.name}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgport-records-'));
    const url = backend.url(dir);
    let records: JobRecords;

    before(async () => {
      // The database (or the SQLite directory) does not exist yet: the records make it.
      records = await openJobRecords(url);
    });
    after(async () => {
      await records.close();
      await backend.drop(url);
      rmSync(dir, { recursive: true, force: true });
    });

    test('lives in its own table (its own file on SQLite), created when missing', async () => {
      assert.equal(records.kind, backend.name);
      if (backend.name === 'sqlite') assert.ok(existsSync(join(dir, 'xcat', 'imgport_jobs.sqlite')));
      // Opening again finds the table.
      const again = await openJobRecords(url);
      await again.ping();
      await again.close();
    });

    test('insert and get: the whole record; a second insert of the id changes nothing', async () => {
      const payload = { source: { kind: 'url', url: 'https://x/b.tgz' }, name: 'img-a' };
      assert.equal(await records.insert({ id: 'imp-1', type: 'import', payload, image: 'img-a' }), true);
      const rec = await records.get('imp-1');
      assert.ok(rec);
      assert.match(rec.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.deepEqual(rec, { id: 'imp-1', type: 'import', state: 'queued', image: 'img-a', payload, progress: NO_PROGRESS, attempts: 0, createdAt: rec.createdAt, updatedAt: rec.createdAt });
      assert.equal(await records.insert({ id: 'imp-1', type: 'export', payload: {} }), false);
      assert.equal((await records.get('imp-1'))?.type, 'import');
      assert.equal(await records.get('nope'), undefined);
    });

    test('update: fields, JSON values, null clears, onlyIf guards the state', async () => {
      await records.insert({ id: 'exp-1', type: 'export', payload: { image: 'a' } });
      const progress = { phase: 'pack' as const, percent: 40, bytesDone: 400, bytesTotal: 1000 };
      assert.equal(await records.update('exp-1', { state: 'running', attempts: 1, progress }), true);
      assert.equal(await records.update('exp-1', { state: 'failed', error: { code: 'IO_ERROR', message: 'disk full' } }, ['running']), true);
      // A worker cannot overwrite a final state it does not expect.
      assert.equal(await records.update('exp-1', { state: 'running' }, ['queued', 'running']), false);
      let rec = await records.get('exp-1');
      assert.deepEqual([rec?.state, rec?.attempts, rec?.progress, rec?.error], ['failed', 1, progress, { code: 'IO_ERROR', message: 'disk full' }]);
      await records.update('exp-1', { state: 'succeeded', error: null, result: { path: '/x.tgz', bytes: 3 } });
      rec = await records.get('exp-1');
      assert.equal(rec?.error, undefined);
      assert.deepEqual(rec?.result, { path: '/x.tgz', bytes: 3 });
      assert.equal(await records.update('missing', { state: 'running' }), false);
    });

    test('list: newest first, by type and state, paginated with the total; counts per state', async () => {
      const fresh = await openJobRecords(backend.name === 'sqlite' ? `sqlite:${join(dir, 'list')}` : url, { create: true });
      const prefix = `l${Date.now()}`;
      try {
        for (let i = 0; i < 7; i++) {
          await fresh.insert({ id: `${prefix}-${i}`, type: i % 2 ? 'export' : 'import', payload: { i } });
          await sleep(3);
        }
        await fresh.update(`${prefix}-6`, { state: 'running' });
        const all = await fresh.list({ limit: 500 });
        const mine = all.records.filter((r) => r.id.startsWith(prefix)).map((r) => r.id);
        assert.deepEqual(mine, [6, 5, 4, 3, 2, 1, 0].map((i) => `${prefix}-${i}`));
        const exports = await fresh.list({ type: 'export' });
        assert.ok(exports.records.every((r) => r.type === 'export'));
        const page = await fresh.list({ type: 'import', limit: 2, offset: 1 });
        const imports = (await fresh.list({ type: 'import', limit: 500 })).records;
        assert.equal(page.total, imports.length);
        assert.deepEqual(page.records.map((r) => r.id), imports.slice(1, 3).map((r) => r.id));
        const running = await fresh.list({ state: 'running', type: 'import' });
        assert.ok(running.records.some((r) => r.id === `${prefix}-6`));
        assert.ok(running.records.every((r) => r.state === 'running'));
        if (backend.name === 'sqlite') assert.deepEqual(await fresh.counts(), { queued: 6, running: 1, succeeded: 0, failed: 0, cancelled: 0 });
      } finally {
        await fresh.close();
      }
    });

    test('children in creation order; remove', async () => {
      await records.insert({ id: 'snap-p', type: 'snapshot', payload: { images: ['a', 'b'] } });
      for (const [i, image] of ['a', 'b', 'c'].entries()) {
        await records.insert({ id: `snap-p-0000${i}`, type: 'snapshot-image', parentId: 'snap-p', image, payload: { image } });
      }
      const kids = await records.children('snap-p');
      assert.deepEqual(kids.map((k) => [k.id, k.image, k.parentId]), [
        ['snap-p-00000', 'a', 'snap-p'],
        ['snap-p-00001', 'b', 'snap-p'],
        ['snap-p-00002', 'c', 'snap-p'],
      ]);
      await records.remove('snap-p-00001');
      assert.equal((await records.children('snap-p')).length, 2);
    });

    test('counts every state, zero included', async () => {
      const counts = await records.counts();
      assert.deepEqual(Object.keys(counts).sort(), ['cancelled', 'failed', 'queued', 'running', 'succeeded']);
      assert.ok(counts.queued >= 1);
    });
  });
}

describe('job records unavailable', () => {
  test('an unreachable MySQL is DB_UNAVAILABLE', async () => {
    await assert.rejects(openJobRecords('mysql://root@127.0.0.1:1/imgport_x'), (err: unknown) => {
      assert.ok(err instanceof ImgportError);
      assert.equal(err.code, 'DB_UNAVAILABLE');
      assert.match(err.message, /job records \(mysql:\/\/root@127\.0\.0\.1:1\/imgport_x\) unavailable/);
      return true;
    });
  });

  test('a missing SQLite directory with create: false is DB_UNAVAILABLE; a closed store too', async () => {
    await assert.rejects(openJobRecords('sqlite:/nonexistent/imgport/dir', { create: false }), { code: 'DB_UNAVAILABLE' });
    const dir = mkdtempSync(join(tmpdir(), 'imgport-records-'));
    const recs = await openJobRecords(`sqlite:${dir}`);
    await recs.close();
    await assert.rejects(recs.get('x'), { code: 'DB_UNAVAILABLE' });
    rmSync(dir, { recursive: true, force: true });
  });

  test('an SQL error that is not an outage is INTERNAL (a bug: never retried as DB_UNAVAILABLE)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgport-records-'));
    const recs = await openJobRecords(`sqlite:${dir}`);
    try {
      const db = (recs as unknown as { db: { all(sql: string): Promise<unknown> } }).db;
      await assert.rejects(db.all('SELEC nothing FROM nowhere'), (err: unknown) => {
        assert.ok(err instanceof ImgportError);
        assert.equal(err.code, 'INTERNAL');
        assert.equal(err.retryable, false);
        return true;
      });
    } finally {
      await recs.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
