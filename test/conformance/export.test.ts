/**
 * Our exports read by the standard tools: GNU tar and bsdtar list and extract them, sha256sum
 * checks them, cpio -t lists the packed root image; the xcat format's manifest.xml is
 * byte-identical to stock imgexport's for the same image, and its paths spell the install
 * directory /install/ whatever this node's root is.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { ExportService, ImportService } from '@imgport/engine';
import { parseLitefileCsv } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import type { TableStore } from '@imgport/tables';
import { openStore } from '../support/stores.js';
import { fixture, fresh, listing, makeRootTree, names, paths, pipe, setColumns, tempDir, tool } from './tools.js';

const dir = tempDir('imgport-confx-');
let tables: TableStore;
// Deliberately not /install: the manifest must still say /install/.
const root = join(dir, 'xcatinstall');

before(async () => {
  tables = await openStore(`sqlite:${join(dir, 'xcatdb')}`);
  mkdirSync(root);
});
after(async () => {
  await tables.close();
  rmSync(dir, { recursive: true, force: true });
});

const exporter = () => new ExportService({ tables, installRoot: root, dataDir: join(dir, 'data') });

function put(rel: string, content: string | Buffer): string {
  const p = join(root, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
  return p;
}

describe('xcat format as stock imgexport writes it', () => {
  test('install.manifest.xml: byte-identical manifest, files flat under ./<image>/, readable by tar, bsdtar and sha256sum', async () => {
    const name = 'rhels8.5.0-x86_64-install-compute';
    put('custom/install/rh/compute.rhels8.tmpl', '# kickstart\n');
    put('custom/install/rh/compute.rhels8.pkglist', 'bash\n');
    await tables.writeImage(name, {
      osimage: { imagetype: 'linux', osarch: 'x86_64', osname: 'Linux', osvers: 'rhels8.5.0', profile: 'compute', provmethod: 'install' },
      linuximage: { pkglist: join(root, 'custom/install/rh/compute.rhels8.pkglist'), template: join(root, 'custom/install/rh/compute.rhels8.tmpl') },
      litefile: [],
    });
    const out = join(dir, 'install-x.tgz');
    const r = await exporter().run(name, { destination: out, format: 'xcat' });
    assert.deepEqual(r.warnings, []);
    const want = [name, `${name}/manifest.xml`, `${name}/compute.rhels8.tmpl`, `${name}/compute.rhels8.pkglist`, `${name}/SHA256SUMS`].sort();
    assert.deepEqual(names(tool('tar', ['tzf', out])), want);
    assert.deepEqual(names(tool('bsdtar', ['-tf', out])), want);
    const x = fresh(join(dir, 'x-install'));
    tool('tar', ['xzf', out, '-C', x]);
    assert.equal(readFileSync(join(x, name, 'manifest.xml'), 'utf8'), fixture('install.manifest.xml'));
    tool('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], join(x, name));
    const b = fresh(join(dir, 'b-install'));
    tool('bsdtar', ['-xf', out, '-C', b]);
    assert.equal(readFileSync(join(b, name, 'compute.rhels8.tmpl'), 'utf8'), '# kickstart\n');
  });

  test('-e /install/postscripts/x:/install/postscripts works on a node whose root is not /install', async () => {
    const name = 'rhels8.5.0-x86_64-install-extra';
    put('custom/install/rh/compute.rhels8.tmpl', '# kickstart\n');
    put('postscripts/myscript1', '#!/bin/sh\n');
    await tables.writeImage(name, {
      osimage: { imagetype: 'linux', osarch: 'x86_64', osname: 'Linux', osvers: 'rhels8.5.0', profile: 'compute', provmethod: 'install' },
      linuximage: { template: join(root, 'custom/install/rh/compute.rhels8.tmpl') },
      litefile: [],
    });
    const out = join(dir, 'install-e.tgz');
    await exporter().run(name, { destination: out, format: 'xcat', extras: ['/install/postscripts/myscript1:/install/postscripts'] });
    const xml = tool('tar', ['xzOf', out, `${name}/manifest.xml`]);
    assert.match(xml, /<extra>\n {4}<dest>\/install\/postscripts<\/dest>\n {4}<src>\/install\/postscripts\/myscript1<\/src>\n {2}<\/extra>/);
    assert.equal(tool('tar', ['xzOf', out, `${name}/extra/myscript1`]), '#!/bin/sh\n');
    assert.ok(!xml.includes(root), 'no path of this node leaks into the bundle');
  });

  test("statelite: rootimgtree.gz lists with cpio -t; litefile.csv carries the '' and ALL rows under the image's name", async () => {
    const name = 'sles15.4-x86_64-statelite-compute';
    const img = join(root, 'netboot/sles15.4/x86_64/compute');
    makeRootTree(join(img, 'rootimg'), 3);
    put('netboot/sles15.4/x86_64/compute/kernel', 'vmlinuz');
    put('netboot/sles15.4/x86_64/compute/initrd-statelite.gz', gzipSync('initrd'));
    await tables.writeImage(name, {
      osimage: { imagetype: 'linux', osarch: 'x86_64', osname: 'Linux', osvers: 'sles15.4', profile: 'compute', provmethod: 'statelite' },
      linuximage: { rootimgdir: img },
      litefile: [{ file: '/var/log/', options: 'persistent' }],
    });
    // The ALL rows as xCAT keeps them: litefile rows only, no osimage named ALL.
    const db = new Database(join(dir, 'xcatdb', 'litefile.sqlite'));
    db.exec(`INSERT INTO litefile (image, file, options) VALUES ('ALL', '/etc/adjtime', NULL), ('ALL', '/etc/lvm/', 'tmpfs')`);
    db.close();
    const out = join(dir, 'sl-x.tgz');
    await exporter().run(name, { destination: out, format: 'xcat' });
    assert.equal(
      tool('tar', ['xzOf', out, `${name}/litefile.csv`]),
      `"${name}","/etc/adjtime","tmpfs",,\n"${name}","/etc/lvm/","tmpfs",,\n"${name}","/var/log/","persistent",,\n`,
    );
    const x = fresh(join(dir, 'x-sl'));
    tool('tar', ['xzf', out, '-C', x]);
    const cpio = join(x, 'tree.cpio');
    pipe('gzip -dc "$1" > "$2"', join(x, name, 'rootimgtree.gz'), cpio);
    const listed = names(tool('cpio', ['-t', '--quiet', '-F', cpio]));
    assert.deepEqual(listed, ['rootimg', ...Object.keys(listing(join(img, 'rootimg'))).map((p) => `rootimg/${p}`)].sort());
    const xml = readFileSync(join(x, name, 'manifest.xml'), 'utf8');
    assert.match(xml, /<rootimgtree>\/install\/netboot\/sles15.4\/x86_64\/compute\/rootimgtree.gz<\/rootimgtree>/);
    assert.deepEqual(parseLitefileCsv(readFileSync(join(x, name, 'litefile.csv'), 'utf8')).length, 3);
  });
});

describe('list files in the xcat format', () => {
  test('carried by default; a missing one is skipped with a warning, and is an error when asked for', async () => {
    const name = 'rhels8.5.0-x86_64-install-lists';
    put('custom/install/rh/lists.tmpl', '# kickstart\n');
    put('custom/install/rh/lists.synclist', '/etc/hosts -> /etc/hosts\n');
    await tables.writeImage(name, {
      osimage: { imagetype: 'linux', osarch: 'x86_64', osname: 'Linux', osvers: 'rhels8.5.0', profile: 'lists', provmethod: 'install', synclists: join(root, 'custom/install/rh/lists.synclist') },
      linuximage: { template: join(root, 'custom/install/rh/lists.tmpl'), otherpkglist: join(root, 'custom/install/rh/gone.otherpkgs.pkglist') },
      litefile: [],
    });
    const out = join(dir, 'lists.tgz');
    const r = await exporter().run(name, { destination: out, format: 'xcat' });
    assert.deepEqual(r.warnings, [`linuximage.otherpkglist: ${join(root, 'custom/install/rh/gone.otherpkgs.pkglist')} is missing; not carried (ask for it with --include to make this an error)`]);
    const xml = tool('tar', ['xzOf', out, `${name}/manifest.xml`]);
    assert.match(xml, /<synclists>\/install\/custom\/install\/rh\/lists.synclist<\/synclists>/);
    assert.doesNotMatch(xml, /otherpkglist/);
    assert.equal(tool('tar', ['xzOf', out, `${name}/lists.synclist`]), '/etc/hosts -> /etc/hosts\n');
    await assert.rejects(exporter().run(name, { destination: join(dir, 'lists2.tgz'), format: 'xcat', include: ['otherpkglist'] }), (e: unknown) => e instanceof ImgportError && e.code === 'FILE_MISSING');
  });
});

describe('kits in the xcat format', () => {
  test('kit rows and directories travel; stock layout <image>/<kit>/; another node with another root gets the same kit', async () => {
    const name = 'rhels8.5.0-x86_64-netboot-gpu';
    const img = join(root, 'netboot/rhels8.5.0/x86_64/gpu');
    put('netboot/rhels8.5.0/x86_64/gpu/kernel', 'vmlinuz');
    put('netboot/rhels8.5.0/x86_64/gpu/initrd-stateless.gz', gzipSync('initrd'));
    const src = join(dir, 'gpu-src');
    makeRootTree(src, 2);
    pipe('cd "$1"; find . | cpio -H newc -o --quiet | xz -T1 -0 -c > "$2"', src, join(img, 'rootimg.cpio.xz'));
    put('kits/cuda-12.4-1/kit.conf', 'kit cuda\n');
    put('kits/cuda-12.4-1/repos/rhels-8-x86_64/cuda.rpm', 'rpm\n');
    await tables.writeImage(name, {
      osimage: { imagetype: 'linux', osarch: 'x86_64', osname: 'Linux', osvers: 'rhels8.5.0', profile: 'gpu', provmethod: 'netboot', kitcomponents: 'cuda_compute-12.4-1-rhels-8-x86_64' },
      linuximage: { rootimgdir: img },
      litefile: [],
      kits: {
        kit: [{ kitname: 'cuda-12.4-1', basename: 'cuda', kitdir: join(root, 'kits/cuda-12.4-1'), ostype: 'Linux', release: '1', version: '12.4' }],
        kitrepo: [{ kitreponame: 'cuda-12.4-1-rhels-8-x86_64', kitname: 'cuda-12.4-1', kitrepodir: join(root, 'kits/cuda-12.4-1/repos/rhels-8-x86_64') }],
        kitcomponent: [
          { kitcompname: 'cuda_compute-12.4-1-rhels-8-x86_64', kitname: 'cuda-12.4-1', kitreponame: 'cuda-12.4-1-rhels-8-x86_64', basename: 'cuda_compute' },
          { kitcompname: 'cuda_devel-12.4-1-rhels-8-x86_64', kitname: 'cuda-12.4-1', kitreponame: 'cuda-12.4-1-rhels-8-x86_64', basename: 'cuda_devel' },
        ],
      },
    });
    const out = join(dir, 'gpu-x.tgz');
    const r = await exporter().run(name, { destination: out, format: 'xcat' });
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(
      names(tool('tar', ['tzf', out])).filter((p) => p.includes('cuda-12.4-1')),
      ['cuda-12.4-1', 'cuda-12.4-1/kit.conf', 'cuda-12.4-1/repos', 'cuda-12.4-1/repos/rhels-8-x86_64', 'cuda-12.4-1/repos/rhels-8-x86_64/cuda.rpm'].map((p) => `${name}/${p}`),
    );
    const xml = tool('tar', ['xzOf', out, `${name}/manifest.xml`]);
    assert.ok(
      xml.includes(
        '  <kit>\n    <name>cuda-12.4-1</name>\n    <basename>cuda</basename>\n    <kitdir>/install/kits/cuda-12.4-1</kitdir>\n' +
          '    <kitname>cuda-12.4-1</kitname>\n    <ostype>Linux</ostype>\n    <release>1</release>\n    <version>12.4</version>\n  </kit>\n',
      ),
      xml,
    );
    assert.equal(xml.match(/<kitcomp>/g)?.length, 2);
    assert.match(xml, /<kitrepo>\n {4}<name>cuda-12.4-1-rhels-8-x86_64<\/name>\n {4}<kitname>cuda-12.4-1<\/kitname>\n {4}<kitrepodir>\/install\/kits\/cuda-12.4-1\/repos\/rhels-8-x86_64<\/kitrepodir>/);

    const other = join(dir, 'other-kits');
    mkdirSync(other);
    const otherTables = await openStore(`sqlite:${join(dir, 'xcatdb-kits')}`);
    try {
      await new ImportService({ tables: otherTables, installRoot: other, dataDir: join(dir, 'data-kits') }).run(out);
      assert.equal(readFileSync(join(other, 'kits/cuda-12.4-1/repos/rhels-8-x86_64/cuda.rpm'), 'utf8'), 'rpm\n');
      for (const table of ['kit', 'kitrepo', 'kitcomponent'] as const) {
        const mine = await tables.kitRows(table, 'kitname', 'cuda-12.4-1');
        const theirs = await otherTables.kitRows(table, 'kitname', 'cuda-12.4-1');
        assert.deepEqual(theirs, mine.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v?.startsWith(root) ? other + v.slice(root.length) : v]))));
      }
      assert.equal((await otherTables.getImage(name)).osimage?.kitcomponents, 'cuda_compute-12.4-1-rhels-8-x86_64');
    } finally {
      await otherTables.close();
    }
  });

  test('a native export of an image with kits says the kits are not carried', async () => {
    const r = await exporter().run('rhels8.5.0-x86_64-netboot-gpu', { destination: join(dir, 'gpu-n.tgz') });
    assert.deepEqual(r.warnings, ['osimage.kitcomponents names kits; the native format does not carry them (export with --format xcat to carry the kits)']);
  });
});

describe('native format read by the standard tools', () => {
  test('a netboot image without an archive: rootimg.cpio.gz lists with cpio -t and extracts to the same tree', async () => {
    const name = 'native-nb';
    const img = join(root, 'netboot/rhels8.5.0/x86_64/nbc');
    makeRootTree(join(img, 'rootimg'), 4);
    put('netboot/rhels8.5.0/x86_64/nbc/kernel', 'vmlinuz');
    put('netboot/rhels8.5.0/x86_64/nbc/initrd-stateless.gz', gzipSync('initrd'));
    await tables.writeImage(name, {
      osimage: { imagetype: 'linux', osarch: 'x86_64', osname: 'Linux', osvers: 'rhels8.5.0', profile: 'nbc', provmethod: 'netboot' },
      linuximage: { rootimgdir: img },
      litefile: [],
    });
    const out = join(dir, 'native-nb.tgz');
    await exporter().run(name, { destination: out });
    const want = ['manifest.cfg', 'kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz', 'SHA256SUMS'].sort();
    assert.deepEqual(names(tool('tar', ['tzf', out])), want);
    assert.deepEqual(names(tool('bsdtar', ['-tf', out])), want);
    const x = fresh(join(dir, 'x-nb'));
    tool('bsdtar', ['-xf', out, '-C', x]);
    tool('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], x);
    const cpio = join(dir, 'nb.cpio');
    pipe('gzip -dc "$1" > "$2"', join(x, 'rootimg.cpio.gz'), cpio);
    assert.deepEqual(names(tool('cpio', ['-t', '--quiet', '-F', cpio])), Object.keys(listing(join(img, 'rootimg'))).sort());
    const unpacked = fresh(join(dir, 'cpio-i'));
    tool('cpio', ['-idm', '--quiet', '-F', cpio], unpacked);
    // GNU cpio -m does not set a symlink's own mtime: compare those without it.
    const noLinkTimes = (l: ReturnType<typeof listing>) =>
      Object.fromEntries(Object.entries(l).map(([k, e]) => [k, e.type === 'symlink' ? { ...e, mtime: 0 } : e]));
    assert.deepEqual(noLinkTimes(listing(unpacked)), noLinkTimes(listing(join(img, 'rootimg'))));
    assert.match(readFileSync(join(x, 'manifest.cfg'), 'utf8'), /^linuximage\.rootimgdir \/install\/netboot\/rhels8\.5\.0\/x86_64\/nbc$/m);
  });

  test('moved between two nodes with different install roots, no flag: same rows (paths on its own root), same tree', async () => {
    const out = join(dir, 'native-nb.tgz');
    const other = join(dir, 'srv-xcat');
    mkdirSync(other);
    const otherTables = await openStore(`sqlite:${join(dir, 'xcatdb-other')}`);
    try {
      await new ImportService({ tables: otherTables, installRoot: other, dataDir: join(dir, 'data-other') }).run(out);
      const img = join(other, 'netboot/rhels8.5.0/x86_64/nbc');
      assert.deepEqual(listing(join(img, 'rootimg')), listing(join(root, 'netboot/rhels8.5.0/x86_64/nbc/rootimg')));
      assert.deepEqual(setColumns((await otherTables.getImage('native-nb')).linuximage), { imagename: 'native-nb', rootimgdir: img });
      assert.deepEqual(paths(other), [
        'netboot',
        'netboot/rhels8.5.0',
        'netboot/rhels8.5.0/x86_64',
        'netboot/rhels8.5.0/x86_64/nbc',
        'netboot/rhels8.5.0/x86_64/nbc/initrd-stateless.gz',
        'netboot/rhels8.5.0/x86_64/nbc/kernel',
        'netboot/rhels8.5.0/x86_64/nbc/rootimg',
        'netboot/rhels8.5.0/x86_64/nbc/rootimg.cpio.gz',
      ]);
    } finally {
      await otherTables.close();
    }
  });
});
