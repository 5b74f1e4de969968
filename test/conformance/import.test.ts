/**
 * Bundles and root images made by the standard tools import exactly: `tar czf b.tgz -C dir .`
 * (first member "./"), plain and xz tar, bsdtar, pax with xattrs; root images from
 * `find . | cpio -H newc -o` (a "." entry) through gzip, pigz and xz, and tar root images with
 * "./" names; stock imgexport's `./<imagename>/manifest.xml` layout from the shared fixtures.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { parseManifestXml, referencedMembers } from '@imgport/format';
import { ImportService } from '@imgport/engine';
import { ImgportError } from '@imgport/runtime';
import type { TableStore } from '@imgport/tables';
import { openStore } from '../support/stores.js';
import {
  fixture,
  fresh,
  listing,
  makeRootTree,
  packOuter,
  packRoot,
  paths,
  pipe,
  ROOTIMG_NAME,
  setColumns,
  tempDir,
  tool,
  writeSha256Sums,
  type OuterPacker,
  type RootPacker,
} from './tools.js';

const dir = tempDir('imgport-conf-');
const source = join(dir, 'rootsrc');
let tables: TableStore;
let n = 0;

before(async () => {
  tables = await openStore(`sqlite:${join(dir, 'xcatdb')}`);
  makeRootTree(source, 8);
});
after(async () => {
  await tables.close();
  rmSync(dir, { recursive: true, force: true });
});

function world() {
  const root = join(dir, `install${n++}`);
  mkdirSync(root);
  return { root, service: new ImportService({ tables, installRoot: root, dataDir: join(dir, `data${n}`) }) };
}

/** A native bundle directory: manifest.cfg, boot files, a root image packed by `how`, SHA256SUMS from sha256sum. */
function nativeDir(name: string, how: RootPacker): string {
  const d = fresh(join(dir, `stage-${name}`));
  const rootimg = ROOTIMG_NAME[how];
  writeFileSync(join(d, 'manifest.cfg'), [`name ${name}`, 'os rhels8.5.0', 'arch x86_64', 'profile compute', 'method netboot', 'kernel kernel', 'initrd initrd-stateless.gz', `rootimg ${rootimg}`, ''].join('\n'));
  writeFileSync(join(d, 'kernel'), 'vmlinuz\n');
  writeFileSync(join(d, 'initrd-stateless.gz'), gzipSync('initrd'));
  packRoot(source, join(d, rootimg), how);
  writeSha256Sums(d);
  return d;
}

const NATIVE_ROWS = (name: string) => ({
  osimage: { imagename: name, imagetype: 'linux', osname: 'Linux', osvers: 'rhels8.5.0', osarch: 'x86_64', profile: 'compute', provmethod: 'netboot' },
  linuximage: { imagename: name, rootimgdir: '' },
});

