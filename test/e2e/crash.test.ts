/**
 * All or nothing (SPEC §4): an import killed at any point leaves, once the next command has run,
 * either no image or the whole image — never a mix. The commit protocol's failpoints kill the
 * process between its steps; the tests also kill -9 the CLI themselves while it stages.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { assertImageFiles, buildBundle, imageDir, json, leftovers, rows, run, start, world, type BuiltBundle, type World } from './helpers.js';

const NAME = 'e2e-crash';
let scratch: string;
let v1: BuiltBundle;
let v2: BuiltBundle;
let big: BuiltBundle;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'imgport-crash-bundles-'));
  v1 = await buildBundle(scratch, { name: NAME, version: 'v1' });
  v2 = await buildBundle(scratch, { name: NAME, version: 'v2' });
  // Big enough that staging takes a good part of a second: thousands of files, a 24 MiB kernel.
  big = await buildBundle(scratch, { name: NAME, version: 'big', files: 4000, kernelBytes: 24 * 1024 * 1024 });
});
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The image is absent (no rows, no files) or whole (rows and every file of one candidate); returns which. */
async function noneOrWhole(w: World, ...candidates: BuiltBundle[]): Promise<'none' | string> {
  const rec = await rows(w, NAME);
  const dir = imageDir(w, candidates[0]!.spec);
  if (!rec.osimage && !rec.linuximage && rec.litefile.length === 0) {
    assert.ok(!existsSync(dir) || readdirSync(dir).length === 0, `no rows, but files in ${dir}: ${existsSync(dir) ? readdirSync(dir) : ''}`);
    return 'none';
  }
  assert.ok(rec.osimage && rec.linuximage, 'one of the two rows without the other');
  const onDisk = readFileOrEmpty(join(dir, 'kernel'));
  const kernel = candidates.find((b) => b.kernel.equals(onDisk));
  assert.ok(kernel, 'rows present but the kernel is missing or belongs to no version');
  assertImageFiles(w, kernel);
  return kernel.spec.version;
}

function readFileOrEmpty(p: string): Buffer {
  try {
    return readFileSync(p);
  } catch {
    return Buffer.alloc(0);
  }
}

