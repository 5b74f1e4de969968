import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { parseManifestCfg, serializeManifestCfg } from './read.js';
import type { BundleManifest } from '../../model.js';

const empty = { lists: {}, extras: [], osimage: {}, linuximage: {}, kits: [], kitrepos: [], kitcomps: [] };

const DISKFUL = `# diskful (kickstart) image
name Foo_Image
os rhels5.4
arch x86_64
profile foo
method install
template foo.tmpl
media required
`;

const STATELESS = `# stateless image
name Foo_Stateless
os rhels5.4
arch x86_64
profile foo
method netboot
initrd initrd.gz
kernel kernel
rootimg rootimg.gz
extra my_cool_postscript:/install/postscripts
`;

function rejects(text: string, code: string, message: string): void {
  assert.throws(
    () => parseManifestCfg(text),
    (err: unknown) => {
      assert.ok(err instanceof ImgportError, String(err));
      assert.equal(err.message, message);
      assert.equal(err.code, code);
      return true;
    },
  );
}

test('parses the SPEC diskful example', () => {
  assert.deepEqual(parseManifestCfg(DISKFUL), {
    ...empty,
    format: 1,
    flavor: 'native',
    name: 'Foo_Image',
    os: 'rhels5.4',
    arch: 'x86_64',
    profile: 'foo',
    method: 'install',
    template: { member: 'foo.tmpl' },
    media: 'required',
  } satisfies BundleManifest);
});

test('parses the SPEC stateless example, extras as {member, dest}', () => {
  assert.deepEqual(parseManifestCfg(STATELESS), {
    ...empty,
    format: 1,
    flavor: 'native',
    name: 'Foo_Stateless',
    os: 'rhels5.4',
    arch: 'x86_64',
    profile: 'foo',
    method: 'netboot',
    initrd: { member: 'initrd.gz' },
    kernel: { member: 'kernel' },
    rootimg: { member: 'rootimg.gz' },
    extras: [{ member: 'my_cool_postscript', dest: '/install/postscripts' }],
  } satisfies BundleManifest);
});

test('the seed one-line form parses exactly like the multi-line form', () => {
  const flat = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('#')).join(' ');
  assert.equal(flat(DISKFUL), 'name Foo_Image os rhels5.4 arch x86_64 profile foo method install template foo.tmpl media required');
  assert.deepEqual(parseManifestCfg(flat(DISKFUL)), parseManifestCfg(DISKFUL));
  assert.deepEqual(parseManifestCfg(`# seed\n  ${flat(STATELESS)}\t\n`), parseManifestCfg(STATELESS));
});

test('a UTF-8 byte order mark is ignored', () => {
  assert.deepEqual(parseManifestCfg(`\uFEFF${DISKFUL}`), parseManifestCfg(DISKFUL));
});

test('lists, carried columns, comments, CRLF, spaces and normalised members', () => {
  const text = [
    'format 1',
    'name img',
    'os sles15.4\r',
    'arch x86_64',
    'profile compute',
    '   # indented comment',
    'method statelite',
    'kernel ./boot//kernel',
    'initrd initrd-statelite.gz',
    'rootimg rootimg.cpio.xz',
    'litefile litefile.csv',
    'pkglist a.pkglist, lists/b.pkglist',
    'synclists compute.synclist',
    'extra tools/:custom/tools',
    'extra my script:/install/postscripts/',
    'osimage.comments built by ops # ticket 42',
    'linuximage.rootimgdir /install/netboot/sles15.4/x86_64/compute',
    'linuximage.kernelver 5.14.21',
  ].join('\n');
  assert.deepEqual(parseManifestCfg(text), {
    ...empty,
    format: 1,
    flavor: 'native',
    name: 'img',
    os: 'sles15.4',
    arch: 'x86_64',
    profile: 'compute',
    method: 'statelite',
    kernel: { member: 'boot/kernel' },
    initrd: { member: 'initrd-statelite.gz' },
    rootimg: { member: 'rootimg.cpio.xz' },
    litefile: { member: 'litefile.csv' },
    lists: { pkglist: [{ member: 'a.pkglist' }, { member: 'lists/b.pkglist' }], synclists: [{ member: 'compute.synclist' }] },
    extras: [
      { member: 'tools', dest: 'custom/tools' },
      { member: 'my script', dest: '/install/postscripts' },
    ],
    osimage: { comments: 'built by ops # ticket 42' },
    linuximage: { rootimgdir: '/install/netboot/sles15.4/x86_64/compute', kernelver: '5.14.21' },
  } satisfies BundleManifest);
});

const BASE = ['name img', 'os rhels8', 'arch x86_64', 'profile compute'];
const cfg = (...lines: string[]) => `${lines.join('\n')}\n`;

test('rejects unknown, duplicate and empty keys, naming line and key', () => {
  rejects(cfg(...BASE, 'method install', 'template t', 'colour blue'), 'MANIFEST_INVALID', 'manifest.cfg line 7: unknown key "colour"');
  rejects(cfg(...BASE, 'method install', 'template t', 'os rhels9'), 'MANIFEST_INVALID', 'manifest.cfg line 7: key "os" appears twice (first on line 2)');
  rejects(cfg(...BASE, 'method install', 'template'), 'MANIFEST_INVALID', 'manifest.cfg line 6: key "template" has no value');
  rejects(cfg('name img', 'os rhels8', 'arch x86_64', 'method install', 'template t'), 'MANIFEST_INVALID', 'manifest.cfg: missing required key "profile"');
});