describe('outer bundles packed with tar -C dir . (first member "./")', () => {
  const cases: Array<[OuterPacker, RootPacker]> = [
    ['tar czf', 'cpio|gzip'],
    ['tar cf', 'cpio|pigz'],
    ['tar cJf', 'cpio|xz'],
    ['bsdtar czf', 'tar-gz'],
    ['tar --xattrs --format=posix czf', 'tar-xz-posix-xattrs'],
  ];
  for (const [outer, inner] of cases) {
    test(`${outer} of a native bundle, root image by ${inner}: exact tree and rows`, async () => {
      const name = `conf-${n}-netboot-compute`;
      const d = nativeDir(name, inner);
      const bundle = join(dir, `${name}.bundle`);
      packOuter(d, bundle, outer);
      assert.equal(tool(outer.startsWith('bsdtar') ? 'bsdtar' : 'tar', ['tf', bundle]).split('\n')[0], './', 'the tool wrote a "./" member first');
      const { root, service } = world();
      const r = await service.run(bundle);
      const img = join(root, 'netboot/rhels8.5.0/x86_64/compute');
      assert.deepEqual(listing(join(img, 'rootimg')), listing(source));
      assert.deepEqual(paths(root), [
        'netboot',
        'netboot/rhels8.5.0',
        'netboot/rhels8.5.0/x86_64',
        'netboot/rhels8.5.0/x86_64/compute',
        'netboot/rhels8.5.0/x86_64/compute/initrd-stateless.gz',
        'netboot/rhels8.5.0/x86_64/compute/kernel',
        'netboot/rhels8.5.0/x86_64/compute/rootimg',
        `netboot/rhels8.5.0/x86_64/compute/${ROOTIMG_NAME[inner]}`,
      ]);
      assert.equal(readFileSync(join(img, 'kernel'), 'utf8'), 'vmlinuz\n');
      const rec = await tables.getImage(name);
      const want = NATIVE_ROWS(name);
      want.linuximage.rootimgdir = img;
      assert.deepEqual({ osimage: setColumns(rec.osimage), linuximage: setColumns(rec.linuximage), litefile: rec.litefile }, { ...want, litefile: [] });
      assert.deepEqual(r.warnings, []);
    });
  }

  test('tar --xattrs --format=posix root image: a user xattr set with setfattr arrives', async () => {
    const tree = fresh(join(dir, 'xattr-src'));
    makeRootTree(tree, 2);
    tool('setfattr', ['-n', 'user.imgport', '-v', 'kept', join(tree, 'etc/hostname')]);
    const name = `conf-${n}-xattr`;
    const d = fresh(join(dir, `stage-${name}`));
    writeFileSync(join(d, 'manifest.cfg'), [`name ${name}`, 'os rhels8.5.0', 'arch x86_64', 'profile xattr', 'method netboot', 'kernel kernel', 'initrd initrd-stateless.gz', 'rootimg rootimg.tar.xz', ''].join('\n'));
    writeFileSync(join(d, 'kernel'), 'vmlinuz\n');
    writeFileSync(join(d, 'initrd-stateless.gz'), gzipSync('initrd'));
    packRoot(tree, join(d, 'rootimg.tar.xz'), 'tar-xz-posix-xattrs');
    writeSha256Sums(d);
    const bundle = join(dir, `${name}.tar`);
    packOuter(d, bundle, 'tar --xattrs --format=posix czf');
    const { root, service } = world();
    await service.run(bundle);
    const img = join(root, 'netboot/rhels8.5.0/x86_64/xattr/rootimg');
    assert.deepEqual(listing(img), listing(tree));
    assert.equal(tool('getfattr', ['--only-values', '-n', 'user.imgport', join(img, 'etc/hostname')]), 'kept');
  });

  test('absolute names (tar -P) and a symlink member stay refused', async () => {
    const d = nativeDir(`conf-${n}-abs`, 'cpio|gzip');
    const abs = join(dir, 'abs.tgz');
    pipe('cd "$1"; tar czPf "$2" --transform="s,^./kernel,/tmp/kernel," .', d, abs);
    assert.match(tool('tar', ['tzPf', abs]), /^\/tmp\/kernel$/m);
    const link = join(dir, 'link.tgz');
    pipe('cd "$1"; ln -s /etc/passwd evil; tar czf "$2" .', d, link);
    for (const [bundle, code] of [[abs, 'UNSAFE_PATH'], [link, 'BUNDLE_INVALID']] as const) {
      const { root, service } = world();
      await assert.rejects(service.run(bundle), (e: unknown) => e instanceof ImgportError && e.code === code, bundle);
      assert.deepEqual(paths(root), []);
    }
  });

  test('unsafe names stay refused when packed the same way', async () => {
    const d = nativeDir(`conf-${n}-bad`, 'cpio|gzip');
    const bundle = join(dir, 'evil.tgz');
    // GNU tar keeps "../" only when told to; the member name is what an attacker would send.
    pipe('cd "$1"; tar czf "$2" --transform="s,^./kernel,./../kernel," .', d, bundle);
    assert.match(tool('tar', ['tzf', bundle]), /^\.\/\.\.\/kernel$/m);
    const { root, service } = world();
    await assert.rejects(service.run(bundle), (e: unknown) => e instanceof ImgportError && e.code === 'UNSAFE_PATH');
    assert.deepEqual(paths(root), []);
  });
});

