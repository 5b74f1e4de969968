/**
 * The deduplicated snapshot store through the built commands: snapshot, diff (live and between
 * snapshots, --stat, --path, --json), revert, store prune/gc/fsck/pin.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildBundle, imageDir, json, leftovers, run, world, type BuiltBundle } from './helpers.js';

const NAME = 'e2e-store';
let scratch: string;
let v1: BuiltBundle;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'imgport-store-bundles-'));
  v1 = await buildBundle(scratch, { name: NAME, version: 'v1' });
});
after(() => rmSync(scratch, { recursive: true, force: true }));

test('snapshot, change the tree in place, diff, revert, prune, fsck', async (t) => {
  const w = world();
  t.after(w.cleanup);
  assert.equal((await run('xcatimport', [v1.path], w.env)).code, 0);
  const snap = json(await run('imgport', ['snapshot', NAME, '--label', 'golden', '--json'], w.env));
  assert.match(snap.id, new RegExp(`^${NAME}@\\d{8}T\\d{6}Z`));
  assert.equal(snap.label, 'golden');
  assert.equal(snap.signer, null);

  const root = join(imageDir(w, v1.spec), 'rootimg');
  writeFileSync(join(root, 'added-by-admin'), 'chrooted and edited\n');
  const stat = await run('imgport', ['diff', snap.id, '--stat'], w.env);
  assert.equal(stat.code, 0, stat.stderr);
  assert.match(stat.stdout, /1 added, 0 removed, \d+ changed/);
  const doc = json(await run('imgport', ['diff', snap.id, 'live', '--path', 'rootimg/added-by-admin', '--json'], w.env));
  assert.deepEqual(doc.changes.map((c: { status: string }) => c.status), ['added']);

  const second = json(await run('imgport', ['snapshot', NAME, '--json'], w.env));
  assert.equal(second.parent, snap.id);
  assert.equal(second.stats.hashed, 1, 'only the new file is read');
  const between = json(await run('imgport', ['diff', snap.id, second.id, '--json'], w.env));
  assert.equal(between.stats.added, 1);

  const reverted = await run('imgport', ['revert', snap.id], w.env);
  assert.equal(reverted.code, 0, reverted.stderr);
  assert.match(reverted.stdout, new RegExp(`^Reverted ${NAME} to ${snap.id}`));
  assert.deepEqual(json(await run('imgport', ['diff', snap.id, '--json'], w.env)).stats.added, 0);
  assert.deepEqual(leftovers(w), []);

  assert.equal((await run('imgport', ['store', 'pin', snap.id], w.env)).code, 0);
  const pruned = json(await run('imgport', ['store', 'prune', NAME, '--keep-last', '1', '--json'], w.env));
  assert.equal(pruned.removed.length, 1, 'the pinned one and the newest stay');
  const fsck = await run('imgport', ['store', 'fsck'], w.env);
  assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  // imgport prune and delete-snapshot reach store snapshots too; a pinned one stays until unpinned.
  const all = json(await run('imgport', ['prune', NAME, '--keep', '0', '--json'], w.env));
  assert.deepEqual([all.removed.length, all.store.removed.length], [0, 1]);
  assert.deepEqual(json(await run('imgport', ['snapshots', NAME, '--json'], w.env)).store.map((r: { id: string }) => r.id), [snap.id]);
  const pinned = await run('imgport', ['delete-snapshot', snap.id], w.env);
  assert.equal(pinned.code, 1);
  assert.match(pinned.stderr, /pinned; unpin it first/);
  assert.equal((await run('imgport', ['store', 'unpin', snap.id], w.env)).code, 0);
  const deleted = await run('imgport', ['delete-snapshot', snap.id], w.env);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.deepEqual(json(await run('imgport', ['snapshots', NAME, '--json'], w.env)).store, []);
  const bad = await run('imgport', ['diff', `${NAME}@20200101T000000Z`], w.env);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr + bad.stdout, /not found in the store/);
});
