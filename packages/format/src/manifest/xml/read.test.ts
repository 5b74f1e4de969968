import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseManifestXml, serializeManifestXml } from './read.js';
import type { BundleManifest } from '../../model.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../../../../../shared/fixtures/xcat-manifests/${name}.manifest.xml`, import.meta.url), 'utf8');

const FIXTURES = ['install', 'netboot', 'netboot-two-kits-two-extras', 'netboot-one-kit', 'statelite', 'netboot-2.7-flat'];
const none = { lists: {}, extras: [], osimage: {}, linuximage: {}, kits: [], kitrepos: [], kitcomps: [] };
const xcat = { format: 1, flavor: 'xcat' } as const;
const ref = (origin: string) => ({ member: origin.slice(origin.lastIndexOf('/') + 1), origin });
const linux = { imagetype: 'linux', osname: 'Linux' };

const EXPECTED: Record<string, BundleManifest> = {
  install: {
    ...none,
    ...xcat,
    name: 'rhels8.5.0-x86_64-install-compute',
    os: 'rhels8.5.0',
    arch: 'x86_64',
    profile: 'compute',
    method: 'install',
    media: 'required',
    template: ref('/install/custom/install/rh/compute.rhels8.tmpl'),
    lists: { pkglist: [ref('/install/custom/install/rh/compute.rhels8.pkglist')] },
    osimage: linux,
  },
  netboot: {
    ...none,
    ...xcat,
    name: 'rhels8.5.0-x86_64-netboot-compute',
    os: 'rhels8.5.0',
    arch: 'x86_64',
    profile: 'compute',
    method: 'netboot',
    kernel: ref('/install/netboot/rhels8.5.0/x86_64/compute/kernel'),
    initrd: ref('/install/netboot/rhels8.5.0/x86_64/compute/initrd-stateless.gz'),
    rootimg: ref('/install/netboot/rhels8.5.0/x86_64/compute/rootimg.cpio.gz'),
    lists: {
      pkglist: [ref('/opt/xcat/share/xcat/netboot/rh/compute.rhels8.x86_64.pkglist')],
      exlist: [ref('/opt/xcat/share/xcat/netboot/rh/compute.rhels8.x86_64.exlist')],
      postinstall: [ref('/opt/xcat/share/xcat/netboot/rh/compute.rhels8.x86_64.postinstall')],
      synclists: [ref('/install/custom/netboot/rh/compute.synclist')],
    },
    extras: [{ member: 'extra/myscript1', origin: '/install/postscripts/myscript1', dest: '/install/postscripts' }],
    osimage: { ...linux, osdistroname: 'rhels8.5.0-x86_64' },
    linuximage: { pkgdir: '/install/rhels8.5.0/x86_64', rootimgdir: '/install/netboot/rhels8.5.0/x86_64/compute' },
    postscripts: 'syslog,remoteshell,syncfiles,myscript1',
    postbootscripts: 'otherpkgs',
  },
  'netboot-two-kits-two-extras': {
    ...none,
    ...xcat,
    name: 'rhels8.5.0-x86_64-netboot-gpu',
    os: 'rhels8.5.0',
    arch: 'x86_64',
    profile: 'gpu',
    method: 'netboot',
    kernel: ref('/install/netboot/rhels8.5.0/x86_64/gpu/kernel'),
    initrd: ref('/install/netboot/rhels8.5.0/x86_64/gpu/initrd-stateless.gz'),
    rootimg: ref('/install/netboot/rhels8.5.0/x86_64/gpu/rootimg.cpio.xz'),
    lists: { pkglist: [ref('/install/custom/netboot/rh/gpu.rhels8.x86_64.pkglist')] },
    extras: [
      { member: 'extra/gpu_setup', origin: '/install/postscripts/gpu_setup', dest: '/install/postscripts' },
      { member: 'extra/gpu', origin: '/install/custom/files/gpu', dest: '/install/custom/files/gpu' },
    ],
    osimage: { ...linux, kitcomponents: 'cuda_compute-12.4-1-rhels-8-x86_64,mlnx_ofed-5.8-1-rhels-8-x86_64' },
    linuximage: { rootimgdir: '/install/netboot/rhels8.5.0/x86_64/gpu' },
    kits: [
      { name: 'cuda-12.4-1', basename: 'cuda', kitdir: '/install/kits/cuda-12.4-1', kitname: 'cuda-12.4-1', ostype: 'Linux', release: '1', version: '12.4' },
      { name: 'mlnx_ofed-5.8-1', basename: 'mlnx_ofed', kitdir: '/install/kits/mlnx_ofed-5.8-1', kitname: 'mlnx_ofed-5.8-1', ostype: 'Linux', release: '1', version: '5.8' },
    ],
  },
  'netboot-one-kit': {
    ...none,
    ...xcat,
    name: 'rocky9.3-x86_64-netboot-compute',
    os: 'rocky9.3',
    arch: 'x86_64',
    profile: 'compute',
    method: 'netboot',
    kernel: ref('/install/netboot/rocky9.3/x86_64/compute/kernel'),
    initrd: ref('/install/netboot/rocky9.3/x86_64/compute/initrd-stateless.gz'),
    rootimg: ref('/install/netboot/rocky9.3/x86_64/compute/rootimg.gz'),
    osimage: { ...linux, kitcomponents: 'mykit_compute-1.0-1-rocky-9-x86_64' },
    linuximage: { rootimgdir: '/install/netboot/rocky9.3/x86_64/compute' },
    kits: [{ name: 'mykit-1.0-1', basename: 'mykit', kitdir: '/install/kits/mykit-1.0-1', kitname: 'mykit-1.0-1' }],
  },
  statelite: {
    ...none,
    ...xcat,
    name: 'sles15.4-x86_64-statelite-compute',
    os: 'sles15.4',
    arch: 'x86_64',
    profile: 'compute',
    method: 'statelite',
    kernel: ref('/install/netboot/sles15.4/x86_64/compute/kernel'),
    initrd: ref('/install/netboot/sles15.4/x86_64/compute/initrd-statelite.gz'),
    rootimgtree: ref('/install/netboot/sles15.4/x86_64/compute/rootimgtree.gz'),
    litefile: ref('/install/netboot/sles15.4/x86_64/compute/litefile.csv'),
    lists: { pkglist: [ref('/opt/xcat/share/xcat/netboot/sles/compute.sles15.x86_64.pkglist')] },
    osimage: linux,
    linuximage: { rootimgdir: '/install/netboot/sles15.4/x86_64/compute' },
  },
  'netboot-2.7-flat': {
    ...none,
    ...xcat,
    name: 'centos6.3-x86_64-netboot-compute',
    os: 'centos6.3',
    arch: 'x86_64',
    profile: 'compute',
    method: 'netboot',
    kernel: ref('/install/netboot/centos6.3/x86_64/compute/kernel'),
    initrd: ref('/install/netboot/centos6.3/x86_64/compute/initrd-stateless.gz'),
    rootimg: ref('/install/netboot/centos6.3/x86_64/compute/rootimg.gz'),
    osimage: linux,
    linuximage: { rootimgdir: '/install/netboot/centos6.3/x86_64/compute' },
  },
};

