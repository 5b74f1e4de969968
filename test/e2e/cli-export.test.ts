/**
 * xcatexport, snapshots and revert through the built commands, and one round trip on MariaDB.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { assertImageFiles, buildBundle, imageDir, json, leftovers, rows, run, world, type BuiltBundle, type World } from './helpers.js';

const exec = promisify(execFile);
const NAME = 'e2e-export';
let scratch: string;
let v1: BuiltBundle;
let v2: BuiltBundle;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'imgport-export-bundles-'));
  v1 = await buildBundle(scratch, { name: NAME, version: 'v1' });
  v2 = await buildBundle(scratch, { name: NAME, version: 'v2' });
});
after(() => rmSync(scratch, { recursive: true, force: true }));

async function imported(t: { after(fn: () => void): void }, bundle = v1, w: World = world()): Promise<World> {
  t.after(w.cleanup);
  const r = await run('xcatimport', [bundle.path], w.env);
  assert.equal(r.code, 0, r.stderr);
  return w;
}

/** Unpacks a bundle with tar(1) and checks it with sha256sum -c, as an administrator would. */
async function unpackAndVerify(bundle: string, into: string): Promise<string[]> {
  await exec('tar', ['xzf', bundle, '-C', into]);
  const { stdout } = await exec('sha256sum', ['-c', 'SHA256SUMS'], { cwd: into });
  return stdout.trim().split('\n');
}

describe('xcatexport', () => {
  test('writes a bundle that sha256sum -c verifies, and that imports elsewhere (-f other)', async (t) => {
    const w = await imported(t);
    const out = join(w.dir, 'out.tgz');
    const r = await run('xcatexport', [NAME, out, '--json'], w.env);
    assert.equal(r.code, 0, r.stderr);
    const res = json(r);
    assert.deepEqual([res.image, res.method, res.format, res.path], [NAME, 'netboot', 'native', out]);
    assert.ok(res.members.includes('manifest.cfg') && res.members.includes('SHA256SUMS'), res.members.join());
    const unpacked = mkdtempSync(join(w.dir, 'unpacked-'));
    const checked = await unpackAndVerify(out, unpacked);
    assert.ok(checked.length >= 4 && checked.every((l) => l.endsWith(': OK')), checked.join('\n'));

    const other = world();
    t.after(other.cleanup);
    const again = await run('xcatimport', [out, '-f', 'other', '--json'], other.env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(json(again).name, 'rhels8.5.0-x86_64-netboot-other');
    assertImageFiles(other, v1, 'other');
  });

  test('a directory destination gets <image>.tgz; the summary names path, size and sha256', async (t) => {
    const w = await imported(t);
    const dir = mkdtempSync(join(w.dir, 'outdir-'));
    const r = await run('xcatexport', [NAME, dir], w.env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir, `${NAME}.tgz`)));
    assert.match(r.stdout, /^Exported e2e-export \(netboot, native format\) in [\d.]+ s\n/);
    assert.match(r.stdout, new RegExp(`bundle: ${join(dir, NAME)}\\.tgz \\([\\d.]+ KiB, sha256 [0-9a-f]{64}\\)`));
  });

  test('--format xcat writes <name>/manifest.xml, which imports on a node with another install root, no flag', async (t) => {
    const w = await imported(t);
    const out = join(w.dir, 'xcat.tgz');
    const r = await run('xcatexport', [NAME, out, '--format', 'xcat'], w.env);
    assert.equal(r.code, 0, r.stderr);
    const { stdout } = await exec('tar', ['tzf', out]);
    assert.ok(stdout.split('\n').includes(`${NAME}/manifest.xml`), stdout);

    // Its paths spell the install directory /install/, as xCAT does; each node maps it onto its own root.
    const xml = (await exec('tar', ['xzOf', out, `${NAME}/manifest.xml`])).stdout;
    assert.ok(xml.includes('<rootimgdir>/install/netboot/') && !xml.includes(w.installRoot), xml);
    const other = world();
    t.after(other.cleanup);
    const back = await run('xcatimport', [out, '--json'], other.env);
    assert.equal(back.code, 0, back.stderr);
    assertImageFiles(other, v1);
  });

  test('-e carries extra files to their destination; --include carries list files', async (t) => {
    const pkg = await buildBundle(scratch, {
      name: 'e2e-lists',
      manifest: ['pkglist compute.pkglist', 'exlist compute.exlist'],
      members: { 'compute.pkglist': 'bash\nopenssh-server\n', 'compute.exlist': './usr/share/doc*\n' },
    });
    const w = await imported(t, pkg);
    const lists = (await rows(w, 'e2e-lists')).linuximage!;
    assert.equal(lists.pkglist, join(w.installRoot, 'custom/rhels8.5.0/x86_64/compute.pkglist'));
    mkdirSync(join(w.installRoot, 'postscripts'));
    writeFileSync(join(w.installRoot, 'postscripts', 'setup-ib'), '#!/bin/sh\necho ib\n', { mode: 0o755 });

    const plain = json(await run('xcatexport', ['e2e-lists', join(w.dir, 'plain.tgz'), '--json'], w.env));
    assert.ok(!plain.members.some((m: string) => m.includes('pkglist')), 'lists are left out unless asked for');
    const out = join(w.dir, 'full.tgz');
    const args = ['e2e-lists', out, '--include', 'pkglist', '-e', join(w.installRoot, 'postscripts/setup-ib')];
    const r = await run('xcatexport', [...args, '--json'], w.env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(json(r).members.some((m: string) => m.endsWith('compute.pkglist')), json(r).members.join());
    assert.ok(!json(r).members.some((m: string) => m.endsWith('compute.exlist')), 'only the list asked for');

    const other = world();
    t.after(other.cleanup);
    const back = await run('xcatimport', [out], other.env);
    assert.equal(back.code, 0, back.stderr);
    const script = join(other.installRoot, 'postscripts', 'setup-ib');
    assert.equal(readFileSync(script, 'utf8'), '#!/bin/sh\necho ib\n');
    assert.equal(readFileSync((await rows(other, 'e2e-lists')).linuximage!.pkglist!, 'utf8'), 'bash\nopenssh-server\n');
  });

  test('an unknown image: exit 1 IMAGE_NOT_FOUND, no file written', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const out = join(w.dir, 'none.tgz');
    const r = await run('xcatexport', ['no-such-image', out, '--json'], w.env);
    assert.equal(r.code, 1);
    assert.equal(json(r).error.code, 'IMAGE_NOT_FOUND');
    assert.match(r.stderr, /no-such-image/);
    assert.equal(existsSync(out), false);
  });
});

