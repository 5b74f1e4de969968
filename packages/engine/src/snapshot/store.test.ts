import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TableStore } from '@imgport/tables';
import { addNetbootImage, makeWorld, storeWorld, tarList, type World } from '../../test/support/world.js';
import { SnapshotCatalog } from './catalog.js';
import { SnapshotService } from './bundles.js';
import { StoreSnapshots } from './store.js';
import { ExportService } from '../export/service.js';
import { ImportService } from '../import/index.js';

let tables: TableStore;
let w: World;
let store: StoreSnapshots;
storeWorld('2026-11-26T06:15:02Z', (s) => ({ tables, w, store } = s));

test('store snapshot: unchanged costs nothing, diff says what changed (files and rows), revert brings it back', async () => {
  const img = await addNetbootImage(w, 'storeimg', { archive: true });
  const root = join(img.rootimgdir, 'rootimg');
  const rel = (p: string) => p.slice(w.installRoot.length + 1);
  const first = await store.create('storeimg', { label: 'golden' });
  assert.match(first.id, /^storeimg@20261126T0615\d\dZ$/);
  assert.ok(first.roots.includes(rel(root)));
  assert.ok(first.stats.files >= 5 && first.stats.hashed === first.stats.files - 1, 'everything hashed once (the hardlink shares its leader)');
  const second = await store.create('storeimg');
  assert.equal(second.parent, first.id);
  assert.equal(second.stats.hashed, 0);
  assert.equal(second.stats.added, 0, 'an unchanged image adds nothing');
  assert.deepEqual([second.tree, second.base], [first.tree, undefined], 'it keeps the tree of the first one (its hardlinks included)');

  const hostsBefore = readFileSync(join(root, 'etc', 'hosts'));
  writeFileSync(join(root, 'etc', 'hosts'), '10.0.0.1 mgmt\n');
  chmodSync(join(root, 'usr', 'bin', 'tool'), 0o700);
  writeFileSync(join(root, 'etc', 'motd'), 'hello\n');
  writeFileSync(join(img.rootimgdir, 'rootimg.cpio.xz'), 'a second archive');
  await tables.writeImage('storeimg', { ...img.rows, linuximage: { ...img.rows.linuximage, kernelver: '5.14.0' } });

  const live = await store.diff(first.id, 'live', { paths: ['rootimg/etc', 'rootimg/usr'] });
  assert.deepEqual(
    live.changes.map((c) => [c.path.slice(rel(img.rootimgdir).length + 1), c.status, (c.changes ?? []).filter((k) => k !== 'mtime')]),
    [
      ['rootimg/etc/hosts', 'changed', ['content']],
      ['rootimg/etc/motd', 'added', []],
      ['rootimg/usr/bin/tool', 'changed', ['mode']],
      ['rootimg/usr/bin/tool-link', 'changed', ['mode']],
    ],
  );
  assert.deepEqual(live.rows.fields, [{ table: 'linuximage', key: 'storeimg', column: 'kernelver', from: '4.18.0-348.el8.x86_64', to: '5.14.0' }]);

  const res = await store.revert(first.id);
  assert.equal(res.to, first.id);
  assert.ok(res.before, 'the image as it was is snapshotted first');
  assert.deepEqual(readFileSync(join(root, 'etc', 'hosts')), hostsBefore);
  assert.equal(lstatSync(join(root, 'usr', 'bin', 'tool')).mode & 0o7777, 0o755);
  assert.equal(existsSync(join(root, 'etc', 'motd')), false);
  assert.equal(existsSync(join(img.rootimgdir, 'rootimg.cpio.xz')), false, 'an archive the snapshot did not have is removed');
  assert.equal(lstatSync(join(root, 'usr', 'bin', 'tool')).ino, lstatSync(join(root, 'usr', 'bin', 'tool-link')).ino, 'hardlinks kept');
  assert.ok(res.reused > 0 && res.fromStore > 0, `some files kept (${res.reused}), the changed ones rebuilt (${res.fromStore})`);
  assert.equal((await tables.getImage('storeimg')).linuximage?.kernelver, '4.18.0-348.el8.x86_64');
  const after = await store.diff(first.id, 'live');
  assert.deepEqual(after.changes.filter((c) => !(c.changes ?? []).every((k) => k === 'mtime')), []);
  assert.deepEqual(after.rows, { fields: [], rows: [] });

  // Back to the edited state, through the snapshot revert took.
  await store.revert(res.before!);
  assert.equal(readFileSync(join(root, 'etc', 'motd'), 'utf8'), 'hello\n');

  // Any store snapshot exports as an ordinary bundle.
  const exported = await store.exportBundle(first.id, { destination: join(w.out, 'from-store.tgz') });
  assert.deepEqual(await tarList(exported.path), ['manifest.cfg', 'kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz', 'SHA256SUMS']);

  const pruned = await store.prune({ keepLast: 1 }, 'storeimg', { graceMs: 0 });
  assert.equal(store.list('storeimg').length, 1);
  assert.ok(pruned.removed.length >= 3);
  const check = await store.store.fsck();
  assert.deepEqual([check.corrupt, check.missing], [[], []]);
  await assert.rejects(store.diff('storeimg@20200101T000000Z'), /not found in the store/);
});

