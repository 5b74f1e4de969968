import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OpenedBundle } from '@imgport/archive';
import { parseManifestCfg } from '@imgport/format';
import { planImport, type PlanContext } from './plan.js';
import { buildRows } from './rows.js';

/** A staged bundle as openBundle leaves it, without touching the disk: planning is pure. */
function staged(manifestCfg: string, members: Record<string, string>, rootimg?: string): OpenedBundle {
  const files = new Map(Object.entries(members).map(([name, sha256]) => [name, { stored: name, type: 'file' as const, size: 1, sha256, path: `/tx/bundle/${name}` }]));
  return {
    stagingDir: '/tx/bundle',
    manifest: parseManifestCfg(manifestCfg),
    manifestName: 'manifest.cfg',
    prefix: '',
    files,
    ...(rootimg ? { rootimg: { member: rootimg, dir: '/tx/rootimg', report: { entries: 3, bytes: 10 } as never } } : {}),
    checksums: 'verified',
    warnings: [],
    compression: 'gzip',
    bytesIn: 100,
  } as OpenedBundle;
}

const ctx: PlanContext = { installRoot: '/install', fromRoot: '/install', allow: [], litefile: [] };

const INSTALL = 'name inst\nos rhels8\narch x86_64\nprofile compute\nmethod install\ntemplate compute.tmpl\npkglist compute.pkglist\n';
const NETBOOT = 'name nb\nos rhels8\narch x86_64\nprofile compute\nmethod netboot\nkernel kernel\ninitrd initrd.gz\nrootimg rootimg.cpio.gz\n';

test('planImport: a native install bundle goes to the custom directory, with its rows', () => {
  const plan = planImport(staged(INSTALL, { 'compute.tmpl': 'a'.repeat(64), 'compute.pkglist': 'b'.repeat(64) }), ctx);
  assert.deepEqual(plan, {
    name: 'inst',
    method: 'install',
    os: 'rhels8',
    arch: 'x86_64',
    moves: [
      { from: '/tx/bundle/compute.tmpl', to: '/install/custom/rhels8/x86_64/compute.tmpl', what: 'template', dir: false, sha256: 'a'.repeat(64) },
      { from: '/tx/bundle/compute.pkglist', to: '/install/custom/rhels8/x86_64/compute.pkglist', what: 'pkglist', dir: false, sha256: 'b'.repeat(64) },
    ],
    rows: {
      osimage: { imagename: 'inst', imagetype: 'linux', osarch: 'x86_64', osname: 'Linux', osvers: 'rhels8', profile: 'compute', provmethod: 'install' },
      linuximage: { imagename: 'inst', template: '/install/custom/rhels8/x86_64/compute.tmpl', pkglist: '/install/custom/rhels8/x86_64/compute.pkglist' },
      litefile: [],
    },
    warnings: [],
  });
});

test('planImport: a native netboot bundle goes under netboot/<os>/<arch>/<profile>, the tree beside the archive', () => {
  const dir = '/install/netboot/rhels8/x86_64/compute';
  const plan = planImport(staged(NETBOOT, { kernel: 'c'.repeat(64), 'initrd.gz': 'd'.repeat(64), 'rootimg.cpio.gz': 'e'.repeat(64) }, 'rootimg.cpio.gz'), { ...ctx, name: 'nb2' });
  assert.deepEqual(plan, {
    name: 'nb2',
    method: 'netboot',
    os: 'rhels8',
    arch: 'x86_64',
    moves: [
      { from: '/tx/bundle/kernel', to: `${dir}/kernel`, what: 'kernel', dir: false, sha256: 'c'.repeat(64) },
      { from: '/tx/bundle/initrd.gz', to: `${dir}/initrd-stateless.gz`, what: 'initrd', dir: false, sha256: 'd'.repeat(64) },
      { from: '/tx/bundle/rootimg.cpio.gz', to: `${dir}/rootimg.cpio.gz`, what: 'rootimg', dir: false, sha256: 'e'.repeat(64) },
      { from: '/tx/rootimg', to: `${dir}/rootimg`, what: 'rootimg/', dir: true },
    ],
    rows: {
      osimage: { imagename: 'nb2', imagetype: 'linux', osarch: 'x86_64', osname: 'Linux', osvers: 'rhels8', profile: 'compute', provmethod: 'netboot' },
      linuximage: { imagename: 'nb2', rootimgdir: dir },
      litefile: [],
    },
    warnings: [],
  });
});

test('buildRows: carried columns, then the ones the import decides', () => {
  const m = parseManifestCfg(INSTALL);
  m.osimage = { description: 'from the bundle', osname: 'ignored' };
  m.linuximage = { addkcmdline: 'quiet', template: '/elsewhere/x.tmpl' };
  const warnings: string[] = [];
  const rows = buildRows(m, { name: 'inst', profile: 'compute', linux: { template: '/install/custom/install/rhels8/x86_64/compute.tmpl' }, lists: { pkglist: '/install/custom/install/rhels8/x86_64/compute.pkglist' }, ctx, warnings });
  assert.deepEqual({ rows, warnings }, {
    rows: {
      osimage: { description: 'from the bundle', imagename: 'inst', imagetype: 'linux', osarch: 'x86_64', osname: 'Linux', osvers: 'rhels8', profile: 'compute', provmethod: 'install' },
      linuximage: { addkcmdline: 'quiet', imagename: 'inst', pkglist: '/install/custom/install/rhels8/x86_64/compute.pkglist', template: '/install/custom/install/rhels8/x86_64/compute.tmpl' },
      litefile: [],
    },
    warnings: [
      "linuximage.template /elsewhere/x.tmpl lies outside the exporting node's install directory (/install): not written; set it with chdef if this node has it, or allow the directory with IMGPORT_ALLOW",
    ],
  });
});
