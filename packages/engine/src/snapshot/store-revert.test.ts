/**
 * The differential revert (issue 12, point 3): only what differs from the live tree is touched,
 * and afterwards a fresh snapshot of the image equals the target exactly, files and directories
 * (mtimes to the microsecond, the precision Node sets them with); a commit that fails midway
 * leaves the image exactly as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { xattrs, type TreeEntry } from '@imgport/store';
import type { TableStore } from '@imgport/tables';
import { addNetbootImage, storeWorld, type World } from '../../test/support/world.js';
import { StoreSnapshots } from './store.js';

let tables: TableStore;
let w: World;
let store: StoreSnapshots;
storeWorld('2026-12-01T03:00:00Z', (s) => ({ tables, w, store } = s));

/** A snapshot's entries as they must come back: without the stat cache, mtimes to the microsecond. */
async function entries(id: string): Promise<Array<Omit<TreeEntry, 'i' | 'ct'>>> {
  const out = [];
  for await (const e of store.store.tree(store.get(id))) {
    const { i: _i, ct: _ct, ...rest } = e;
    out.push({ ...rest, mt: rest.mt.slice(0, -3) });
  }
  return out;
}

const ino = (p: string) => lstatSync(p).ino;

/** Every kind of change an admin makes in a chroot, and a directory's own metadata. */
function edit(root: string, rootimgdir: string): void {
  writeFileSync(join(root, 'etc', 'hosts'), '10.0.0.1 mgmt\n');
  chmodSync(join(root, 'etc', 'motd'), 0o600);
  xattrs()?.setAttributeSync(join(root, 'etc', 'issue'), 'user.edited', Buffer.from('yes'));
  writeFileSync(join(root, 'etc', 'added'), 'new\n');
  mkdirSync(join(root, 'opt', 'vendor', 'lib'), { recursive: true });
  writeFileSync(join(root, 'opt', 'vendor', 'lib', 'x.so'), 'elf');
  rmSync(join(root, 'etc', 'gone'));
  rmSync(join(root, 'srv'), { recursive: true });
  rmSync(join(root, 'etc', 'conf.d'), { recursive: true });
  writeFileSync(join(root, 'etc', 'conf.d'), 'now a file');
  rmSync(join(root, 'lib64'));
  mkdirSync(join(root, 'lib64'));
  writeFileSync(join(root, 'lib64', 'ld.so'), 'loader');
  rmSync(join(root, 'usr', 'share', 'link'));
  symlinkSync('elsewhere', join(root, 'usr', 'share', 'link'));
  chmodSync(join(root, 'var', 'empty'), 0o700);
  // The group tool/tool-link broken: tool-link replaced by a copy with other content.
  rmSync(join(root, 'usr', 'bin', 'tool-link'));
  writeFileSync(join(root, 'usr', 'bin', 'tool-link'), 'a copy');
  writeFileSync(join(rootimgdir, 'kernel'), 'another kernel');
}

function populate(root: string): void {
  writeFileSync(join(root, 'etc', 'motd'), 'welcome\n');
  writeFileSync(join(root, 'etc', 'issue'), 'Linux\n');
  writeFileSync(join(root, 'etc', 'gone'), 'bye\n');
  mkdirSync(join(root, 'etc', 'conf.d'));
  writeFileSync(join(root, 'etc', 'conf.d', 'a.conf'), 'a=1\n');
  mkdirSync(join(root, 'srv', 'www'), { recursive: true });
  writeFileSync(join(root, 'srv', 'www', 'index.html'), '<html>');
  symlinkSync('usr/lib64', join(root, 'lib64'));
  mkdirSync(join(root, 'usr', 'share', 'doc'), { recursive: true });
  writeFileSync(join(root, 'usr', 'share', 'doc', 'README'), 'untouched');
  symlinkSync('doc/README', join(root, 'usr', 'share', 'link'));
  mkdirSync(join(root, 'opt'));
  mkdirSync(join(root, 'usr', 'lib', 'a'), { recursive: true });
  writeFileSync(join(root, 'usr', 'lib', 'a', 'one'), '1');
  linkSync(join(root, 'usr', 'lib', 'a', 'one'), join(root, 'usr', 'lib', 'a', 'one-again'));
  // Directory mtimes in the past, so that one the revert leaves wrong cannot pass by chance.
  for (const d of ['etc', 'usr', 'usr/share', 'var/empty', 'opt', '.']) utimesSync(join(root, d), 1_600_000_000.123456, 1_600_000_000.123456);
}