test('the snapshot catalog: store and .tgz snapshots together; a store snapshot reverts through an exported bundle; removing one removes its ref', async () => {
  await addNetbootImage(w, 'catimg', { archive: true });
  const bundles = new SnapshotService(w.deps);
  const catalog = new SnapshotCatalog(bundles, store, join(w.deps.dataDir, 'reverts'));
  const inStore = await store.create('catimg', { label: 'in the store' });
  const asTgz = await bundles.create('catimg', { label: 'as a bundle' });
  assert.deepEqual((await catalog.list('catimg')).map((s) => s.id), [inStore.id, asTgz.id]);
  assert.equal((await catalog.get(inStore.id)).label, 'in the store');

  const b = await catalog.revertBundle(inStore.id);
  assert.ok(b.path.startsWith(join(w.deps.dataDir, 'reverts')), b.path);
  assert.ok((await tarList(b.path)).some((m) => m.endsWith('manifest.cfg')), 'an ordinary bundle');
  await b.release();
  assert.equal(existsSync(b.path), false, 'released once the caller has its own link');
  const t = await catalog.revertBundle(asTgz.id);
  assert.equal(t.path, asTgz.path);
  await t.release();
  assert.equal(existsSync(asTgz.path), true, 'a .tgz snapshot stays where it is');

  await catalog.remove(asTgz.id);
  assert.deepEqual((await catalog.list('catimg')).map((s) => s.id), [inStore.id]);
  // A store snapshot's ref goes at once; a pinned one only once unpinned; its objects at the next collection.
  store.setPinned(inStore.id, true);
  await assert.rejects(catalog.remove(inStore.id), (e: Error & { code?: string }) => e.code === 'CONFLICT' && /unpin/.test(e.message));
  store.setPinned(inStore.id, false);
  await catalog.remove(inStore.id);
  assert.deepEqual(await catalog.list('catimg'), []);
  assert.equal(store.store.objects.has(inStore.tree), true, 'objects stay until a collection');
  await store.store.gc({ graceMs: 0 });
  assert.equal(store.store.objects.has(inStore.tree), false, 'and go at the collection');
  const check = await store.store.fsck();
  assert.deepEqual([check.corrupt, check.missing], [[], []]);
});

test('import --force snapshots the image it replaces into the store once the store is in use, as a .tgz before', async () => {
  await addNetbootImage(w, 'forceimg', { archive: true });
  const bundle = (await new ExportService(w.deps).run('forceimg', { destination: join(w.out, 'forceimg.tgz') })).path;
  const fresh = await makeWorld(tables);
  try {
    const bundles = new SnapshotService(fresh.deps);
    let clock = Date.parse('2026-11-26T07:00:00Z');
    const local = new StoreSnapshots({ ...fresh.deps, now: () => new Date((clock += 1000)) });
    const catalog = new SnapshotCatalog(bundles, local, join(fresh.deps.dataDir, 'reverts'));
    const imports = new ImportService({ ...fresh.deps, snapshots: catalog });
    const fromRoot = w.installRoot;
    await imports.run(bundle, { fromRoot, name: 'forced' });
    const before = await imports.run(bundle, { fromRoot, name: 'forced', force: true });
    assert.equal(local.list('forced').length, 0);
    assert.equal((await bundles.list('forced')).length, 1, 'no store yet: a .tgz bundle, as before');
    assert.ok(before.snapshot?.path.endsWith('.tgz'));
    await local.create('forced', { label: 'the store is in use' });
    const after = await imports.run(bundle, { fromRoot, name: 'forced', force: true });
    assert.equal(after.snapshot?.id, local.list('forced')[0]!.id, 'the store snapshot is the newest one');
    assert.equal(local.list('forced')[0]!.label, 'before import --force');
    assert.equal((await bundles.list('forced')).length, 1);
  } finally {
    rmSync(fresh.base, { recursive: true, force: true });
  }
});