/** Stock imgexport's layout: `<tmp>/<imagename>/manifest.xml` + files flat, packed with `tar czf b.tgz .`. */
function stockDir(fixtureName: string, how: RootPacker = 'cpio|gzip', edit = (x: string) => x): { dir: string; name: string; xml: string } {
  const xml = edit(fixture(fixtureName));
  const m = parseManifestXml(xml);
  const top = fresh(join(dir, `stock-${n++}`));
  const d = join(top, m.name);
  mkdirSync(d, { mode: 0o755 });
  writeFileSync(join(d, 'manifest.xml'), xml);
  for (const member of referencedMembers(m)) {
    if (member === m.rootimg?.member) packRoot(source, join(d, member), how);
    else if (member === m.rootimgtree?.member) {
      // imgexport: cd $rootimgdir; find rootimg | cpio -H newc -o | gzip
      const parent = fresh(join(dir, `rt-${n}`));
      tool('cp', ['-a', source, join(parent, 'rootimg')]);
      pipe('cd "$1"; find rootimg | cpio -H newc -o --quiet | gzip -c > "$2"', parent, join(d, member));
    } else if (member === m.litefile?.member) {
      writeFileSync(join(d, member), `"${m.name}","/etc/adjtime","tmpfs",,\n"${m.name}","/var/log/","persistent",,\n`);
    } else writeFileSync(join(d, member), `content of ${member}\n`);
  }
  // Kit directories as `cp -dr <kitdir> <tmp>/<image>/` leaves them.
  for (const kit of m.kits) {
    mkdirSync(join(d, kit.name!, 'repos', 'rhels-8-x86_64'), { recursive: true });
    writeFileSync(join(d, kit.name!, 'kit.conf'), `kit ${kit.name}\n`);
    writeFileSync(join(d, kit.name!, 'repos', 'rhels-8-x86_64', `${kit.basename}.rpm`), `rpm of ${kit.name}\n`);
  }
  if (m.extras.length) {
    mkdirSync(join(d, 'extra'));
    for (const e of m.extras) writeFileSync(join(d, 'extra', e.member.split('/').pop()!), `extra ${e.member}\n`);
  }
  return { dir: top, name: m.name, xml };
}

describe("stock imgexport's ./<imagename>/ layout (shared fixtures)", () => {
  test('netboot.manifest.xml: files placed, tree exact, rows as stock imgimport writes them', async () => {
    const s = stockDir('netboot.manifest.xml');
    const bundle = join(dir, 'stock-netboot.tgz');
    packOuter(s.dir, bundle, 'tar czf');
    assert.deepEqual(tool('tar', ['tzf', bundle]).split('\n').slice(0, 2), ['./', `./${s.name}/`]);
    const { root, service } = world();
    await service.run(bundle);
    const img = join(root, 'netboot/rhels8.5.0/x86_64/compute');
    assert.deepEqual(listing(join(img, 'rootimg')), listing(source));
    assert.equal(readFileSync(join(root, 'postscripts/myscript1'), 'utf8'), 'extra extra/myscript1\n');
    const rec = await tables.getImage(s.name);
    assert.deepEqual(setColumns(rec.osimage), {
      imagename: s.name,
      imagetype: 'linux',
      osarch: 'x86_64',
      osdistroname: 'rhels8.5.0-x86_64',
      osname: 'Linux',
      osvers: 'rhels8.5.0',
      profile: 'compute',
      provmethod: 'netboot',
      synclists: join(root, 'custom/netboot/rh/compute.synclist'),
      // Stock writes these to the postscripts table only with -p <nodes>; we keep them on the image.
      postscripts: 'syslog,remoteshell,syncfiles,myscript1',
      postbootscripts: 'otherpkgs',
    });
    assert.deepEqual(setColumns(rec.linuximage), {
      imagename: s.name,
      exlist: join(root, 'custom/netboot/rh/compute.rhels8.x86_64.exlist'),
      pkgdir: join(root, 'rhels8.5.0/x86_64'),
      pkglist: join(root, 'custom/netboot/rh/compute.rhels8.x86_64.pkglist'),
      postinstall: join(root, 'custom/netboot/rh/compute.rhels8.x86_64.postinstall'),
      rootimgdir: img,
    });
  });

  test('install.manifest.xml: template and pkglist in custom/install/rh/, media required', async () => {
    const s = stockDir('install.manifest.xml');
    const bundle = join(dir, 'stock-install.tgz');
    packOuter(s.dir, bundle, 'tar czf');
    const { root, service } = world();
    await service.run(bundle);
    assert.deepEqual(paths(root), ['custom', 'custom/install', 'custom/install/rh', 'custom/install/rh/compute.rhels8.pkglist', 'custom/install/rh/compute.rhels8.tmpl']);
    const rec = await tables.getImage(s.name);
    assert.deepEqual(setColumns(rec.linuximage), {
      imagename: s.name,
      pkglist: join(root, 'custom/install/rh/compute.rhels8.pkglist'),
      template: join(root, 'custom/install/rh/compute.rhels8.tmpl'),
    });
    assert.equal(setColumns(rec.osimage)?.provmethod, 'install');
  });

  test('statelite.manifest.xml: rootimgtree.gz from find rootimg | cpio, litefile rows', async () => {
    const s = stockDir('statelite.manifest.xml');
    const bundle = join(dir, 'stock-statelite.tgz');
    packOuter(s.dir, bundle, 'bsdtar czf');
    const { root, service } = world();
    await service.run(bundle);
    const img = join(root, 'netboot/sles15.4/x86_64/compute');
    assert.deepEqual(listing(join(img, 'rootimg')), listing(source));
    const rec = await tables.getImage(s.name);
    assert.deepEqual(
      rec.litefile.map((r) => setColumns(r)),
      [
        { image: s.name, file: '/etc/adjtime', options: 'tmpfs' },
        { image: s.name, file: '/var/log/', options: 'persistent' },
      ],
    );
  });

  test("statelite: a row the node's ALL rows already have (same file and options) is not written again, as stock", async () => {
    const s = stockDir('statelite.manifest.xml');
    await tables.deleteImage(s.name);
    const bundle = join(dir, 'stock-statelite-all.tgz');
    packOuter(s.dir, bundle, 'tar czf');
    const db = new Database(join(dir, 'xcatdb', 'litefile.sqlite'));
    db.prepare('INSERT INTO litefile (image, file, options) VALUES (?, ?, ?)').run('ALL', '/etc/adjtime', 'tmpfs');
    db.prepare('INSERT INTO litefile (image, file, options) VALUES (?, ?, ?)').run('ALL', '/var/log/', 'tmpfs');
    db.close();
    const { service } = world();
    try {
      await service.run(bundle);
      const rows = (await tables.getImage(s.name)).litefile.map((r) => setColumns(r));
      assert.deepEqual(rows, [{ image: s.name, file: '/var/log/', options: 'persistent' }]);
    } finally {
      const clean = new Database(join(dir, 'xcatdb', 'litefile.sqlite'));
      clean.prepare("DELETE FROM litefile WHERE image = 'ALL'").run();
      clean.close();
    }
  });

  test('netboot-2.7-flat.manifest.xml with a legacy rootimg.gz (find . | cpio | gzip)', async () => {
    const s = stockDir('netboot-2.7-flat.manifest.xml');
    const bundle = join(dir, 'stock-27.tgz');
    packOuter(s.dir, bundle, 'tar czf');
    const { root, service } = world();
    await service.run(bundle);
    const img = join(root, 'netboot/centos6.3/x86_64/compute');
    assert.deepEqual(listing(join(img, 'rootimg')), listing(source));
    assert.equal(setColumns((await tables.getImage(s.name)).linuximage)?.rootimgdir, img);
  });
});

