import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { parseManifestCfg } from '../cfg/read.js';
import { parseManifestXml, serializeManifestXml } from './read.js';
import type { BundleManifest, FileRef } from '../../model.js';

const NATIVE = parseManifestCfg(
  [
    'name Foo_Stateless',
    'os rhels8.5.0',
    'arch x86_64',
    'profile foo',
    'method netboot',
    'kernel boot/kernel',
    'initrd initrd-stateless.gz',
    'rootimg rootimg.cpio.gz',
    'pkglist foo.pkglist',
    'extra my_cool_postscript:/install/postscripts',
    'osimage.comments a & b <c> "d" \'e\'',
  ].join('\n'),
);

const originOf = (field: string, ref: FileRef) =>
  field === 'extra' ? `/install/postscripts/${ref.member}` : `/install/netboot/rhels8.5.0/x86_64/foo/${ref.member.split('/').pop()}`;

function refuses(m: BundleManifest, message: string, opts = {}): void {
  assert.throws(
    () => serializeManifestXml(m, opts),
    (err: unknown) => {
      assert.ok(err instanceof ImgportError, String(err));
      assert.equal(err.code, 'MANIFEST_INVALID');
      assert.equal(err.message, message);
      return true;
    },
  );
}

test('a native manifest is written with origins from originOf, in XML::Simple order and escaping', () => {
  const xml = serializeManifestXml(NATIVE, { originOf });
  assert.equal(
    xml,
    [
      '<?xml version="1.0"?>',
      '<xcatimage>',
      '  <extra>',
      '    <dest>/install/postscripts</dest>',
      '    <src>/install/postscripts/my_cool_postscript</src>',
      '  </extra>',
      '  <kernel>/install/netboot/rhels8.5.0/x86_64/foo/kernel</kernel>',
      '  <linuximage>',
      '    <imagename>Foo_Stateless</imagename>',
      '    <pkglist>/install/netboot/rhels8.5.0/x86_64/foo/foo.pkglist</pkglist>',
      '  </linuximage>',
      '  <osimage>',
      '    <comments>a &amp; b &lt;c&gt; &quot;d&quot; \'e\'</comments>',
      '    <imagename>Foo_Stateless</imagename>',
      '    <imagetype>linux</imagetype>',
      '    <osarch>x86_64</osarch>',
      '    <osname>Linux</osname>',
      '    <osvers>rhels8.5.0</osvers>',
      '    <profile>foo</profile>',
      '    <provmethod>netboot</provmethod>',
      '  </osimage>',
      '  <ramdisk>/install/netboot/rhels8.5.0/x86_64/foo/initrd-stateless.gz</ramdisk>',
      '  <rootimg>/install/netboot/rhels8.5.0/x86_64/foo/rootimg.cpio.gz</rootimg>',
      '</xcatimage>',
      '',
    ].join('\n'),
  );
  const back = parseManifestXml(xml);
  assert.deepStrictEqual(back.osimage, { comments: 'a & b <c> "d" \'e\'', imagetype: 'linux', osname: 'Linux' });
  assert.deepStrictEqual(back.extras, [{ member: 'extra/my_cool_postscript', origin: '/install/postscripts/my_cool_postscript', dest: '/install/postscripts' }]);
});

test('a key column (name/key/id) comes first in a row, the rest sorted', () => {
  const m = parseManifestXml(serializeManifestXml(NATIVE, { originOf }));
  m.kitcomps = [{ version: '1', kitcompname: 'c', id: '7', basename: 'b' }];
  assert.ok(serializeManifestXml(m).includes('  <kitcomp>\n    <id>7</id>\n    <basename>b</basename>\n    <kitcompname>c</kitcompname>\n    <version>1</version>\n  </kitcomp>\n'));
});

test('a file without an origin and without originOf is refused, naming the field', () => {
  refuses(NATIVE, 'manifest.xml: pkglist "foo.pkglist" has no origin path (set origins or pass originOf)');
});

test('an origin whose basename differs from the member is refused', () => {
  refuses({ ...NATIVE, kernel: { member: 'kernel', origin: '/install/netboot/vmlinuz' } }, 'manifest.xml: kernel "/install/netboot/vmlinuz" and its bundle member "kernel" have different names', { originOf });
});

test('an unsafe origin is refused', () => {
  assert.throws(
    () => serializeManifestXml({ ...NATIVE, kernel: { member: 'kernel', origin: '/install/../kernel' } }, { originOf }),
    (err: unknown) => err instanceof ImgportError && err.code === 'UNSAFE_PATH' && err.message === 'manifest.xml: kernel: unsafe path "/install/../kernel": ".." components are not allowed',
  );
});

test('files stock imgimport requires are checked before writing', () => {
  const { rootimg: _drop, ...noRootimg } = NATIVE;
  refuses(noRootimg, 'manifest.xml: method "netboot" needs rootimg', { originOf });
  refuses({ ...NATIVE, method: 'statelite' }, 'manifest.xml: method "statelite" needs rootimgtree', { originOf });
});

test('columns and row names that would not be valid XML::Simple output are refused', () => {
  refuses({ ...NATIVE, osimage: { osvers: 'x' } }, 'manifest.xml: "osvers" is not a column carried in <osimage>', { originOf });
  refuses({ ...NATIVE, kits: [{ '@_evil': 'x' }] }, 'manifest.xml: <kit> has an invalid column name "@_evil"', { originOf });
});
