/**
 * A differential revert killed in its commit (issue 12): after `imgport recover` the image is
 * exactly as it was (killed before the journal said committed: the removes, moves and directory
 * attribute steps undone) or exactly the target (killed after: rolled forward) — compared as
 * whole snapshots, files and directories, mtimes to the microsecond.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Store, type TreeEntry } from '@imgport/store';
import { buildBundle, imageDir, json, leftovers, rows, run, world, type BuiltBundle, type World } from './helpers.js';

const NAME = 'e2e-revert-crash';
let scratch: string;
let v1: BuiltBundle;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'imgport-revert-crash-'));
  v1 = await buildBundle(scratch, { name: NAME, version: 'v1' });
});
after(() => rmSync(scratch, { recursive: true, force: true }));

async function snapshot(w: World, label: string): Promise<string> {
  const r = await run('imgport', ['snapshot', NAME, '--label', label, '--json'], w.env);
  assert.equal(r.code, 0, r.stderr);
  return json(r).id as string;
}

/** A snapshot's entries without the stat cache, mtimes to the microsecond (what a revert sets). */
async function entries(w: World, id: string): Promise<Array<Omit<TreeEntry, 'i' | 'ct'>>> {
  const store = new Store(w.dataDir);
  const [image, stamp] = id.split('@') as [string, string];
  const out = [];
  for await (const e of store.tree(store.refs.read(image, stamp)!)) {
    const { i: _i, ct: _ct, ...rest } = e;
    out.push({ ...rest, mt: rest.mt.slice(0, -3) });
  }
  return out;
}

/** An image, its golden snapshot, then an admin's edits in the chroot (files, directories, modes). */
async function editedImage(w: World): Promise<{ golden: string; edited: string }> {
  assert.equal((await run('xcatimport', [v1.path], w.env)).code, 0);
  const root = join(imageDir(w, v1.spec), 'rootimg');
  mkdirSync(join(root, 'srv', 'www'), { recursive: true });
  writeFileSync(join(root, 'srv', 'www', 'index.html'), '<html>');
  writeFileSync(join(root, 'motd'), 'golden\n');
  const golden = await snapshot(w, 'golden');
  writeFileSync(join(root, 'motd'), 'edited\n');
  rmSync(join(root, 'srv'), { recursive: true });
  mkdirSync(join(root, 'opt', 'vendor'), { recursive: true });
  writeFileSync(join(root, 'opt', 'vendor', 'tool'), 'tool');
  chmodSync(root, 0o700);
  return { golden, edited: await snapshot(w, 'edited') };
}

async function recoverNow(w: World): Promise<Array<{ image: string; outcome: string }>> {
  const r = await run('imgport', ['recover', '--json'], w.env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(leftovers(w), [], 'recover leaves no staging area or journal');
  return json(r).recovered.map(({ image, outcome }: { image: string; outcome: string }) => ({ image, outcome }));
}

describe('a differential revert killed in its commit', () => {
  for (const fp of ['commit:before-attrs', 'commit:after-renames', 'commit:after-db']) {
    test(`killed at ${fp}: recover rolls it back, the image exactly as before`, async (t) => {
      const w = world();
      t.after(w.cleanup);
      const { golden, edited } = await editedImage(w);
      const rowsBefore = await rows(w, NAME);
      const r = await run('imgport', ['revert', golden], { ...w.env, IMGPORT_FAILPOINT: fp });
      assert.equal(r.signal, 'SIGKILL', `the failpoint fired (exit ${r.code}): ${r.stderr}`);
      assert.deepEqual(await recoverNow(w), [{ image: NAME, outcome: 'rolled back' }]);
      const now = await snapshot(w, 'after recover');
      assert.deepEqual(await entries(w, now), await entries(w, edited));
      assert.deepEqual(await rows(w, NAME), rowsBefore);
    });
  }

  test('killed once the journal says committed: rolled forward, the image exactly the target', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const { golden } = await editedImage(w);
    const r = await run('imgport', ['revert', golden], { ...w.env, IMGPORT_FAILPOINT: 'commit:after-journal' });
    assert.equal(r.signal, 'SIGKILL', `the failpoint fired (exit ${r.code}): ${r.stderr}`);
    assert.deepEqual(await recoverNow(w), [{ image: NAME, outcome: 'rolled forward' }]);
    const now = await snapshot(w, 'after recover');
    assert.deepEqual(await entries(w, now), await entries(w, golden));
  });
});
