import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLitefileCsv, parseManifestCfg, parseManifestXml, type BundleManifest } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import type { TableStore } from '@imgport/tables';
import { ExportService } from './service.js';
import {
  addInstallImage, addNetbootImage, ARCH, BACKENDS, cpioList, extract, makeWorld, OS, run, tarList, TOOL_BYTES, type Backend, type World,
} from '../../test/support/world.js';
import type { JobProgress } from '../types.js';

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

/** The parts of a manifest every test image shares; tests add what differs. */
function model(name: string, method: BundleManifest['method'], extra: Partial<BundleManifest>): BundleManifest {
  return {
    format: 1, flavor: 'native', name, os: OS, arch: ARCH, profile: name, method,
    lists: {}, extras: [], osimage: { imagetype: 'linux', osname: 'Linux' }, linuximage: {}, kits: [], kitrepos: [], kitcomps: [],
    ...extra,
  };
}

function rejectsWith(code: string, ...parts: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof ImgportError, `expected ImgportError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of parts) assert.ok(err.message.includes(p), `"${err.message}" should mention ${p}`);
    return true;
  };
}

for (const makeBackend of BACKENDS) {
  const backend: Backend = makeBackend();
  describe(`export (${backend.name})`, () => {
    let tables: TableStore;
    let w: World;
    let exporter: ExportService;
    before(async () => {
      tables = await backend.open();
      w = await makeWorld(tables);
      exporter = new ExportService(w.deps);
    });
    after(async () => {
      await tables.close();
      await backend.dispose();
      await rm(w.base, { recursive: true, force: true });
    });

    test('native install image: manifest first, template by basename, lists when asked, SHA256SUMS last', async () => {
      const rows = await addInstallImage(w, 'diskful');
      await mkdir(join(w.installRoot, 'postscripts'), { recursive: true });
      await writeFile(join(w.installRoot, 'postscripts', 'my_cool_postscript'), '#!/bin/sh\n');
      const progress: JobProgress[] = [];
      const res = await exporter.run('diskful', {
        destination: join(w.out, 'diskful.tgz'),
        include: ['pkglist'],
        extras: [join(w.installRoot, 'postscripts', 'my_cool_postscript')],
        onProgress: (p) => progress.push(p),
      });
      const members = ['manifest.cfg', 'compute.rhels8.tmpl', 'compute.rhels8.pkglist', 'base.pkglist', 'extra/my_cool_postscript', 'SHA256SUMS'];
      assert.deepEqual(await tarList(res.path), members);
      assert.deepEqual(res.members, members);
      assert.equal(res.sha256, await sha256(res.path));
      assert.equal(res.bytes, (await stat(res.path)).size);
      assert.deepEqual([res.image, res.method, res.format, res.path], ['diskful', 'install', 'native', join(w.out, 'diskful.tgz')]);
      await run('gzip', ['-t', res.path]);
      const dir = await extract(res.path, join(w.base, 'x-diskful'));
      await run('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir });
      assert.deepEqual(
        parseManifestCfg(await readFile(join(dir, 'manifest.cfg'), 'utf8')),
        model('diskful', 'install', {
          profile: 'compute',
          media: 'required',
          template: { member: 'compute.rhels8.tmpl' },
          lists: { pkglist: [{ member: 'compute.rhels8.pkglist' }, { member: 'base.pkglist' }] },
          extras: [{ member: 'extra/my_cool_postscript', dest: 'postscripts' }],
          osimage: { imagetype: 'linux', osname: 'Linux', description: 'diskful #1' },
          linuximage: { kernelver: rows.linuximage.kernelver!, comments: 'see ticket #42' },
        }),
      );
      assert.equal(await readFile(join(dir, 'compute.rhels8.tmpl'), 'utf8'), '# kickstart\ninstall\nreboot\n');
      assert.deepEqual(new Set(progress.map((p) => p.phase)), new Set(['collect', 'write', 'done']));
      assert.deepEqual(progress.at(-1), { phase: 'done', percent: 100, bytesDone: res.bytes, bytesTotal: res.bytes });
    });

    test('native netboot image with an archive: the archive is carried byte for byte', async () => {
      const img = await addNetbootImage(w, 'nbarch', { archive: true });
      const res = await exporter.run('nbarch', { destination: join(w.out, 'nbarch.tgz') });
      assert.deepEqual(await tarList(res.path), ['manifest.cfg', 'kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz', 'SHA256SUMS']);
      const dir = await extract(res.path, join(w.base, 'x-nbarch'));
      await run('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir });
      assert.equal(await sha256(join(dir, 'rootimg.cpio.gz')), await sha256(join(img.rootimgdir, 'rootimg.cpio.gz')));
      assert.deepEqual(
        parseManifestCfg(await readFile(join(dir, 'manifest.cfg'), 'utf8')),
        model('nbarch', 'netboot', {
          kernel: { member: 'kernel' },
          initrd: { member: 'initrd-stateless.gz' },
          rootimg: { member: 'rootimg.cpio.gz' },
          // Bundles spell the install root as xCAT does, whatever this node's root is.
          linuximage: { rootimgdir: '/install/netboot/rhels8.5.0/x86_64/nbarch', kernelver: '4.18.0-348.el8.x86_64', nodebootif: 'eth0' },
        }),
      );
    });

    test('netboot image without an archive: rootimg/ is packed beside the destination, the image is untouched', async () => {
      const img = await addNetbootImage(w, 'nbtree');
      const before = (await readdir(img.rootimgdir)).sort();
      const res = await exporter.run('nbtree', { destination: join(w.out, 'nbtree.tgz') });
      assert.deepEqual(await tarList(res.path), ['manifest.cfg', 'kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz', 'SHA256SUMS']);
      const dir = await extract(res.path, join(w.base, 'x-nbtree'));
      await run('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir });
      assert.deepEqual(await cpioList(join(dir, 'rootimg.cpio.gz')), img.tree);
      assert.deepEqual((await readdir(img.rootimgdir)).sort(), before);
      assert.ok(!(await readdir(w.out)).some((n) => n.startsWith('.')), 'no temp file or pack directory is left');
    });

    test('statelite image: litefile rows travel as litefile.csv', async () => {
      await addNetbootImage(w, 'lite', { method: 'statelite', archive: true });
      const res = await exporter.run('lite', { destination: join(w.out, 'lite.tgz') });
      assert.deepEqual(await tarList(res.path), ['manifest.cfg', 'kernel', 'initrd-statelite.gz', 'rootimg.cpio.gz', 'litefile.csv', 'SHA256SUMS']);
      const dir = await extract(res.path, join(w.base, 'x-lite'));
      const m = parseManifestCfg(await readFile(join(dir, 'manifest.cfg'), 'utf8'));
      assert.deepEqual([m.method, m.initrd, m.litefile], ['statelite', { member: 'initrd-statelite.gz' }, { member: 'litefile.csv' }]);
      assert.deepEqual(
        parseLitefileCsv(await readFile(join(dir, 'litefile.csv'), 'utf8')).map((r) => [r.image, r.file, r.options]).sort(),
        [['lite', '/etc/ntp.conf', 'tmpfs'], ['lite', '/var/log/', 'persistent']],
      );
    });

    test('xcat format: everything under <image>/, manifest.xml with absolute paths, extras under extra/', async () => {
      const img = await addNetbootImage(w, 'xnb', { archive: true });
      const tools = join(w.installRoot, 'custom', 'files', 'tools');
      await mkdir(join(tools, 'sub'), { recursive: true });
      await writeFile(join(tools, 'a.sh'), 'echo a\n');
      await writeFile(join(tools, 'sub', 'b'), 'b\n');
      await symlink('a.sh', join(tools, 'link'));
      const res = await exporter.run('xnb', { destination: join(w.out, 'xnb.tgz'), format: 'xcat', extras: [tools] });
      const toolsMember = 'extra/install/custom/files/tools';
      const xdir = '/install/netboot/rhels8.5.0/x86_64/xnb';
      assert.deepEqual(await tarList(res.path), [
        'xnb/', 'xnb/manifest.xml', 'xnb/kernel', 'xnb/initrd-stateless.gz', 'xnb/rootimg.cpio.gz',
        'xnb/extra/', `xnb/${toolsMember}/`, `xnb/${toolsMember}/a.sh`, `xnb/${toolsMember}/sub/`, `xnb/${toolsMember}/sub/b`, 'xnb/SHA256SUMS',
      ]);
      assert.deepEqual(res.warnings, [`extra ${tools}: ${join(tools, 'link')} skipped (symlink; only files and directories are carried)`]);
      await run('gzip', ['-t', res.path]);
      const dir = await extract(res.path, join(w.base, 'x-xnb'));
      await run('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: join(dir, 'xnb') });
      const xml = await readFile(join(dir, 'xnb', 'manifest.xml'), 'utf8');
      assert.ok(xml.includes(`<kernel>${xdir}/kernel</kernel>`), xml);
      const m = parseManifestXml(xml);
      assert.deepEqual([m.name, m.method, m.flavor], ['xnb', 'netboot', 'xcat']);
      assert.deepEqual(m.kernel, { member: 'kernel', origin: join(xdir, 'kernel') });
      assert.deepEqual(m.initrd, { member: 'initrd-stateless.gz', origin: join(xdir, 'initrd-stateless.gz') });
      assert.deepEqual(m.rootimg, { member: 'rootimg.cpio.gz', origin: join(xdir, 'rootimg.cpio.gz') });
      assert.deepEqual(m.extras, [{ member: 'extra/tools', origin: '/install/custom/files/tools', dest: '/install/custom/files/tools' }]);
      assert.equal(m.linuximage.rootimgdir, xdir);
      assert.ok(img.rootimgdir.endsWith(xdir) && img.rootimgdir !== xdir, 'the test node has its own install root');
    });

    test('xcat statelite: rootimgtree.gz holds rootimg/ as stock imgimport unpacks it (links kept)', async () => {
      const img = await addNetbootImage(w, 'xlite', { method: 'statelite' });
      const res = await exporter.run('xlite', { destination: w.out, format: 'xcat' });
      assert.equal(res.path, join(w.out, 'xlite.tgz'));
      assert.deepEqual(await tarList(res.path), [
        'xlite/', 'xlite/manifest.xml', 'xlite/kernel', 'xlite/initrd-statelite.gz', 'xlite/rootimgtree.gz', 'xlite/litefile.csv', 'xlite/SHA256SUMS',
      ]);
      const dir = await extract(res.path, join(w.base, 'x-xlite'));
      const tree = join(dir, 'xlite', 'rootimgtree.gz');
      assert.deepEqual(await cpioList(tree), img.tree.map((n) => (n === '.' ? 'rootimg' : `rootimg/${n}`)).sort());
      const m = parseManifestXml(await readFile(join(dir, 'xlite', 'manifest.xml'), 'utf8'));
      const xdir = '/install/netboot/rhels8.5.0/x86_64/xlite';
      assert.deepEqual(m.rootimgtree, { member: 'rootimgtree.gz', origin: join(xdir, 'rootimgtree.gz') });
      assert.deepEqual(m.litefile, { member: 'litefile.csv', origin: join(xdir, 'litefile.csv') });
      // What stock imgimport does with it: zcat | cpio -idum in rootimgdir.
      const unpack = join(w.base, 'unpack-xlite');
      await mkdir(unpack);
      await run('gzip', ['-dk', tree]);
      await run('cpio', ['-idum', '--quiet', '-F', tree.replace(/\.gz$/, '')], { cwd: unpack });
      const a = await stat(join(unpack, 'rootimg', 'usr', 'bin', 'tool'));
      const b = await stat(join(unpack, 'rootimg', 'usr', 'bin', 'tool-link'));
      assert.deepEqual([a.ino, a.nlink, a.size, a.mode & 0o7777], [b.ino, 2, TOOL_BYTES, 0o755]);
      assert.equal(await readFile(join(unpack, 'rootimg', 'etc', 'hosts'), 'utf8'), '127.0.0.1 localhost\n');
    });

    test('destination: an existing directory gets <image>.tgz; the default is the current directory', async () => {
      await addNetbootImage(w, 'dest1', { archive: true });
      const sub = join(w.out, 'dir');
      await mkdir(sub);
      assert.equal((await exporter.run('dest1', { destination: sub })).path, join(sub, 'dest1.tgz'));
      const cwd = process.cwd();
      process.chdir(sub);
      try {
        await rm(join(sub, 'dest1.tgz'));
        assert.equal((await exporter.run('dest1')).path, join(sub, 'dest1.tgz'));
      } finally {
        process.chdir(cwd);
      }
      await assert.rejects(exporter.run('dest1', { destination: join(w.out, 'nowhere', 'x.tgz') }), rejectsWith('BAD_REQUEST', 'nowhere'));
    });

    test('errors: image missing from either table', async () => {
      await assert.rejects(exporter.run('ghost', { destination: w.out }), rejectsWith('IMAGE_NOT_FOUND', 'ghost', 'osimage'));
      await addNetbootImage(w, 'halfos', { archive: true });
      await backend.deleteRow('osimage', 'halfos');
      await assert.rejects(exporter.run('halfos', { destination: w.out }), rejectsWith('IMAGE_NOT_FOUND', 'halfos', 'osimage'));
      await addNetbootImage(w, 'halflinux', { archive: true });
      await backend.deleteRow('linuximage', 'halflinux');
      await assert.rejects(exporter.run('halflinux', { destination: w.out }), rejectsWith('IMAGE_NOT_FOUND', 'halflinux', 'linuximage'));
      await assert.rejects(exporter.run('../etc', { destination: w.out }), rejectsWith('BAD_REQUEST'));
    });

    test('errors: a missing template names the column and the path; a missing rootimgdir names the column', async () => {
      const rows = await addInstallImage(w, 'notmpl');
      const template = join(w.installRoot, 'custom', 'install', 'rh', 'gone.tmpl');
      await tables.writeImage('notmpl', { ...rows, linuximage: { ...rows.linuximage, template } });
      await assert.rejects(exporter.run('notmpl', { destination: w.out }), rejectsWith('FILE_MISSING', 'linuximage.template', template));
      const img = await addNetbootImage(w, 'nodir', { archive: true });
      await tables.writeImage('nodir', { ...img.rows, linuximage: { kernelver: '1' } });
      await assert.rejects(exporter.run('nodir', { destination: w.out }), rejectsWith('FILE_MISSING', 'linuximage.rootimgdir'));
      await rm(join(img.rootimgdir, 'kernel'));
      await tables.writeImage('nodir', img.rows);
      await assert.rejects(exporter.run('nodir', { destination: w.out }), rejectsWith('FILE_MISSING', 'linuximage.rootimgdir', join(img.rootimgdir, 'kernel')));
      assert.deepEqual((await readdir(w.out)).filter((n) => n.includes('notmpl') || n.includes('nodir')), []);
    });

    test('errors: extras outside the install root or missing', async () => {
      await addNetbootImage(w, 'ext', { archive: true });
      const outside = join(w.base, 'secret');
      await writeFile(outside, 'x');
      await assert.rejects(exporter.run('ext', { destination: w.out, extras: [outside] }), rejectsWith('UNSAFE_PATH', outside));
      const sneaky = join(w.installRoot, 'sneaky');
      await symlink(outside, sneaky);
      await assert.rejects(exporter.run('ext', { destination: w.out, extras: [sneaky] }), rejectsWith('UNSAFE_PATH', outside));
      const inside = join(w.installRoot, 'postscripts', 'ok');
      await mkdir(join(w.installRoot, 'postscripts'), { recursive: true });
      await writeFile(inside, 'ok');
      await assert.rejects(exporter.run('ext', { destination: w.out, extras: [`${inside}:/etc`] }), rejectsWith('UNSAFE_PATH', '/etc'));
      const missing = join(w.installRoot, 'postscripts', 'missing');
      await assert.rejects(exporter.run('ext', { destination: w.out, extras: [missing] }), rejectsWith('FILE_MISSING', 'extra', missing));
      const ok = await exporter.run('ext', { destination: w.out, extras: [`${inside}:${w.installRoot}/custom/extra`] });
      assert.deepEqual(parseManifestCfg((await run('tar', ['xzOf', ok.path, 'manifest.cfg'])).stdout).extras, [{ member: 'extra/ok', dest: 'custom/extra' }]);
    });

    test('cancelled while writing: the temp file is removed and no bundle is left', async () => {
      await addNetbootImage(w, 'abort');
      const dest = join(w.out, 'abort-dir');
      await mkdir(dest);
      const ac = new AbortController();
      // The write phase opens with a report; aborting there lands after the temp file exists.
      const onProgress = (p: JobProgress) => p.phase === 'write' && ac.abort();
      await assert.rejects(exporter.run('abort', { destination: dest, signal: ac.signal, onProgress }), rejectsWith('CANCELLED', 'abort'));
      assert.deepEqual(await readdir(dest), []);
    });
  });
}
