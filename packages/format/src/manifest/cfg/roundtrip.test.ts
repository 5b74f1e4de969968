import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { isCarriedColumn, LINUXIMAGE_COLUMNS, OSIMAGE_COLUMNS } from '../../columns.js';
import { parseManifestCfg, serializeManifestCfg } from './read.js';
import { LIST_KINDS, METHODS, type BundleManifest, type FileRef } from '../../model.js';

/** mulberry32: a seeded generator, so a failing case can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAME_CHARS = 'abcXYZ019._+-';
const MEMBER_CHARS = 'abc019._- #';

function generate(seed: number): BundleManifest {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const word = (chars: string, min: number, max: number) =>
    Array.from({ length: min + Math.floor(r() * (max - min + 1)) }, () => pick([...chars])).join('');
  const token = () => `t${word(NAME_CHARS, 0, 20)}`;
  const member = (): FileRef => ({ member: Array.from({ length: 1 + Math.floor(r() * 3) }, () => `m${word(MEMBER_CHARS, 0, 8)}x`).join('/') });
  const method = pick(METHODS);
  const m: BundleManifest = {
    format: 1,
    flavor: 'native',
    name: token(),
    os: token(),
    arch: pick(['x86_64', 'ppc64le', 'aarch64']),
    profile: token(),
    method,
    lists: {},
    extras: [],
    osimage: {},
    linuximage: {},
    kits: [],
    kitrepos: [],
    kitcomps: [],
  };
  if (method === 'install') Object.assign(m, { template: member() }, r() < 0.5 ? { media: 'required' } : {});
  else Object.assign(m, { kernel: member(), initrd: member(), rootimg: member() });
  if (r() < 0.3) m.litefile = member();
  for (const kind of LIST_KINDS) if (r() < 0.4) m.lists[kind] = Array.from({ length: 1 + Math.floor(r() * 3) }, member);
  for (let i = Math.floor(r() * 3); i > 0; i--) m.extras.push({ ...member(), dest: pick(['/install/postscripts', 'custom/files', '.', '/opt/site']) });
  for (const col of OSIMAGE_COLUMNS) if (isCarriedColumn('osimage', col) && r() < 0.2) m.osimage[col] = `v ${word(MEMBER_CHARS, 0, 10)}#z`;
  for (const col of LINUXIMAGE_COLUMNS) if (isCarriedColumn('linuximage', col) && r() < 0.2) m.linuximage[col] = `/p/${word(NAME_CHARS, 1, 10)}`;
  return m;
}

test('parse(serialize(m)) deepStrictEquals m over generated manifests', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const m = generate(seed);
    assert.deepStrictEqual(parseManifestCfg(serializeManifestCfg(m)), m, `seed ${seed}`);
  }
});

test('serialize writes canonical multi-line text', () => {
  const m = parseManifestCfg('name a os rhels8 arch x86_64 profile p method netboot kernel k initrd i rootimg r.gz extra s:/install/postscripts');
  m.linuximage.rootimgdir = '/install/netboot/rhels8/x86_64/p';
  m.lists.pkglist = [{ member: 'a.pkglist' }, { member: 'b.pkglist' }];
  assert.equal(
    serializeManifestCfg(m),
    'format 1\nname a\nos rhels8\narch x86_64\nprofile p\nmethod netboot\nkernel k\ninitrd i\nrootimg r.gz\n' +
      'pkglist a.pkglist,b.pkglist\nextra s:/install/postscripts\nlinuximage.rootimgdir /install/netboot/rhels8/x86_64/p\n',
  );
});

function refuses(m: BundleManifest, code: string, message: string): void {
  assert.throws(
    () => serializeManifestCfg(m),
    (err: unknown) => err instanceof ImgportError && err.code === code && err.message === message,
  );
}

test('serialize refuses what it could not read back', () => {
  const base = generate(7);
  refuses({ ...base, osimage: { comments: 'two\nlines' } }, 'MANIFEST_INVALID', 'manifest.cfg: cannot write key "osimage.comments": the value holds a line break ("two\\nlines")');
  refuses({ ...base, osimage: { comments: ' padded' } }, 'MANIFEST_INVALID', 'manifest.cfg: cannot write key "osimage.comments": leading or trailing whitespace would be lost (" padded")');
  refuses({ ...base, lists: { exlist: [{ member: 'a,b' }] } }, 'MANIFEST_INVALID', 'manifest.cfg: cannot write key "exlist": file name "a,b" contains ","');
  refuses({ ...base, extras: [{ member: 'a:b', dest: '/install' }] }, 'MANIFEST_INVALID', 'manifest.cfg: cannot write key "extra": file name "a:b" contains ":"');
});

test('serialize refuses xCAT-only content instead of dropping it', () => {
  const base = generate(3);
  refuses(
    { ...base, rootimgtree: { member: 'rootimgtree.gz' }, kits: [{ name: 'k' }], postscripts: 'syslog' },
    'UNSUPPORTED',
    'manifest.cfg cannot carry rootimgtree, postscripts, kit (xCAT-only); write manifest.xml instead',
  );
});