describe('imgport snapshots', () => {
  test('snapshot, list, revert, prune and delete', async (t) => {
    const w = await imported(t);
    const snap = json(await run('imgport', ['snapshot', NAME, '--tgz', '--label', 'known good', '--json'], w.env));
    assert.equal(snap.label, 'known good');
    assert.equal((await run('xcatimport', [v2.path, '--force'], w.env)).code, 0);
    assertImageFiles(w, v2);

    const reverted = await run('imgport', ['revert', snap.id], w.env);
    assert.equal(reverted.code, 0, reverted.stderr);
    assert.match(reverted.stdout, new RegExp(`^Reverted ${NAME} to snapshot `));
    assertImageFiles(w, v1);
    assert.deepEqual(leftovers(w), []);

    // Three now: the labelled one, and one before each forced import (the revert is one too).
    const listed = json(await run('imgport', ['snapshots', '--json'], w.env)).snapshots;
    assert.equal(listed.length, 3);
    const pruned = await run('imgport', ['prune', NAME, '--keep', '1', '--json'], w.env);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.equal(json(pruned).removed.length, 2);
    const [kept] = json(await run('imgport', ['snapshots', NAME, '--json'], w.env)).snapshots;
    const del = await run('imgport', ['delete-snapshot', kept.id], w.env);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(existsSync(kept.path), false);
    assert.match((await run('imgport', ['snapshots'], w.env)).stdout, /^No snapshots/);
    const gone = await run('imgport', ['revert', kept.id, '--json'], w.env);
    assert.equal(gone.code, 1);
    assert.equal(readdirSync(imageDir(w, v1.spec)).includes('kernel'), true, 'a failed revert leaves the image');
  });
});

describe('MariaDB', () => {
  const DB = `imgport_t_${randomBytes(5).toString('hex')}`;
  let admin: mysql.Connection;
  before(async () => {
    admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '' });
  });
  after(async () => {
    await admin.query(`DROP DATABASE IF EXISTS \`${DB}\``);
    await admin.end();
  });

  test('import, export and re-import against xCAT tables in MariaDB', async (t) => {
    const w = world('imgport-e2e-mysql-', `mysql://root@127.0.0.1:3306/${DB}`);
    t.after(w.cleanup);
    const r = await run('xcatimport', [v1.path, '--json'], w.env);
    assert.equal(r.code, 0, r.stderr);
    const [os] = await admin.query<mysql.RowDataPacket[]>(`SELECT imagename, provmethod, osvers FROM \`${DB}\`.osimage`);
    assert.deepEqual(os.map((row) => ({ ...row })), [{ imagename: NAME, provmethod: 'netboot', osvers: 'rhels8.5.0' }]);
    assert.equal((await rows(w, NAME)).linuximage?.rootimgdir, imageDir(w, v1.spec));
    const out = join(w.dir, 'm.tgz');
    assert.equal((await run('xcatexport', [NAME, out], w.env)).code, 0);
    assert.equal((await run('xcatimport', [out, '-f', 'again'], w.env)).code, 0);
    const images = json(await run('imgport', ['images', '--json'], w.env)).images;
    assert.deepEqual(images.map((i: { osimage: { imagename: string } }) => i.osimage.imagename), [NAME, 'rhels8.5.0-x86_64-netboot-again']);
  });
});