for (const name of FIXTURES) {
  test(`fixture ${name}: parses to the whole expected manifest`, () => {
    assert.deepStrictEqual(parseManifestXml(fixture(name)), EXPECTED[name]);
  });

  test(`fixture ${name}: parse → serialize → parse gives the same model`, () => {
    const m = parseManifestXml(fixture(name));
    assert.deepStrictEqual(parseManifestXml(serializeManifestXml(m)), m);
  });
}

test('2.8 fixtures serialize back byte for byte, as XML::Simple wrote them', () => {
  for (const name of FIXTURES.filter((n) => !n.includes('2.7'))) {
    assert.equal(serializeManifestXml(parseManifestXml(fixture(name))), fixture(name), name);
  }
});

test('a 2.7 flat manifest is written in the 2.8 layout', () => {
  const out = serializeManifestXml(parseManifestXml(fixture('netboot-2.7-flat')));
  assert.equal(
    out,
    [
      '<?xml version="1.0"?>',
      '<xcatimage>',
      '  <kernel>/install/netboot/centos6.3/x86_64/compute/kernel</kernel>',
      '  <linuximage>',
      '    <imagename>centos6.3-x86_64-netboot-compute</imagename>',
      '    <rootimgdir>/install/netboot/centos6.3/x86_64/compute</rootimgdir>',
      '  </linuximage>',
      '  <osimage>',
      '    <imagename>centos6.3-x86_64-netboot-compute</imagename>',
      '    <imagetype>linux</imagetype>',
      '    <osarch>x86_64</osarch>',
      '    <osname>Linux</osname>',
      '    <osvers>centos6.3</osvers>',
      '    <profile>compute</profile>',
      '    <provmethod>netboot</provmethod>',
      '  </osimage>',
      '  <ramdisk>/install/netboot/centos6.3/x86_64/compute/initrd-stateless.gz</ramdisk>',
      '  <rootimg>/install/netboot/centos6.3/x86_64/compute/rootimg.gz</rootimg>',
      '</xcatimage>',
      '',
    ].join('\n'),
  );
});
