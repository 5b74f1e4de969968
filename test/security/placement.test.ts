/**
 * Placement attacks, as root would run them: each builds its hostile bundle here, runs the real
 * ImportService against a temp install root and SQLite tables, and checks the refusal names
 * the problem, nothing was written outside the root and no other image changed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { makeXcatBundle } from '../support/bundles.js';
import { fingerprint, hostileBundle, imageState, imgDir, refused, site, type Site } from './helpers.js';

describe('placement attacks', () => {
  let s: Site;
  beforeEach(async () => {
    s = await site();
  });
  afterEach(async () => {
    await s.close();
  });

  /** Image A with `rootimg/hostetc -> <outside>` (absolute links are normal in a root image). */
  async function imageWithLink(): Promise<{ name: string; dir: string; before: unknown }> {
    const outside = s.outside;
    const a = await hostileBundle(s.dir, {
      name: 'img-a',
      tree: (t) => {
        mkdirSync(join(t, 'etc'));
        mkdirSync(join(t, 'root/.ssh'), { recursive: true });
        writeFileSync(join(t, 'root/.ssh/authorized_keys'), 'ssh-ed25519 AAAA owner\n');
        symlinkSync(outside, join(t, 'hostetc'));
      },
    });
    await s.service().run(a);
    const dir = imgDir(s);
    return { name: 'img-a', dir, before: await imageState(s, 'img-a', dir) };
  }

  test("extra through another image's rootimg symlink is refused, nothing written outside", async () => {
    const a = await imageWithLink();
    const b = await hostileBundle(s.dir, { name: 'img-b', profile: 'b', extras: [{ file: 'evil', content: 'pwned', dest: '/install/netboot/rhels8.5.0/x86_64/compute/rootimg/hostetc' }] });
    await refused(s.service().run(b), 'CONFLICT', /belongs to the image img-a/);
    await refused(s.service().run(b, { force: true }), 'CONFLICT', /belongs to the image img-a/);
    assert.deepEqual(readdirSync(s.outside), []);
    assert.deepEqual(await imageState(s, a.name, a.dir), a.before);
    assert.equal((await s.tables.getImage('img-b')).osimage, undefined);
  });

  test('extra through a symlink left in the install root is refused, naming the link', async () => {
    // Files of an image whose rows are gone (or any link an admin left): no rows protect them.
    mkdirSync(join(s.root, 'postscripts'), { recursive: true });
    symlinkSync(s.outside, join(s.root, 'postscripts/site'));
    const b = await hostileBundle(s.dir, { name: 'img-b', extras: [{ file: 'evil', content: 'pwned', dest: '/install/postscripts/site/cron.d' }] });
    const err = await refused(s.service().run(b, { force: true }), 'UNSAFE_PATH', /through the symlink .*postscripts\/site/);
    assert.equal(err.where, join(s.root, 'postscripts/site'));
    assert.deepEqual(readdirSync(s.outside), []);
  });

  test('xCAT rootimgdir through a symlink is refused: no expanded tree outside the root', async () => {
    await imageWithLink();
    const { path } = await makeXcatBundle(s.dir, 'netboot.manifest.xml', (x) =>
      x
        .replaceAll('<imagename>rhels8.5.0-x86_64-netboot-compute</imagename>', '<imagename>img-evil</imagename>')
        .replaceAll('/install/netboot/rhels8.5.0/x86_64/compute', '/install/netboot/rhels8.5.0/x86_64/compute/rootimg/hostetc/evil'),
    );
    await refused(s.service().run(path, { force: true }), 'CONFLICT', /belongs to the image img-a/);
    assert.deepEqual(readdirSync(s.outside), []);
  });

  test('a symlink planted between plan and commit is refused at commit, before the rename', async () => {
    mkdirSync(join(s.root, 'postscripts'), { recursive: true });
    const b = await hostileBundle(s.dir, { name: 'img-b', extras: [{ file: 'late', content: 'x', dest: '/install/postscripts/late' }] });
    // The image lock is taken after the plan was checked and before the commit: swap the path then.
    const lease = { token: 'test-lease', release: async () => undefined };
    const leases = {
      acquire: async () => {
        symlinkSync(s.outside, join(s.root, 'postscripts/late'));
        return lease;
      },
      tryAcquire: async () => lease,
      holder: async () => undefined,
    };
    await refused(s.service({ leases }).run(b), 'UNSAFE_PATH', /through the symlink .*postscripts\/late/);
    assert.deepEqual(readdirSync(s.outside), []);
    assert.equal((await s.tables.getImage('img-b')).osimage, undefined);
  });

  test('forced self-update turning a directory into a symlink cannot write through it', async () => {
    const v1 = await hostileBundle(s.dir, { name: 'img-a', tree: (t) => mkdirSync(join(t, 'd')) });
    await s.service().run(v1);
    const outside = s.outside;
    const v2 = await hostileBundle(s.dir, {
      name: 'img-a',
      tree: (t) => symlinkSync(outside, join(t, 'd')),
      extras: [{ file: 'evil', content: 'pwned', dest: '/install/netboot/rhels8.5.0/x86_64/compute/rootimg/d' }],
    });
    await refused(s.service().run(v2, { force: true }), 'UNSAFE_PATH', /inside the image's root filesystem/);
    assert.deepEqual(readdirSync(s.outside), []);
  });

  test("extra into imgport's journal directory is refused", async () => {
    const b = await hostileBundle(s.dir, { name: 'img-b', extras: [{ file: 'j.json', content: '{"state":"prepared"}', dest: '.imgport/journal' }] });
    await refused(s.service().run(b, { force: true }), 'UNSAFE_PATH', /imgport's own work area/);
    assert.equal(existsSync(join(s.root, '.imgport/journal/j.json')), false);
  });

  test("xCAT kernel inside imgport's journal directory is refused", async () => {
    const { path } = await makeXcatBundle(s.dir, 'netboot.manifest.xml', (x) =>
      x.replace('<kernel>/install/netboot/rhels8.5.0/x86_64/compute/kernel</kernel>', '<kernel>/install/.imgport/journal/j.json</kernel>'),
    );
    await refused(s.service().run(path), 'UNSAFE_PATH', /imgport's own work area/);
    assert.equal(existsSync(join(s.root, '.imgport/journal/j.json')), false);
    // The next import still works: nothing was planted.
    await s.service().run(await hostileBundle(s.dir, { name: 'img-c', profile: 'c' }));
  });

  test("extra planting authorized_keys into another image's rootimg is refused", async () => {
    const a = await imageWithLink();
    const b = await hostileBundle(s.dir, { name: 'img-b', profile: 'b', extras: [{ file: 'authorized_keys', content: 'ssh-ed25519 AAAA attacker\n', dest: '/install/netboot/rhels8.5.0/x86_64/compute/rootimg/root/.ssh' }] });
    await refused(s.service().run(b), 'CONFLICT', /belongs to the image img-a/);
    await refused(s.service().run(b, { force: true }), 'CONFLICT', /belongs to the image img-a/);
    assert.deepEqual(await imageState(s, a.name, a.dir), a.before);
  });

  test("forced import naming another image's kernel does not replace it", async () => {
    const a = await imageWithLink();
    // Another image whose xCAT manifest puts its boot files where img-a's are.
    const { path } = await makeXcatBundle(s.dir, 'netboot.manifest.xml', (x) =>
      x.replaceAll('<imagename>rhels8.5.0-x86_64-netboot-compute</imagename>', '<imagename>img-b</imagename>'),
    );
    await refused(s.service().run(path, { force: true }), 'CONFLICT', /kernel.*belongs to the image img-a/);
    assert.deepEqual(await imageState(s, a.name, a.dir), a.before);
  });

  test("forced import replacing another image's template or list is refused", async () => {
    const a = await imageWithLink();
    const list = join(s.root, 'custom/netboot/rh/compute.synclist');
    mkdirSync(join(s.root, 'custom/netboot/rh'), { recursive: true });
    writeFileSync(list, 'owned by img-a\n');
    const rows = await s.tables.getImage('img-a');
    await s.tables.writeImage('img-a', { osimage: { ...rows.osimage!, synclists: list }, linuximage: rows.linuximage!, litefile: rows.litefile });
    const { path } = await makeXcatBundle(s.dir, 'netboot.manifest.xml', (x) =>
      x
        .replaceAll('<imagename>rhels8.5.0-x86_64-netboot-compute</imagename>', '<imagename>img-b</imagename>')
        .replaceAll('/install/netboot/rhels8.5.0/x86_64/compute', '/install/netboot/rhels8.5.0/x86_64/b'),
    );
    await refused(s.service().run(path, { force: true }), 'CONFLICT', /synclists of the image img-a/);
    assert.equal(readFileSync(list, 'utf8'), 'owned by img-a\n');
    assert.deepEqual(fingerprint(a.dir), (a.before as { files: string[] }).files);
  });

  test('extra naming a file the manifest already places (two moves from one staged file) is refused before anything moves', async () => {
    const b = await hostileBundle(s.dir, { name: 'img-b', lines: ['extra kernel:/install/postscripts'] });
    await refused(s.service().run(b), 'MANIFEST_INVALID', /placed twice, as kernel at .* and as extra kernel/);
    assert.deepEqual(fingerprint(s.root), []);
  });

  test("extra destination equal to the kernel's path is refused", async () => {
    const b = await hostileBundle(s.dir, { name: 'img-b', extras: [{ file: 'kernel', content: 'not a kernel', dest: '/install/netboot/rhels8.5.0/x86_64/compute' }] });
    await refused(s.service().run(b), 'MANIFEST_INVALID', /both be placed at .*compute\/kernel/);
    assert.deepEqual(fingerprint(s.root), []);
  });

  test("extra inside the image's own rootimg/ is refused", async () => {
    const b = await hostileBundle(s.dir, { name: 'img-b', extras: [{ file: 'shadow', content: 'root::0:0', dest: '/install/netboot/rhels8.5.0/x86_64/compute/rootimg/etc' }] });
    await refused(s.service().run(b), 'UNSAFE_PATH', /inside the image's root filesystem/);
    assert.deepEqual(fingerprint(s.root), []);
  });

  test("extra into the rootimg/ of an image whose rows are gone (standard layout) is refused", async () => {
    mkdirSync(join(imgDir(s, 'orphan'), 'rootimg/etc'), { recursive: true });
    const b = await hostileBundle(s.dir, { name: 'img-b', extras: [{ file: 'shadow', content: 'root::0:0', dest: '/install/netboot/rhels8.5.0/x86_64/orphan/rootimg/etc' }] });
    await refused(s.service().run(b, { force: true }), 'UNSAFE_PATH', /inside the root filesystem .*orphan\/rootimg/);
    assert.equal(existsSync(join(imgDir(s, 'orphan'), 'rootimg/etc/shadow')), false);
  });

  test('extra below another extra of the same bundle (a file and a directory at one path) is refused', async () => {
    const b = await hostileBundle(s.dir, {
      name: 'img-b',
      extras: [
        { file: 'x', content: 'file', dest: '/install/postscripts' },
        { file: 'y', content: 'below', dest: '/install/postscripts/x' },
      ],
    });
    await refused(s.service().run(b), 'MANIFEST_INVALID', /below .*postscripts\/x, which the bundle places as extra x/);
    assert.deepEqual(fingerprint(s.root), []);
  });

  test('a file onto an existing directory is refused, even with --force', async () => {
    mkdirSync(join(s.root, 'postscripts/myscript/keep'), { recursive: true });
    const b = await hostileBundle(s.dir, { name: 'img-b', extras: [{ file: 'myscript', content: 'x', dest: '/install/postscripts' }] });
    const before = fingerprint(s.root);
    await refused(s.service().run(b, { force: true }), 'CONFLICT', /postscripts\/myscript is a directory/);
    assert.deepEqual(fingerprint(s.root), before);
  });

  test('a destination below an existing file is refused clearly', async () => {
    mkdirSync(join(s.root, 'postscripts'), { recursive: true });
    writeFileSync(join(s.root, 'postscripts/x'), 'a file\n');
    const b = await hostileBundle(s.dir, { name: 'img-b', extras: [{ file: 'y', content: 'x', dest: '/install/postscripts/x' }] });
    await refused(s.service().run(b, { force: true }), 'CONFLICT', /postscripts\/x exists and is not a directory/);
  });

  test('a forced import of the same image still replaces its own files', async () => {
    await s.service().run(await hostileBundle(s.dir, { name: 'img-a' }));
    const r = await s.service().run(await hostileBundle(s.dir, { name: 'img-a', tree: (t) => writeFileSync(join(t, 'v2'), 'v2') }), { force: true });
    assert.equal(r.name, 'img-a');
    assert.equal(readFileSync(join(imgDir(s), 'rootimg/v2'), 'utf8'), 'v2');
    rmSync(join(imgDir(s), 'rootimg/v2'));
  });
});

describe('path columns carried by a bundle', () => {
  test('path columns pointing anywhere (pkgdir /etc, kerneldir /) are not written; under the exporting root they are rebased', async () => {
    const s = await site();
    try {
      const b = await hostileBundle(s.dir, {
        name: 'img-cols',
        lines: [
          'linuximage.pkgdir /etc',
          'linuximage.kerneldir /',
          'osimage.cfmdir /tmp/evil',
          'linuximage.otherpkgdir /install/post/otherpkgs,/srv/elsewhere,/opt/xcat/share/xcat/netboot/rh',
          'linuximage.driverupdatesrc dud:../../etc/passwd',
          'linuximage.kernelver /opt/not-a-path-column',
        ],
      });
      const r = await s.service().run(b);
      const row = (await s.tables.getImage('img-cols')).linuximage!;
      assert.equal(row.pkgdir, null);
      assert.equal(row.kerneldir, null);
      assert.equal((await s.tables.getImage('img-cols')).osimage?.cfmdir, null);
      assert.equal(row.driverupdatesrc, null);
      assert.equal(row.otherpkgdir, `${join(s.root, 'post/otherpkgs')},/opt/xcat/share/xcat/netboot/rh`);
      assert.equal(row.kernelver, '/opt/not-a-path-column');
      for (const col of ['linuximage.pkgdir /etc', 'linuximage.kerneldir /', 'osimage.cfmdir /tmp/evil', 'linuximage.otherpkgdir /srv/elsewhere']) {
        assert.ok(r.warnings.some((w) => w.includes(`${col} lies outside`)), `${col}: ${r.warnings.join(' | ')}`);
      }
      assert.ok(r.warnings.some((w) => w.includes('driverupdatesrc dud:../../etc/passwd climbs out')), r.warnings.join(' | '));
    } finally {
      await s.close();
    }
  });
});
