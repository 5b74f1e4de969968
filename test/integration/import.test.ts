/**
 * The import engine against real tables (SQLite files and MariaDB) and a real install root:
 * every method, both bundle formats, rename/re-profile, force, dry run, conflicts, extras.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { currentOwner, ImportService, type Owner } from '@imgport/engine';
import { ImgportError, type ErrorCode } from '@imgport/runtime';
import type { TableStore } from '@imgport/tables';
import { makeNativeBundle, makeXcatBundle, tempDir } from '../support/bundles.js';
import { BACKENDS, openStore } from '../support/stores.js';

/** Every path under a directory with type and mode: compared whole before and after a failure. */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${relative(root, p)} ${st.mode.toString(8)} ${st.isFile() ? st.size : ''}`);
      if (st.isDirectory() && name !== '.imgport') walk(p);
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

async function fails(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ImgportError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

for (const backend of BACKENDS) {
  describe(`import on ${backend.name}`, () => {
    const dir = tempDir();
    let url: string;
    let tables: TableStore;
    let root: string;
    let n = 0;
    const service = () => new ImportService({ tables, installRoot: root, dataDir: join(dir, 'data') });

    before(async () => {
      url = await backend.fresh(dir);
      tables = await openStore(url);
    });
    after(async () => {
      await tables.close();
      await backend.drop(url);
      rmSync(dir, { recursive: true, force: true });
    });
    const freshRoot = () => {
      root = join(dir, `install${n++}`);
      mkdirSync(root);
      return root;
    };

    test('netboot: files placed, root image expanded with modes and links, rows written', async () => {
      freshRoot();
      const bundle = await makeNativeBundle(dir, { name: `nb-${backend.name}` });
      const r = await service().run(bundle);
      const d = join(root, 'netboot/rhels8.5.0/x86_64/compute');
      assert.deepEqual(r.paths.sort(), [join(d, 'initrd-stateless.gz'), join(d, 'kernel'), join(d, 'rootimg'), join(d, 'rootimg.cpio.gz')]);
      assert.equal(readFileSync(join(d, 'rootimg/etc/hostname'), 'utf8'), 'node01\n');
      assert.equal(readlinkSync(join(d, 'rootimg/bin')), 'usr/bin');
      assert.equal(readlinkSync(join(d, 'rootimg/lib')), '/usr/lib');
      assert.equal(statSync(join(d, 'rootimg/usr/bin/ping')).mode & 0o7777, 0o4755);
      assert.equal(statSync(join(d, 'rootimg/usr/bin/ping')).ino, statSync(join(d, 'rootimg/usr/bin/ping6')).ino);
      assert.equal(statSync(join(d, 'rootimg/tmp')).mode & 0o7777, 0o1777);
      assert.ok(lstatSync(join(d, 'rootimg/etc/initctl')).isFIFO());
      const rec = await tables.getImage(r.name);
      assert.deepEqual(
        [rec.osimage?.imagename, rec.osimage?.provmethod, rec.osimage?.osvers, rec.osimage?.osarch, rec.osimage?.profile, rec.osimage?.imagetype, rec.osimage?.osname],
        [`nb-${backend.name}`, 'netboot', 'rhels8.5.0', 'x86_64', 'compute', 'linux', 'Linux'],
      );
      assert.equal(rec.linuximage?.rootimgdir, d);
      assert.deepEqual(r.warnings, []);
      assert.equal(existsSync(join(root, '.imgport/tx')) ? readdirSync(join(root, '.imgport/tx')).length : 0, 0);
    });

    test('install: template and pkglist in custom/<os>/<arch>, media warning until copycds', async () => {
      freshRoot();
      const bundle = await makeNativeBundle(dir, { name: `inst-${backend.name}`, method: 'install' });
      const r = await service().run(bundle);
      const custom = join(root, 'custom/rhels8.5.0/x86_64');
      assert.equal(readFileSync(join(custom, 'compute.tmpl'), 'utf8'), '# kickstart\n');
      const rec = await tables.getImage(r.name);
      assert.deepEqual([rec.linuximage?.template, rec.linuximage?.pkglist, rec.linuximage?.rootimgdir ?? null], [join(custom, 'compute.tmpl'), join(custom, 'compute.pkglist'), null]);
      assert.match(r.warnings.join('\n'), /copycds/);
      mkdirSync(join(root, 'rhels8.5.0/x86_64'), { recursive: true });
      const again = await service().run(bundle, { name: `inst2-${backend.name}` });
      assert.deepEqual(again.warnings, []);
    });

    test('statelite: initrd-statelite.gz and litefile rows under the imported name', async () => {
      freshRoot();
      const csv = '#image,file,options,comments,disable\n"old","/etc/adjtime","tmpfs",,\n"old","/var/log/","persistent",,\n';
      const bundle = await makeNativeBundle(dir, { name: `sl-${backend.name}`, method: 'statelite', litefile: csv });
      const r = await service().run(bundle);
      assert.ok(existsSync(join(root, 'netboot/rhels8.5.0/x86_64/compute/initrd-statelite.gz')));
      const rec = await tables.getImage(r.name);
      assert.deepEqual(
        rec.litefile.map((l) => [l.image, l.file, l.options]).sort(),
        [[r.name, '/etc/adjtime', 'tmpfs'], [r.name, '/var/log/', 'persistent']],
      );
    });

    test('re-profile (-f) renames to <os>-<arch>-<method>-<profile> and moves the paths', async () => {
      freshRoot();
      const bundle = await makeNativeBundle(dir, { name: `rp-${backend.name}` });
      const r = await service().run(bundle, { profile: 'gpu' });
      assert.equal(r.name, 'rhels8.5.0-x86_64-netboot-gpu');
      const rec = await tables.getImage(r.name);
      assert.equal(rec.osimage?.profile, 'gpu');
      assert.equal(rec.linuximage?.rootimgdir, join(root, 'netboot/rhels8.5.0/x86_64/gpu'));
      assert.ok(existsSync(join(root, 'netboot/rhels8.5.0/x86_64/gpu/rootimg/etc/hostname')));
      const named = await service().run(bundle, { name: `renamed-${backend.name}`, profile: 'other' });
      assert.equal(named.name, `renamed-${backend.name}`);
      await tables.deleteImage(r.name);
    });

    test('an existing image is a conflict without force and nothing changes', async () => {
      freshRoot();
      const bundle = await makeNativeBundle(dir, { name: `cf-${backend.name}` });
      await service().run(bundle);
      const beforeTree = listing(root);
      const beforeRows = await tables.getImage(`cf-${backend.name}`);
      await fails(service().run(bundle), 'IMAGE_EXISTS', /already exists; use --force/);
      assert.deepEqual(listing(root), beforeTree);
      assert.deepEqual(await tables.getImage(`cf-${backend.name}`), beforeRows);
    });

    test('force replaces the image and reports the replaced files gone', async () => {
      freshRoot();
      const name = `fo-${backend.name}`;
      await service().run(await makeNativeBundle(dir, { name }));
      const marker = join(root, 'netboot/rhels8.5.0/x86_64/compute/rootimg/old-marker');
      writeFileSync(marker, 'old');
      const r = await service().run(await makeNativeBundle(dir, { name, lines: ['osimage.comments replaced'] }), { force: true });
      assert.equal(existsSync(marker), false);
      assert.equal((await tables.getImage(name)).osimage?.comments, 'replaced');
      assert.equal(r.name, name);
    });

    test('dry run reports the plan and writes nothing', async () => {
      freshRoot();
      const bundle = await makeNativeBundle(dir, { name: `dry-${backend.name}` });
      const r = await service().run(bundle, { dryRun: true });
      assert.equal(r.dryRun, true);
      assert.ok(r.paths.includes(join(root, 'netboot/rhels8.5.0/x86_64/compute/rootimg')));
      assert.deepEqual(listing(root).filter((l) => !l.startsWith('.imgport')), []);
      assert.deepEqual(await tables.getImage(`dry-${backend.name}`), { litefile: [] });
    });

    test('extras land inside the install root; outside it they are refused unless allowed', async () => {
      freshRoot();
      const ok = await makeNativeBundle(dir, { name: `ex-${backend.name}`, extras: [{ file: 'myscript', content: '#!/bin/sh\n', dest: '/install/postscripts' }] });
      await service().run(ok);
      assert.equal(readFileSync(join(root, 'postscripts/myscript'), 'utf8'), '#!/bin/sh\n');
      const bad = await makeNativeBundle(dir, { name: `ex2-${backend.name}`, profile: 'p2', extras: [{ file: 'evil', content: 'x', dest: '/etc/cron.d' }] });
      const beforeTree = listing(root);
      await fails(service().run(bad), 'UNSAFE_PATH', /\/etc\/cron\.d.*outside the install root/);
      assert.deepEqual(listing(root), beforeTree);
      const allowed = join(dir, 'site-scripts');
      const ok2 = await makeNativeBundle(dir, { name: `ex3-${backend.name}`, profile: 'p3', extras: [{ file: 'site', content: 'y', dest: allowed }] });
      await new ImportService({ tables, installRoot: root, dataDir: join(dir, 'data'), allow: [allowed] }).run(ok2);
      assert.equal(readFileSync(join(allowed, 'site'), 'utf8'), 'y');
    });

    test('a destination file with other content is a conflict, an identical one is reused', async () => {
      freshRoot();
      const custom = join(root, 'custom/rhels8.5.0/x86_64');
      mkdirSync(custom, { recursive: true });
      writeFileSync(join(custom, 'compute.tmpl'), '# someone else\n');
      const bundle = await makeNativeBundle(dir, { name: `dc-${backend.name}`, method: 'install' });
      await fails(service().run(bundle), 'CONFLICT', /compute\.tmpl.*already exists with other content/);
      writeFileSync(join(custom, 'compute.tmpl'), '# kickstart\n');
      const r = await service().run(bundle);
      assert.equal(r.name, `dc-${backend.name}`);
    });

    test('a bundle failing verification leaves the install root and the tables as they were', async () => {
      freshRoot();
      const good = await makeNativeBundle(dir, { name: `bad-${backend.name}` });
      const buf = readFileSync(good);
      const broken = join(dir, 'broken.tgz');
      writeFileSync(broken, buf.subarray(0, Math.floor(buf.length / 2)));
      const beforeTree = listing(root);
      await fails(service().run(broken), 'BUNDLE_INVALID', /gzip|truncated|unexpected end/i);
      assert.deepEqual(listing(root), beforeTree);
      assert.deepEqual(await tables.getImage(`bad-${backend.name}`), { litefile: [] });
    });

    for (const fixture of ['netboot.manifest.xml', 'netboot-two-kits-two-extras.manifest.xml', 'netboot-one-kit.manifest.xml', 'statelite.manifest.xml', 'install.manifest.xml', 'netboot-2.7-flat.manifest.xml']) {
      test(`stock xCAT bundle ${fixture}: paths rebased onto the install root`, async () => {
        freshRoot();
        const { path, name } = await makeXcatBundle(dir, fixture);
        const r = await service().run(path);
        assert.equal(r.name, name);
        for (const p of r.paths) assert.ok(p.startsWith(root + '/'), `${p} inside the install root`);
        const rec = await tables.getImage(name);
        assert.ok(rec.osimage && rec.linuximage, 'both rows written');
        if (r.method !== 'install') {
          assert.ok(rec.linuximage.rootimgdir?.startsWith(join(root, 'netboot')), String(rec.linuximage.rootimgdir));
          assert.ok(existsSync(join(rec.linuximage.rootimgdir!, 'rootimg/etc/hostname')), 'root image expanded');
          assert.ok(existsSync(join(rec.linuximage.rootimgdir!, 'kernel')));
        } else {
          assert.ok(existsSync(rec.linuximage.template!), 'template placed');
        }
        assert.match(r.warnings.join('\n'), /SHA256SUMS/);
        await tables.deleteImage(name);
      });
    }
  });
}

describe('import rejections that do not depend on the backend', () => {
  const dir = tempDir();
  let tables: TableStore;
  let root: string;
  let n = 0;
  const service = (allow: string[] = []) => new ImportService({ tables, installRoot: root, dataDir: join(dir, 'data'), allow });
  before(async () => {
    tables = await openStore(`sqlite:${join(dir, 'db')}`);
  });
  after(async () => {
    await tables.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const freshRoot = () => {
    root = join(dir, `install${n++}`);
    mkdirSync(root);
  };

  test('a missing bundle file is NOT_FOUND naming it', async () => {
    freshRoot();
    await fails(service().run(join(dir, 'nope.tgz')), 'NOT_FOUND', /nope\.tgz/);
  });

  test('an image locked by a live process is LOCKED; a dead holder\'s lock is taken over', async () => {
    freshRoot();
    const bundle = await makeNativeBundle(dir, { name: 'locked' });
    const locks = join(root, '.imgport/locks');
    mkdirSync(locks, { recursive: true });
    const lock = (owner: Owner) => JSON.stringify({ v: 1, image: 'locked', owner });
    writeFileSync(join(locks, 'locked.lock'), lock(currentOwner()));
    await fails(service().run(bundle), 'LOCKED', /image locked is being changed by process \d+/);
    assert.deepEqual(await tables.getImage('locked'), { litefile: [] });
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    writeFileSync(join(locks, 'locked.lock'), lock({ ...currentOwner(), pid: dead }));
    assert.equal((await service().run(bundle)).name, 'locked');
    assert.equal(existsSync(join(locks, 'locked.lock')), false);
  });

  test('an xCAT boot file outside the exporting install root is refused unless allowed', async () => {
    freshRoot();
    const elsewhere = (xml: string) => xml.replace(/\/install\/netboot\/centos6\.3\/x86_64\/compute\/kernel/, '/boot/images/kernel');
    const { path } = await makeXcatBundle(dir, 'netboot-2.7-flat.manifest.xml', elsewhere);
    const before = listing(root);
    await fails(service().run(path), 'UNSAFE_PATH', /kernel \/boot\/images\/kernel lies outside the install root/);
    assert.deepEqual(listing(root), before);
    const r = await service(['/boot/images']).run(path, { dryRun: true });
    assert.ok(r.paths.includes('/boot/images/kernel'));
  });

  test('two files placed at one path are refused', async () => {
    freshRoot();
    const clash = await makeNativeBundle(dir, { name: 'clash', lines: ['extra kernel:netboot/rhels8.5.0/x86_64/compute'] });
    await fails(service().run(clash), 'MANIFEST_INVALID', /would both be placed at .*compute\/kernel/);
    assert.deepEqual(await tables.getImage('clash'), { litefile: [] });
  });
});
