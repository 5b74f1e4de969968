import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { TableStore } from '@imgport/tables';
import { fingerprint, generateEd25519 } from '@imgport/trust';
import { addNetbootImage, makeWorld, sqliteBackend, type World } from '../../test/support/world.js';
import type { SignaturePolicy } from '../trust/signatures.js';
import { StoreSnapshots } from './store.js';

const backend = sqliteBackend();
let tables: TableStore;
let w: World;
let clock = Date.parse('2026-11-27T06:15:02Z');
const site = generateEd25519('imgport@site');
const mallory = generateEd25519('mallory@elsewhere');
let siteKey = '';
let malloryKey = '';
let allowed = '';

before(async () => {
  tables = await backend.open();
  w = await makeWorld(tables);
  siteKey = join(w.base, 'site_ed25519');
  malloryKey = join(w.base, 'mallory_ed25519');
  writeFileSync(siteKey, site.privateText, { mode: 0o600 });
  writeFileSync(malloryKey, mallory.privateText, { mode: 0o600 });
  allowed = join(w.base, 'allowed_signers');
  writeFileSync(allowed, `imgport@site namespaces="imgport-bundle" ${site.publicLine}`);
});
after(async () => {
  await tables.close();
  await backend.dispose();
  rmSync(w.base, { recursive: true, force: true });
});

function snapshots(policy: SignaturePolicy | undefined, key?: string): StoreSnapshots {
  return new StoreSnapshots({
    ...w.deps,
    ...(key ? { signingKey: key } : {}),
    ...(policy ? { trust: { policy, allowedSigners: allowed } } : {}),
    now: () => new Date((clock += 1000)),
  });
}

const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

test('store snapshots are signed with the site key, and a revert under require checks the signature', async () => {
  const img = await addNetbootImage(w, 'signedimg');
  const hosts = join(img.rootimgdir, 'rootimg', 'etc', 'hosts');
  const store = snapshots('require', siteKey);
  const ref = await store.create('signedimg', { label: 'golden' });
  assert.equal(ref.signer, fingerprint(site.key.publicKey));
  assert.match(ref.sig ?? '', /^-----BEGIN SSH SIGNATURE-----/);
  assert.deepEqual(store.get(ref.id), ref, 'the ref on disk carries its signature');
  store.setPinned(ref.id, true);
  writeFileSync(hosts, 'edited\n');
  const res = await store.revert(ref.id);
  await store.settled();
  assert.deepEqual(res.notes, []);
  assert.equal(readFileSync(hosts, 'utf8'), '127.0.0.1 localhost\n', 'pinning is not signed: a pinned snapshot still verifies');
  assert.equal(store.get(res.before!).signer, ref.signer, 'the snapshot a revert takes first is signed too');
});

test('a tampered ref is refused (SIGNATURE_INVALID) and the image is left as it is', async () => {
  const img = await addNetbootImage(w, 'tamperref');
  const hosts = join(img.rootimgdir, 'rootimg', 'etc', 'hosts');
  const store = snapshots('require', siteKey);
  const first = await store.create('tamperref');
  writeFileSync(hosts, 'second state\n');
  const second = await store.create('tamperref');
  writeFileSync(hosts, 'live state\n');
  // Point the first ref at the second snapshot's tree: every digest valid, the statement changed.
  const file = store.store.refs.file(first.image, first.stamp);
  writeFileSync(file, JSON.stringify({ ...first, tree: second.tree, ...(second.base ? { base: second.base } : {}) }));
  await assert.rejects(store.revert(first.id), code('SIGNATURE_INVALID'));
  await assert.rejects(store.exportBundle(first.id, { destination: join(w.out, 'tampered.tgz') }), code('SIGNATURE_INVALID'));
  assert.equal(readFileSync(hosts, 'utf8'), 'live state\n');
  // Another key's signature over the tampered ref: valid, but not a trusted signer.
  const forged = await snapshots(undefined, malloryKey).create('tamperref');
  await assert.rejects(store.revert(forged.id), code('SIGNER_UNTRUSTED'));
  assert.equal(readFileSync(hosts, 'utf8'), 'live state\n');
});

test('a tampered tree object is refused (CHECKSUM_MISMATCH) before anything changes', async () => {
  const img = await addNetbootImage(w, 'tampertree');
  const hosts = join(img.rootimgdir, 'rootimg', 'etc', 'hosts');
  const store = snapshots('require', siteKey);
  const ref = await store.create('tampertree');
  writeFileSync(hosts, 'live state\n');
  // The tree object rewritten in place with a plausible tree: /etc/hosts made world-writable.
  const at = store.store.objects.locate(ref.tree)!;
  assert.equal(at.deflated, false);
  const lines = gunzipSync(readFileSync(at.file)).toString('utf8').split('\n');
  const edited = lines.map((l) => (l.includes('/rootimg/etc/hosts"') ? l.replace(/"m":\d+/, '"m":438') : l));
  assert.notDeepEqual(edited, lines);
  chmodSync(at.file, 0o644);
  writeFileSync(at.file, gzipSync(edited.join('\n')));
  await assert.rejects(snapshots('require', siteKey).revert(ref.id), code('CHECKSUM_MISMATCH'));
  assert.equal(readFileSync(hosts, 'utf8'), 'live state\n');
});

test('unsigned snapshots: refused under require, a note under warn, as they were with no policy', async () => {
  await addNetbootImage(w, 'unsignedimg');
  const ref = await snapshots(undefined).create('unsignedimg');
  assert.equal(ref.signer, null);
  assert.equal(ref.sig, undefined);
  await assert.rejects(snapshots('require').revert(ref.id), code('SIGNATURE_MISSING'));
  await assert.rejects(snapshots('require').exportBundle(ref.id, { destination: join(w.out, 'unsigned.tgz') }), code('SIGNATURE_MISSING'));
  const warned = snapshots('warn');
  const res = await warned.revert(ref.id);
  await warned.settled();
  assert.deepEqual(res.notes, [`store snapshot ${ref.id} is not signed: nothing proves it was taken here (IMGPORT_SIGNATURES=require refuses such snapshots)`]);
});
