import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { extract } from 'tar-stream';
import { bundleManifest, checkFreshness, parseCatalog, parseChallenge, parseOciReference, readBundleManifest, selectEntry, serializeCatalog, TAR_END, tarHeader, tarLayout, padding, type CatalogDoc } from './index.js';

test('oci references: host with port, nested repository, tag or digest; bad ones say why', () => {
  assert.deepEqual(parseOciReference('oci://reg.site:5000/images/rhel/compute:v1'), { host: 'reg.site:5000', repository: 'images/rhel/compute', tag: 'v1' });
  const d = `sha256:${'a'.repeat(64)}`;
  assert.deepEqual(parseOciReference(`oci://reg/img@${d}`), { host: 'reg', repository: 'img', digest: d });
  for (const bad of ['oci://reg', 'oci://reg/Upper:v1', 'oci://reg/a/../b:v1', 'oci://reg/a:bad tag', 'https://reg/a:v1', 'oci://reg/a@sha256:12']) {
    assert.throws(() => parseOciReference(bad), (e: Error & { code?: string }) => e.code === 'BAD_REQUEST', bad);
  }
});

test('WWW-Authenticate challenges are parsed with quoted, unquoted and comma-bearing values', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.site/token",service="registry",scope="repository:a:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.site/token', service: 'registry', scope: 'repository:a:pull,push' },
  });
  assert.deepEqual(parseChallenge('Basic realm=reg'), { scheme: 'basic', params: { realm: 'reg' } });
});

test('rebuilt tar headers read back with tar-stream at the offsets the layout promises', async () => {
  const members = [
    { name: 'SHA256SUMS', data: Buffer.from('x'.repeat(700)) },
    { name: `img/${'d'.repeat(120)}/kernel`, data: Buffer.from('k') },
    { name: 'empty', data: Buffer.alloc(0) },
  ];
  const { slots, total } = tarLayout(members.map((m) => ({ name: m.name, size: m.data.length })));
  const parts: Buffer[] = [];
  for (const m of members) parts.push(tarHeader(m.name, m.data.length), m.data, Buffer.alloc(padding(m.data.length)));
  parts.push(TAR_END);
  const tar = Buffer.concat(parts);
  assert.equal(tar.length, total);
  assert.deepEqual(slots.map((s) => s.data), [512, 512 + 1024 + 512, 512 + 1024 + 1024 + 512]);
  const seen: Array<[string, number]> = [];
  const ex = extract();
  Readable.from([tar]).pipe(ex);
  for await (const e of ex) {
    seen.push([e.header.name, e.header.size ?? -1]);
    e.resume();
  }
  assert.deepEqual(seen, members.map((m) => [m.name, m.data.length]));
  const big = tarHeader('rootimg.cpio.gz', 9 * 1024 ** 3);
  assert.equal(big[124], 0x80, 'sizes over 8 GiB use base-256');
});

test('a bundle manifest round-trips; titles that could escape or repeat are refused', () => {
  const layer = { name: 'manifest.cfg', digest: `sha256:${'b'.repeat(64)}`, size: 10 };
  const image = { name: 'img', osvers: 'rhels8.5.0', arch: 'x86_64', provmethod: 'netboot', profile: 'compute' };
  const read = readBundleManifest(bundleManifest([layer], image), 'm');
  assert.deepEqual(read.members, [layer]);
  assert.deepEqual(read.image, image);
  for (const name of ['../etc/passwd', '/abs', 'a//b', 'a/./b', '']) {
    assert.throws(() => readBundleManifest(bundleManifest([{ ...layer, name }], image), 'm'), (e: Error & { code?: string }) => e.code === 'UNSAFE_PATH' || e.code === 'BUNDLE_INVALID', name);
  }
  assert.throws(() => readBundleManifest(bundleManifest([layer, layer], image), 'm'), (e: Error & { code?: string }) => e.code === 'UNSAFE_PATH');
  const container = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: layer.digest, size: 1 }, layers: [] }));
  assert.throws(() => readBundleManifest(container, 'm'), /not an imgport bundle/);
});

test('catalog freshness: expired, rolled back, or the same version with other content is refused', () => {
  const doc: CatalogDoc = { imgportCatalog: 1, version: 5, generated: '2026-12-01T00:00:00Z', expires: '2026-12-31T00:00:00Z', entries: [] };
  const now = Date.parse('2026-12-02T00:00:00Z');
  assert.doesNotThrow(() => checkFreshness(doc, 'aa', { version: 5, sha256: 'aa' }, 'c', now));
  assert.doesNotThrow(() => checkFreshness(doc, 'aa', { version: 4, sha256: 'zz' }, 'c', now));
  const stale = (fn: () => void, re: RegExp) => assert.throws(fn, (e: Error & { code?: string }) => e.code === 'CATALOG_STALE' && re.test(e.message));
  stale(() => checkFreshness(doc, 'aa', { version: 6, sha256: 'zz' }, 'c', now), /older than version 6/);
  stale(() => checkFreshness(doc, 'bb', { version: 5, sha256: 'aa' }, 'c', now), /other content/);
  stale(() => checkFreshness(doc, 'aa', undefined, 'c', Date.parse('2027-01-01T00:00:00Z')), /expired/);
});

test('catalog entries: the newest stamp of a name, or an exact stamp; the document schema is enforced', () => {
  const e = (stamp: string) => ({ name: 'img', stamp, osvers: 'r', arch: 'x86_64', method: 'netboot' as const, size: 1, sha256: 'c'.repeat(64), url: `img/${stamp}.tgz`, signer: null });
  const doc: CatalogDoc = { imgportCatalog: 1, version: 1, generated: 'x', expires: '2030-01-01T00:00:00Z', entries: [e('20260101T000000Z'), e('20261101T000000Z')] };
  assert.equal(selectEntry(doc, 'img', 'c').stamp, '20261101T000000Z');
  assert.equal(selectEntry(doc, 'img@20260101T000000Z', 'c').stamp, '20260101T000000Z');
  assert.throws(() => selectEntry(doc, 'other', 'c'), /has no entry other \(it lists img\)/);
  assert.deepEqual(parseCatalog(serializeCatalog(doc), 'c'), doc);
  assert.throws(() => parseCatalog(Buffer.from(JSON.stringify({ ...doc, version: 0 })), 'c'), (err: Error & { code?: string }) => err.code === 'BUNDLE_INVALID');
});