test('rejects unknown methods and files a method needs', () => {
  rejects(cfg(...BASE, 'method foo'), 'MANIFEST_INVALID', 'manifest.cfg line 5: unknown method "foo" (expected install, netboot or statelite)');
  rejects(cfg(...BASE, 'method install'), 'MANIFEST_INVALID', 'manifest.cfg line 5: method "install" needs key "template"');
  rejects(cfg(...BASE, 'method netboot', 'kernel k', 'rootimg r.gz'), 'MANIFEST_INVALID', 'manifest.cfg line 5: method "netboot" needs key "initrd"');
  rejects(cfg(...BASE, 'method statelite', 'kernel k', 'initrd i'), 'MANIFEST_INVALID', 'manifest.cfg line 5: method "statelite" needs key "rootimg"');
});

test('rejects unknown format versions and media values', () => {
  rejects(cfg('format 2', ...BASE, 'method install', 'template t'), 'MANIFEST_INVALID', 'manifest.cfg line 1: format "2" is not supported (this version reads format 1)');
  rejects(cfg(...BASE, 'method install', 'template t', 'media optional'), 'MANIFEST_INVALID', 'manifest.cfg line 7: media must be "required", found "optional"');
});

test('validates the image name and path tokens', () => {
  rejects(
    cfg('name ../../etc', 'os rhels8', 'arch x86_64', 'profile p', 'method install', 'template t'),
    'MANIFEST_INVALID',
    'manifest.cfg line 1: name: invalid image name "../../etc": contains "/" at position 3 (allowed: letters, digits, ".", "_", "+", "-")',
  );
  rejects(
    cfg('name img', 'os rhels8', 'arch x86_64', 'profile ..', 'method install', 'template t'),
    'MANIFEST_INVALID',
    'manifest.cfg line 4: invalid profile "..": is reserved (it names a directory)',
  );
});

test('columns are checked against xCAT\'s tables', () => {
  const head = [...BASE, 'method install', 'template t'];
  rejects(cfg(...head, 'osimage.colour blue'), 'MANIFEST_INVALID', 'manifest.cfg line 7: unknown column "colour" in key "osimage.colour" (not a column of xCAT\'s osimage table)');
  rejects(cfg(...head, 'linuximage.osvers x'), 'MANIFEST_INVALID', 'manifest.cfg line 7: unknown column "osvers" in key "linuximage.osvers" (not a column of xCAT\'s linuximage table)');
  rejects(cfg(...head, 'osimage.osvers rhels9'), 'MANIFEST_INVALID', 'manifest.cfg line 7: key "osimage.osvers" duplicates key "os"; use "os"');
  rejects(cfg(...head, 'linuximage.pkglist /x'), 'MANIFEST_INVALID', 'manifest.cfg line 7: key "linuximage.pkglist" duplicates key "pkglist"; use "pkglist"');
  rejects(cfg(...head, 'osimage.comments a', 'osimage.comments b'), 'MANIFEST_INVALID', 'manifest.cfg line 8: key "osimage.comments" appears twice');
});

test('file names are bundle members: unsafe ones are refused with line and key', () => {
  const head = [...BASE, 'method install'];
  rejects(cfg(...head, 'template ../../etc/shadow'), 'UNSAFE_PATH', 'manifest.cfg line 6: template: unsafe path "../../etc/shadow": ".." components are not allowed');
  rejects(cfg(...head, 'template /etc/shadow'), 'UNSAFE_PATH', 'manifest.cfg line 6: template: unsafe path "/etc/shadow": absolute paths are not allowed here');
  rejects(cfg(...head, 'template a\0b'), 'UNSAFE_PATH', 'manifest.cfg line 6: template: unsafe path "a\\u0000b": contains a NUL byte');
  rejects(cfg(...head, 'template SHA256SUMS'), 'UNSAFE_PATH', 'manifest.cfg line 6: template: unsafe path "SHA256SUMS": the name is reserved for the bundle itself');
  rejects(cfg(...head, 'template t', 'pkglist a,../b'), 'UNSAFE_PATH', 'manifest.cfg line 7: pkglist: unsafe path "../b": ".." components are not allowed');
  rejects(cfg(...head, 'template t', 'exlist a,,b'), 'MANIFEST_INVALID', 'manifest.cfg line 7: exlist: empty file name in "a,,b"');
});

test('extras need <file>:<destdir> with safe parts', () => {
  const head = [...BASE, 'method install', 'template t'];
  rejects(cfg(...head, 'extra script'), 'MANIFEST_INVALID', 'manifest.cfg line 7: extra must be "<file>:<destdir>", found "script"');
  rejects(cfg(...head, 'extra script:'), 'MANIFEST_INVALID', 'manifest.cfg line 7: extra must be "<file>:<destdir>", found "script:"');
  rejects(cfg(...head, 'extra ../s:/install'), 'UNSAFE_PATH', 'manifest.cfg line 7: extra: unsafe path "../s": ".." components are not allowed');
  rejects(cfg(...head, 'extra s:/install/../etc'), 'UNSAFE_PATH', 'manifest.cfg line 7: extra: unsafe path "/install/../etc": ".." components are not allowed');
  rejects(cfg(...head, 'extra s:../etc'), 'UNSAFE_PATH', 'manifest.cfg line 7: extra: unsafe path "../etc": ".." components are not allowed');
});

test('a huge manifest is refused before it is read', () => {
  rejects(`# ${'x'.repeat(1 << 20)}`, 'LIMIT_EXCEEDED', `manifest.cfg is ${(1 << 20) + 2} characters long (limit ${1 << 20})`);
});