async function recoverNow(w: World): Promise<Array<{ image: string; outcome: string }>> {
  const r = await run('imgport', ['recover', '--json'], w.env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(leftovers(w), [], 'recover leaves no staging area or journal');
  return json(r).recovered;
}

/** Starts an import and SIGKILLs it `delayMs` after its staging directory appears. */
async function killDuringStaging(w: World, b: BuiltBundle, args: string[], delayMs: number) {
  const { child, done } = start('xcatimport', [b.path, ...args], w.env);
  const tx = join(w.installRoot, '.imgport', 'tx');
  let exited = false;
  void done.then(() => (exited = true));
  while (!exited && !(existsSync(tx) && readdirSync(tx).length > 0)) await sleep(2);
  if (!exited) {
    await sleep(delayMs);
    child.kill('SIGKILL');
  }
  return done;
}

describe('failpoints in the commit', () => {
  for (const fp of ['commit:after-renames', 'commit:after-db']) {
    test(`a new image killed at ${fp} is rolled back by the next run`, async (t) => {
      const w = world();
      t.after(w.cleanup);
      const r = await run('xcatimport', [v1.path], { ...w.env, IMGPORT_FAILPOINT: fp });
      assert.equal(r.signal, 'SIGKILL', `the failpoint fired (exit ${r.code}): ${r.stderr}`);
      assert.ok(existsSync(join(imageDir(w, v1.spec), 'kernel')), 'killed after the renames');
      assert.equal((await rows(w, NAME)).osimage !== undefined, fp === 'commit:after-db');

      assert.deepEqual(await recoverNow(w), [{ image: NAME, outcome: 'rolled back' }]);
      assert.equal(await noneOrWhole(w, v1), 'none');
      const again = await run('xcatimport', [v1.path], w.env);
      assert.equal(again.code, 0, `the lock of the killed process is taken over: ${again.stderr}`);
      assert.equal(await noneOrWhole(w, v1), 'v1');
    });

    test(`a --force replacement killed at ${fp} brings the old image back intact`, async (t) => {
      const w = world();
      t.after(w.cleanup);
      assert.equal((await run('xcatimport', [v1.path], w.env)).code, 0);
      const before = await rows(w, NAME);
      const r = await run('xcatimport', [v2.path, '--force'], { ...w.env, IMGPORT_FAILPOINT: fp });
      assert.equal(r.signal, 'SIGKILL', `the failpoint fired (exit ${r.code}): ${r.stderr}`);
      // The next command of any kind recovers first: here another (dry-run) import.
      const next = await run('xcatimport', [v2.path, '--dry-run', '--force'], w.env);
      assert.equal(next.code, 0, next.stderr);
      assert.deepEqual(leftovers(w), []);
      assert.equal(await noneOrWhole(w, v1, v2), 'v1');
      assert.deepEqual(await rows(w, NAME), before);
    });
  }
});

describe('killed once the journal says committed', () => {
  test('rolled forward by the next run: the new image stays whole, nothing left', async (t) => {
    const w = world();
    t.after(w.cleanup);
    assert.equal((await run('xcatimport', [v1.path], w.env)).code, 0);
    const r = await run('xcatimport', [v2.path, '--force'], { ...w.env, IMGPORT_FAILPOINT: 'commit:after-journal' });
    assert.equal(r.signal, 'SIGKILL', `the failpoint fired (exit ${r.code}): ${r.stderr}`);
    assert.deepEqual(await recoverNow(w), [{ image: NAME, outcome: 'rolled forward' }]);
    assert.equal(await noneOrWhole(w, v1, v2), 'v2');
    assert.equal(existsSync(join(w.installRoot, '.imgport', 'trash')), false, 'the replaced tree was deleted');
  });
});

describe('kill -9 during the import', () => {
  test('while staging: nothing outside the staging area; the next import cleans it and succeeds', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const r = await killDuringStaging(w, big, [], 30);
    assert.equal(r.signal, 'SIGKILL', `killed before it finished (exit ${r.code})`);
    assert.equal(await noneOrWhole(w, big), 'none');
    const again = await run('xcatimport', [big.path, '--json'], w.env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(leftovers(w), []);
    assert.equal(await noneOrWhole(w, big), 'big');
  });

  test('a --force replacement killed at many points: always the old image or the new one', async (t) => {
    const w = world();
    t.after(w.cleanup);
    assert.equal((await run('xcatimport', [v1.path], w.env)).code, 0);
    const seen = new Set<string>();
    for (const delay of [0, 40, 120, 250, 400, 600, 900]) {
      const r = await killDuringStaging(w, big, ['--force'], delay);
      await recoverNow(w);
      const state = await noneOrWhole(w, v1, big);
      assert.notEqual(state, 'none', `after a kill at ${delay} ms (exit ${r.code ?? r.signal}) the image vanished`);
      seen.add(state);
      if (state === 'big') assert.equal((await run('xcatimport', [v1.path, '--force'], w.env)).code, 0);
    }
    assert.ok(seen.has('v1'), 'at least one kill landed before the commit');
  });

  test('Ctrl-C (SIGINT) cancels: exit 1, CANCELLED, rolled back, nothing left', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const { child, done } = start('xcatimport', [big.path, '--json'], w.env);
    const tx = join(w.installRoot, '.imgport', 'tx');
    while (!(existsSync(tx) && readdirSync(tx).length > 0)) await sleep(2);
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 1, r.stderr);
    assert.equal(json(r).error.code, 'CANCELLED');
    assert.deepEqual(leftovers(w), []);
    assert.equal(await noneOrWhole(w, big), 'none');
  });
});
