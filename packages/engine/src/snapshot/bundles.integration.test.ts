import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImgportError } from '@imgport/runtime';
import type { TableStore } from '@imgport/tables';
import { addNetbootImage, BACKENDS, makeWorld, tarList, type Backend, type World } from '../../test/support/world.js';
import { SnapshotService } from './bundles.js';

const code = (c: string) => (err: unknown) => err instanceof ImgportError && err.code === c;

for (const makeBackend of BACKENDS) {
  const backend: Backend = makeBackend();
  describe(`snapshots (${backend.name})`, () => {
    let tables: TableStore;
    let w: World;
    let snaps: SnapshotService;
    // Both snapshots land in the same second: the second one gets the -1 suffix.
    const now = new Date('2026-11-26T06:15:02.250Z');
    before(async () => {
      tables = await backend.open();
      w = await makeWorld(tables);
      snaps = new SnapshotService({ ...w.deps, now: () => now });
      await addNetbootImage(w, 'snapimg', { archive: true });
      await addNetbootImage(w, 'other', { archive: true });
    });
    after(async () => {
      await tables.close();
      await backend.dispose();
      await rm(w.base, { recursive: true, force: true });
    });

    test('create two, list newest first, get, prune to one, remove', async () => {
      const first = await snaps.create('snapimg', { label: 'before upgrade' });
      const second = await snaps.create('snapimg');
      const dir = join(w.deps.dataDir, 'snapshots', 'snapimg');
      assert.deepEqual(first, {
        id: 'snapimg@20261126T061502Z',
        image: 'snapimg',
        timestamp: '20261126T061502Z',
        label: 'before upgrade',
        path: join(dir, '20261126T061502Z.tgz'),
        bytes: first.bytes,
        sha256: createHash('sha256').update(await readFile(first.path)).digest('hex'),
        createdAt: '2026-11-26T06:15:02.250Z',
      });
      assert.equal(second.id, 'snapimg@20261126T061502Z-1');
      assert.deepEqual(await tarList(second.path), ['manifest.cfg', 'kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz', 'SHA256SUMS']);
      const sidecar = JSON.parse(await readFile(join(dir, '20261126T061502Z.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(sidecar, { image: 'snapimg', timestamp: '20261126T061502Z', label: 'before upgrade', sha256: first.sha256, bytes: first.bytes, createdAt: first.createdAt });

      assert.deepEqual(await snaps.list('snapimg'), [second, first]);
      assert.deepEqual(await snaps.get(first.id), first);
      assert.equal(await snaps.revertSource(second.id), second.path);

      const otherSnap = await snaps.create('other');
      assert.deepEqual((await snaps.list()).map((s) => s.id), [second.id, otherSnap.id, first.id]);

      assert.deepEqual(await snaps.prune(1, 'snapimg'), [first]);
      assert.deepEqual(await snaps.list('snapimg'), [second]);
      await assert.rejects(snaps.get(first.id), code('NOT_FOUND'));
      assert.deepEqual((await readdir(dir)).sort(), ['20261126T061502Z-1.json', '20261126T061502Z-1.tgz']);

      await snaps.remove(second.id);
      assert.deepEqual(await snaps.list('snapimg'), []);
      await assert.rejects(snaps.remove(second.id), code('NOT_FOUND'));
      assert.deepEqual(await snaps.prune(0), [otherSnap]);
    });

    test('bad ids are rejected before any path is built', async () => {
      for (const id of ['snapimg', '@20261126T061502Z', '../x@20261126T061502Z', 'snapimg@2026', 'snapimg@20261126T061502Z/../../x', 'snapimg@20261126T061502Z-0', 'a b@20261126T061502Z']) {
        await assert.rejects(snaps.get(id), code('BAD_REQUEST'), id);
        await assert.rejects(snaps.remove(id), code('BAD_REQUEST'), id);
      }
      await assert.rejects(snaps.list('../etc'), code('BAD_REQUEST'));
      await assert.rejects(snaps.prune(-1), code('BAD_REQUEST'));
    });

    test('a snapshot that failed leaves nothing; an interrupted one is ignored, then swept after an hour', async () => {
      await assert.rejects(snaps.create('ghost'), code('IMAGE_NOT_FOUND'));
      assert.deepEqual(await readdir(join(w.deps.dataDir, 'snapshots')).then((n) => n.filter((x) => x === 'ghost')), []);
      const dir = join(w.deps.dataDir, 'snapshots', 'other');
      const orphan = join(dir, '20261126T050000Z.tgz');
      await writeFile(orphan, 'partial');
      assert.deepEqual(await snaps.list('other'), []);
      assert.ok((await readdir(dir)).includes('20261126T050000Z.tgz'), 'a recent leftover may still be in progress');
      const old = new Date(Date.now() - 2 * 3600 * 1000);
      await utimes(orphan, old, old);
      assert.deepEqual(await snaps.list('other'), []);
      assert.ok((await readdir(dir)).includes('20261126T050000Z.tgz'), 'listing never deletes');
      await snaps.sweep('other');
      assert.ok(!(await readdir(dir)).includes('20261126T050000Z.tgz'));
    });
  });
}