test('a revert touches only what differs: unchanged files keep their inodes; a fresh snapshot equals the target, files and directories', async () => {
  const img = await addNetbootImage(w, 'diffimg', { archive: true });
  const root = join(img.rootimgdir, 'rootimg');
  populate(root);
  const target = await store.create('diffimg', { label: 'golden' });
  const untouched = ino(join(root, 'usr', 'share', 'doc', 'README'));
  const cleanGroup = ino(join(root, 'usr', 'lib', 'a', 'one'));
  edit(root, img.rootimgdir);

  const res = await store.revert(target.id);
  const rel = (p: string) => `${img.rootimgdir.slice(w.installRoot.length + 1)}/${p}`;
  assert.deepEqual(res.removed, [rel('rootimg/etc/added'), rel('rootimg/opt/vendor')]);
  assert.deepEqual(
    { staged: res.staged, dirsSet: res.dirsSet, unchanged: res.reused, entries: res.entries },
    // Staged: kernel, conf.d + a.conf, gone, hosts, issue, motd, lib64, srv + www + index.html,
    // tool + tool-link (their group), share/link. Directories set: rootimg (srv and lib64 moved
    // into it), etc, opt (vendor taken away), usr/bin, usr/share, and var/empty (its own mode).
    { staged: 14, dirsSet: 6, unchanged: res.entries - 14 - 6, entries: (await entries(target.id)).length },
  );
  assert.equal(ino(join(root, 'usr', 'share', 'doc', 'README')), untouched, 'an unchanged file is left in place');
  assert.equal(ino(join(root, 'usr', 'lib', 'a', 'one')), cleanGroup, 'an unchanged hardlink group too');
  assert.equal(ino(join(root, 'usr', 'bin', 'tool')), ino(join(root, 'usr', 'bin', 'tool-link')), 'a changed group is staged whole, linked again');
  assert.equal(readFileSync(join(root, 'etc', 'hosts'), 'utf8'), '127.0.0.1 localhost\n');

  const now = await store.create('diffimg', { label: 'after the revert' });
  assert.deepEqual(await entries(now.id), await entries(target.id));
  // `imgport diff` agrees (it counts a restored file's nanoseconds below the microsecond as mtime-only).
  const d = (await store.diff(target.id, now.id)).stats;
  assert.deepEqual([d.added, d.removed, d.changed], [0, 0, 0]);

  // And back: the snapshot the revert took of the edited image comes back as exactly.
  await store.revert(res.before!);
  const again = await store.create('diffimg');
  assert.deepEqual(await entries(again.id), await entries(res.before!));
});

test('a revert of an unchanged image stages nothing and sets no directory', async () => {
  await addNetbootImage(w, 'sameimg');
  const target = await store.create('sameimg');
  const res = await store.revert(target.id);
  assert.deepEqual([res.staged, res.dirsSet, res.removed, res.fromStore], [0, 0, [], 0]);
  assert.equal(res.reused, res.entries);
});

test('a commit that fails midway is rolled back: the image is exactly as it was, directory mtimes included', async () => {
  const img = await addNetbootImage(w, 'failimg');
  const root = join(img.rootimgdir, 'rootimg');
  populate(root);
  const target = await store.create('failimg');
  edit(root, img.rootimgdir);
  const edited = await store.create('failimg', { label: 'edited' });
  // The last move of the plan fails, after the removes and every other move were done.
  process.env.IMGPORT_FAULT = `place:${img.rootimgdir.slice(w.installRoot.length + 1)}/rootimg/usr/share/link`;
  try {
    await assert.rejects(store.revert(target.id), /injected fault/);
  } finally {
    delete process.env.IMGPORT_FAULT;
  }
  await store.settled();
  const now = await store.create('failimg', { label: 'after the failed revert' });
  assert.deepEqual(await entries(now.id), await entries(edited.id));
  assert.equal((await tables.getImage('failimg')).linuximage?.rootimgdir, img.rootimgdir);
});

test('a large file partly rewritten is patched from a copy of the live one: only its changed chunks come from the store', async () => {
  const img = await addNetbootImage(w, 'bigimg');
  const db = join(img.rootimgdir, 'rootimg', 'var', 'lib', 'rpm', 'Packages');
  mkdirSync(join(db, '..'), { recursive: true });
  const golden = randomBytes(12 << 20);
  writeFileSync(db, golden);
  const target = await store.create('bigimg');
  const fd = openSync(db, 'r+');
  writeSync(fd, randomBytes(256 << 10), 0, 256 << 10, 5 << 20);
  closeSync(fd);
  const res = await store.revert(target.id);
  assert.deepEqual([res.staged, res.fromStore, res.copied], [1, 1, 1]);
  assert.ok(res.bytesFromStore > 0 && res.bytesFromStore < 4 << 20, `only the chunks around the rewrite (${res.bytesFromStore} bytes)`);
  assert.ok(readFileSync(db).equals(golden), 'the file is the target byte for byte');
  const now = await store.create('bigimg');
  assert.deepEqual(await entries(now.id), await entries(target.id));
});