describe('re-profiling a stock bundle (-f) as stock imgimport does', () => {
  test('list files renamed in their own directories; two re-profiles share no file; rows point at them', async () => {
    const s = stockDir('netboot.manifest.xml');
    const bundle = join(dir, 'stock-reprofile.tgz');
    packOuter(s.dir, bundle, 'tar czf');
    const { root, service } = world();
    const gpu = await service.run(bundle, { profile: 'gpu' });
    const big = await service.run(bundle, { profile: 'bigmem' });
    assert.deepEqual([gpu.name, big.name], ['rhels8.5.0-x86_64-netboot-gpu', 'rhels8.5.0-x86_64-netboot-bigmem']);
    const custom = join(root, 'custom/netboot/rh');
    assert.deepEqual(paths(join(root, 'custom')), [
      'netboot',
      'netboot/rh',
      'netboot/rh/bigmem.rhels8.x86_64.exlist',
      'netboot/rh/bigmem.rhels8.x86_64.pkglist',
      'netboot/rh/bigmem.rhels8.x86_64.postinstall',
      'netboot/rh/bigmem.synclist',
      'netboot/rh/gpu.rhels8.x86_64.exlist',
      'netboot/rh/gpu.rhels8.x86_64.pkglist',
      'netboot/rh/gpu.rhels8.x86_64.postinstall',
      'netboot/rh/gpu.synclist',
    ]);
    const rec = await tables.getImage(gpu.name);
    assert.equal(rec.osimage?.synclists, join(custom, 'gpu.synclist'));
    assert.equal(rec.osimage?.profile, 'gpu');
    assert.deepEqual(
      [rec.linuximage?.pkglist, rec.linuximage?.exlist, rec.linuximage?.postinstall, rec.linuximage?.rootimgdir],
      [join(custom, 'gpu.rhels8.x86_64.pkglist'), join(custom, 'gpu.rhels8.x86_64.exlist'), join(custom, 'gpu.rhels8.x86_64.postinstall'), join(root, 'netboot/rhels8.5.0/x86_64/gpu')],
    );
    assert.equal(readFileSync(join(custom, 'bigmem.synclist'), 'utf8'), 'content of compute.synclist\n');
  });

  test('install: the template renamed in custom/install/rh/; a list without the profile in its name gets it in front', async () => {
    const s = stockDir('install.manifest.xml', 'cpio|gzip', (x) => x.replace('compute.rhels8.pkglist', 'rhels8.pkglist'));
    const bundle = join(dir, 'stock-install-f.tgz');
    packOuter(s.dir, bundle, 'tar czf');
    const { root, service } = world();
    const r = await service.run(bundle, { profile: 'login' });
    assert.deepEqual(paths(root), ['custom', 'custom/install', 'custom/install/rh', 'custom/install/rh/login.rhels8.pkglist', 'custom/install/rh/login.rhels8.tmpl']);
    const linux = (await tables.getImage(r.name)).linuximage;
    assert.deepEqual([linux?.template, linux?.pkglist], [join(root, 'custom/install/rh/login.rhels8.tmpl'), join(root, 'custom/install/rh/login.rhels8.pkglist')]);
  });
});

