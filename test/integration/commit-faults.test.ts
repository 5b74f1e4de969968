/**
 * The commit under faults, in-process (the fault tests in test/faults/ kill real services): a
 * failing commit rolls back at once; a rollback the database stops is finished later from its
 * journal; untrusted journals and locks are set aside and wedge nothing; a retried job recognises
 * its own committed import; a destination on another filesystem is committed with a staged copy.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { currentOwner, ImportService } from '@imgport/engine';
import { ImgportError } from '@imgport/runtime';
import type { TableStore } from '@imgport/tables';
import { makeNativeBundle, makeXcatBundle, tempDir } from '../support/bundles.js';
import { openStore } from '../support/stores.js';

const NAME = 'faulty';
const imageDir = (root: string) => join(root, 'netboot/rhels8.5.0/x86_64/compute');

/** What the work area holds besides what may stay (receipts, quarantine). */
function leftovers(root: string): string[] {
  const out: string[] = [];
  for (const sub of ['tx', 'journal', 'trash', 'locks']) {
    const d = join(root, '.imgport', sub);
    if (existsSync(d)) out.push(...readdirSync(d).map((n) => `${sub}/${n}`));
  }
  return out;
}

describe('commit faults', () => {
  const dir = tempDir('imgport-commit-faults-');
  let tables: TableStore;
  let root: string;
  let n = 0;
  let v1: string;
  let v2: string;
  const service = (t: TableStore = tables, allow: string[] = []) => new ImportService({ tables: t, installRoot: root, dataDir: join(dir, 'data'), allow });
  const fresh = () => {
    root = join(dir, `install${n++}`);
    mkdirSync(root);
  };
  const version = () => readFileSync(join(root, 'postscripts/version'), 'utf8');

  before(async () => {
    tables = await openStore(`sqlite:${join(dir, 'db')}`);
    v1 = await makeNativeBundle(dir, { name: NAME, rootFiles: 20, extras: [{ file: 'version', content: 'v1', dest: '/install/postscripts' }] });
    v2 = await makeNativeBundle(dir, { name: NAME, rootFiles: 3, extras: [{ file: 'version', content: 'v2', dest: '/install/postscripts' }] });
  });
  after(async () => {
    await tables.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a --force update whose commit fails half way is rolled back at once: old files, old rows, nothing left', async () => {
    fresh();
    await tables.deleteImage(NAME);
    await service().run(v1);
    const rowsBefore = await tables.getImage(NAME);
    const libsBefore = readdirSync(join(imageDir(root), 'rootimg/usr/lib')).length;
    // The last move fails: the kernel, initrd, archive and tree were already renamed into place.
    process.env.IMGPORT_FAULT = 'place:extra version';
    try {
      await assert.rejects(service().run(v2, { force: true }), (err: unknown) => err instanceof ImgportError && err.code === 'IO_ERROR');
    } finally {
      delete process.env.IMGPORT_FAULT;
    }
    assert.equal(version(), 'v1');
    assert.equal(readdirSync(join(imageDir(root), 'rootimg/usr/lib')).length, libsBefore, 'the old root tree is back');
    assert.deepEqual(await tables.getImage(NAME), rowsBefore);
    assert.deepEqual(leftovers(root), []);
  });

  test('a rollback the database interrupts keeps journal and backups; the next import finishes it, then imports', async () => {
    fresh();
    await tables.deleteImage(NAME);
    await service().run(v1);
    const rowsBefore = await tables.getImage(NAME);
    let writes = 0;
    const down = new Proxy(tables, {
      get(target, prop, recv) {
        if (prop === 'writeImage' || prop === 'deleteImage') {
          return async () => {
            writes++;
            throw new ImgportError('DB_UNAVAILABLE', 'database went away');
          };
        }
        const v = Reflect.get(target, prop, recv) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    await assert.rejects(service(down).run(v2, { force: true }), (err: unknown) => err instanceof ImgportError && err.code === 'DB_UNAVAILABLE');
    assert.equal(writes, 2, 'the commit and the rollback both tried the database');
    const journals = readdirSync(join(root, '.imgport/journal'));
    assert.equal(journals.length, 1, 'the journal stays until it is settled');
    const j = JSON.parse(readFileSync(join(root, '.imgport/journal', journals[0]!), 'utf8')) as { abandoned?: boolean; txDir: string };
    assert.equal(j.abandoned, true);
    assert.ok(existsSync(join(j.txDir, 'old')), 'the backups are kept with it');
    assert.equal(version(), 'v1', 'the files were rolled back before the database failed');
    // The database is back: recovery restores the old rows and settles the journal.
    const recovered = await service().recover();
    assert.deepEqual(recovered, [{ image: NAME, outcome: 'rolled back' }]);
    assert.deepEqual(await tables.getImage(NAME), rowsBefore);
    assert.deepEqual(leftovers(root), []);
    await service().run(v2, { force: true });
    assert.equal(version(), 'v2');
  });

  test('a commit whose row write is lost after it landed rolls back the kit rows too: old ones restored, new ones gone', async () => {
    fresh();
    const { path, name } = await makeXcatBundle(dir, 'netboot-one-kit.manifest.xml');
    const kitBefore = { kitname: 'mykit-1.0-1', basename: 'mykit', description: 'the site\'s own' };
    await tables.writeImage('other', { osimage: { imagename: 'other', provmethod: 'netboot', osvers: 'rhels8.5.0', osarch: 'x86_64' }, linuximage: { imagename: 'other' }, litefile: [], kits: { kit: [kitBefore], kitrepo: [], kitcomponent: [] } });
    const kitRowsNow = async () => ({ kit: await tables.kitRows('kit', 'kitname', 'mykit-1.0-1'), kitrepo: await tables.kitRows('kitrepo', 'kitname', 'mykit-1.0-1'), kitcomponent: await tables.kitRows('kitcomponent', 'kitname', 'mykit-1.0-1') });
    const before = await kitRowsNow();
    let landed = 0;
    // The database commits the rows, then the connection drops before the client hears of it.
    const lost = new Proxy(tables, {
      get(target, prop, recv) {
        if (prop === 'writeImage') {
          return async (...args: Parameters<TableStore['writeImage']>) => {
            await target.writeImage(...args);
            landed++;
            throw new ImgportError('DB_UNAVAILABLE', 'connection lost after COMMIT');
          };
        }
        const v = Reflect.get(target, prop, recv) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    await assert.rejects(service(lost).run(path, { force: true }), (err: unknown) => err instanceof ImgportError && err.code === 'DB_UNAVAILABLE');
    assert.equal(landed, 1, 'the rows, kits included, had been written');
    assert.deepEqual(await tables.getImage(name), { litefile: [] });
    assert.deepEqual(await kitRowsNow(), before, 'the kit row is the site\'s again, and nothing was added');
    assert.equal(before.kit.length, 1);
    assert.deepEqual(leftovers(root), []);
    await tables.deleteImage('other');
  });

  test('a file another image placed while this import committed is kept: CONFLICT, rolled back, nothing replaced', async () => {
    fresh();
    const marker = join(dir, 'paused');
    const shared = join(root, 'postscripts/shared-tool');
    mkdirSync(join(root, 'postscripts'));
    const b = await makeNativeBundle(dir, { name: 'racer', extras: [{ file: 'shared-tool', content: 'from racer', dest: '/install/postscripts' }] });
    process.env.IMGPORT_PAUSEPOINT = `commit:before-renames=${marker}`;
    try {
      const run = service().run(b);
      const outcome = run.then(() => 'committed', (err: unknown) => err);
      for (let waited = 0; !existsSync(marker); waited += 20) {
        if (waited > 30_000) assert.fail(`the import never reached its pause point (it ended: ${String(await Promise.race([outcome, 'still running']))})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // Checked free, journaled: now another image's import (another lock) puts its file there.
      writeFileSync(shared, 'from another image');
      rmSync(marker);
      const err = await outcome;
      assert.ok(err instanceof ImgportError && err.code === 'CONFLICT', String(err));
      assert.match(err.message, /shared-tool .*appeared while this import was committing/);
    } finally {
      delete process.env.IMGPORT_PAUSEPOINT;
    }
    assert.equal(readFileSync(shared, 'utf8'), 'from another image');
    assert.deepEqual(await tables.getImage('racer'), { litefile: [] });
    assert.equal(existsSync(join(root, 'netboot/rhels8.5.0/x86_64/compute')), false, 'the image\'s own files were rolled back');
    assert.deepEqual(leftovers(root), []);
  });

  test('a journal pointing outside the install root is set aside, named, and changes nothing; other imports go on', async () => {
    fresh();
    await tables.deleteImage(NAME);
    const victim = join(dir, `victim-${n}`);
    writeFileSync(victim, 'precious');
    const jdir = join(root, '.imgport/journal');
    mkdirSync(jdir, { recursive: true });
    const id = 'a1b2c3d4e5f6';
    const txDir = join(root, '.imgport/tx', id);
    const forged = {
      v: 2,
      id,
      owner: { ...currentOwner(), pid: 999_999, start: '1' },
      image: 'other',
      state: 'prepared',
      txDir,
      moves: [{ from: join(txDir, 'x'), to: victim, what: 'kernel', dir: false }],
      createdDirs: [],
      outside: [],
      rowsBefore: null,
      rowsAfter: { osimage: {}, linuximage: {}, litefile: [] },
    };
    writeFileSync(join(jdir, `${id}.json`), JSON.stringify(forged));
    writeFileSync(join(jdir, 'ffffffffffff.json'), '{"not": json');
    const warnings: string[] = [];
    const log = { warn: () => undefined, error: (_o: unknown, msg: string) => warnings.push(msg), info: () => undefined, debug: () => undefined, child: () => log } as never;
    const s = new ImportService({ tables, installRoot: root, dataDir: join(dir, 'data'), log });
    const report = await s.recoverReport();
    assert.equal(report.setAside.length, 2);
    assert.equal(report.recovered.length, 0);
    assert.equal(readFileSync(victim, 'utf8'), 'precious');
    assert.ok(warnings.some((w) => w.includes(`${id}.json`) && /outside the install root/.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes('ffffffffffff.json') && /not JSON/.test(w)), warnings.join('\n'));
    assert.equal(readdirSync(join(root, '.imgport/quarantine')).length, 2);
    await service().run(v1);
    assert.equal(version(), 'v1');
  });

  test('locks: garbage is set aside; a restarted PID 1 (same pid and host, another start time) is a different process', async () => {
    fresh();
    await tables.deleteImage(NAME);
    const locks = join(root, '.imgport/locks');
    mkdirSync(locks, { recursive: true });
    writeFileSync(join(locks, `${NAME}.lock`), 'garbage');
    await service().run(v1);
    assert.equal(readdirSync(join(root, '.imgport/quarantine')).length, 1);
    mkdirSync(locks, { recursive: true });
    writeFileSync(join(locks, `${NAME}.lock`), JSON.stringify({ v: 1, image: NAME, owner: { ...currentOwner(), start: '12345' } }));
    await service().run(v2, { force: true });
    assert.equal(version(), 'v2');
    assert.deepEqual(leftovers(root), []);
    // The same owner, alive: LOCKED, and nothing changes.
    mkdirSync(locks, { recursive: true });
    writeFileSync(join(locks, `${NAME}.lock`), JSON.stringify({ v: 1, image: NAME, owner: currentOwner() }));
    await assert.rejects(service().run(v1, { force: true }), (err: unknown) => err instanceof ImgportError && err.code === 'LOCKED');
    assert.equal(version(), 'v2');
    rmSync(join(locks, `${NAME}.lock`));
  });

  test('a retried job whose import committed before its worker died succeeds with its result', async () => {
    fresh();
    await tables.deleteImage(NAME);
    const first = await service().run(v1, { jobId: 'imp-job-1' });
    const again = await service().run(v1, { jobId: 'imp-job-1' });
    assert.equal(again.name, first.name);
    assert.deepEqual(again.paths, first.paths);
    await assert.rejects(service().run(v1, { jobId: 'imp-job-2' }), (err: unknown) => err instanceof ImgportError && err.code === 'IMAGE_EXISTS');
  });

  test('a destination on another filesystem (an allowed directory) commits through a staged copy, and rolls back', async (t) => {
    const other = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/imgport-exdev-') : undefined;
    if (!other || statSync(other).dev === statSync(dir).dev) {
      if (other) rmSync(other, { recursive: true, force: true });
      t.skip('no second filesystem (/dev/shm) here');
      return;
    }
    t.after(() => rmSync(other, { recursive: true, force: true }));
    fresh();
    await tables.deleteImage(NAME);
    const b1 = await makeNativeBundle(dir, { name: NAME, extras: [{ file: 'site', content: 's1', dest: other }] });
    const b2 = await makeNativeBundle(dir, { name: NAME, extras: [{ file: 'site', content: 's2', dest: other }, { file: 'last', content: 'l', dest: '/install/postscripts' }] });
    await service(tables, [other]).run(b1);
    assert.equal(readFileSync(join(other, 'site'), 'utf8'), 's1');
    assert.deepEqual(readdirSync(other), ['site'], 'no staged copy left beside it');
    process.env.IMGPORT_FAULT = 'place:extra last';
    try {
      await assert.rejects(service(tables, [other]).run(b2, { force: true }));
    } finally {
      delete process.env.IMGPORT_FAULT;
    }
    assert.equal(readFileSync(join(other, 'site'), 'utf8'), 's1', 'the cross-filesystem file was rolled back');
    assert.deepEqual(readdirSync(other), ['site']);
    await service(tables, [other]).run(b2, { force: true });
    assert.equal(readFileSync(join(other, 'site'), 'utf8'), 's2');
    assert.deepEqual(readdirSync(other), ['site']);
    assert.deepEqual(leftovers(root), []);
  });
});