describe('kits carried by a stock bundle', () => {
  for (const [fixtureName, kits] of [
    ['netboot-one-kit.manifest.xml', [['mykit-1.0-1', 'mykit']]],
    ['netboot-two-kits-two-extras.manifest.xml', [['cuda-12.4-1', 'cuda'], ['mlnx_ofed-5.8-1', 'mlnx_ofed']]],
  ] as const) {
    test(`${fixtureName}: kit rows written, kit directories placed under kits/`, async () => {
      const s = stockDir(fixtureName, fixtureName.includes('two') ? 'cpio|xz' : 'cpio|gzip');
      await tables.deleteImage(s.name); // another test imported it into the shared tables
      const bundle = join(dir, `kits-${n}.tgz`);
      packOuter(s.dir, bundle, 'tar czf');
      const { root, service } = world();
      const r = await service.run(bundle);
      assert.deepEqual(r.warnings.filter((w) => /kit/.test(w)), []);
      assert.deepEqual(paths(join(root, 'kits')), kits.flatMap(([k, b]) => [k, `${k}/kit.conf`, `${k}/repos`, `${k}/repos/rhels-8-x86_64`, `${k}/repos/rhels-8-x86_64/${b}.rpm`]));
      for (const [k, b] of kits) {
        assert.equal(readFileSync(join(root, 'kits', k, 'repos/rhels-8-x86_64', `${b}.rpm`), 'utf8'), `rpm of ${k}\n`);
        const [row] = await tables.kitRows('kit', 'kitname', k);
        assert.deepEqual(setColumns(row), {
          kitname: k,
          basename: b,
          kitdir: join(root, 'kits', k),
          ...(fixtureName.includes('two') ? { ostype: 'Linux', release: '1', version: k.split('-')[1]! } : {}),
        });
      }
    });
  }

  test('a kitdir outside the install root is refused and nothing is written', async () => {
    const s = stockDir('netboot-one-kit.manifest.xml', 'cpio|gzip', (x) => x.replace('<kitdir>/install/kits/mykit-1.0-1</kitdir>', '<kitdir>/etc/cron.d/mykit-1.0-1</kitdir>'));
    await tables.deleteImage(s.name);
    const bundle = join(dir, 'kit-evil.tgz');
    packOuter(s.dir, bundle, 'tar czf');
    const { root, service } = world();
    await assert.rejects(service.run(bundle), (e: unknown) => e instanceof ImgportError && e.code === 'UNSAFE_PATH' && /kitdir/.test(e.message));
    assert.deepEqual(paths(root), []);
    assert.deepEqual(await tables.getImage('rocky9.3-x86_64-netboot-compute'), { litefile: [] });
  });

  test('a kit name that is not a plain directory name is refused', async () => {
    const s = stockDir('netboot-one-kit.manifest.xml', 'cpio|gzip', (x) => x.replace('<name>mykit-1.0-1</name>', '<name>../../etc</name>'));
    const bundle = join(dir, 'kit-evil2.tgz');
    packOuter(s.dir, bundle, 'tar czf');
    const { root, service } = world();
    await assert.rejects(service.run(bundle), (e: unknown) => e instanceof ImgportError && e.code === 'MANIFEST_INVALID');
    assert.deepEqual(paths(root), []);
  });
});
