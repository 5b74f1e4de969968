/**
 * A static catalog served over HTTP by a plain file server with Range and If-Range: a signed
 * index, a download cut off and resumed by a second run (fetching only the rest), a bundle that
 * changed on the server (If-Range starts over), a wrong sha256, an index pointing at file://.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildCatalog, loadCatalog, openPull, pullFile, serializeCatalog, type CatalogDoc } from '@imgport/catalog';
import { generateEd25519, formatPublicKeyLine, signSshSig } from '@imgport/trust';
import { judgeSignature, type TrustOptions } from '@imgport/engine';
import { makeNativeBundle, tempDir } from '../support/bundles.js';

let dir: string;
let web: string;
let server: Server;
let base: string;
let cutAfter: number | undefined;
let served = 0;
const ranges: string[] = [];
const key = generateEd25519('site@example');
let trust: TrustOptions;

before(async () => {
  dir = tempDir('imgport-cat-http-');
  web = join(dir, 'www');
  mkdirSync(join(web, 'img'), { recursive: true });
  const b = await makeNativeBundle(dir, { name: 'webimg', method: 'netboot', rootFiles: 4000 });
  copyFileSync(b, join(web, 'img', 'webimg-20261201T000000Z.tgz'));
  await buildCatalog(web, { sign: async (ns, data) => Buffer.from(signSshSig(key.key, ns, data)) });
  writeFileSync(join(dir, 'allowed'), `site@example namespaces="imgport-catalog,imgport-bundle" ${formatPublicKeyLine(key.key.publicKey)}\n`);
  trust = { policy: 'require', allowedSigners: join(dir, 'allowed') };
  server = createServer((req, res) => {
    const path = join(web, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    if (!existsSync(path) || statSync(path).isDirectory()) return void res.writeHead(404).end();
    const data = readFileSync(path);
    const etag = `"${createHash('sha256').update(data).digest('hex').slice(0, 16)}"`;
    if (req.headers.range) ranges.push(`${req.headers.range} ${String(req.headers['if-range'] ?? '')}`);
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    const honour = range && (!req.headers['if-range'] || req.headers['if-range'] === etag);
    const start = honour ? Number(range[1]) : 0;
    const part = data.subarray(start);
    res.writeHead(honour ? 206 : 200, { etag, 'content-length': part.length, ...(honour ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}) });
    if (cutAfter !== undefined && part.length > cutAfter) {
      const n = cutAfter;
      served += n;
      cutAfter = undefined;
      res.write(part.subarray(0, n), () => res.socket?.destroy());
      return;
    }
    served += part.length;
    res.end(part);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const ctx = (extra: object = {}) => ({ judge: (sig: Buffer | undefined, msg: Buffer, o: { namespace: string; where: string; what: string }) => judgeSignature(sig, msg, trust, o), stateDir: join(dir, 'state'), attempts: 1, ...extra });

test('the signed index loads over HTTP under require; its entry names the bundle, its size and sha256', async () => {
  const cat = await loadCatalog(`${base}/index.json`, ctx());
  assert.equal(cat.signature.signer?.principal, 'site@example');
  assert.deepEqual(cat.doc.entries.map((e) => [e.name, e.stamp, e.url]), [['webimg', '20261201T000000Z', 'img/webimg-20261201T000000Z.tgz']]);
});

test('a download cut off at half is resumed by the next run with a Range request; the total is about one bundle', async () => {
  const out = join(dir, 'pulled');
  mkdirSync(out);
  const size = statSync(join(web, 'img', 'webimg-20261201T000000Z.tgz')).size;
  cutAfter = Math.floor(size / 2);
  served = 0;
  await assert.rejects(pullFile(`${base}/index.json#webimg`, out, ctx()), (e: Error & { code?: string }) => e.code === 'IO_ERROR');
  assert.ok(existsSync(join(out, 'webimg-20261201T000000Z.tgz.part')));
  const r = await pullFile(`${base}/index.json#webimg`, out, ctx());
  assert.ok(r.bytesResumed > size / 4 && r.bytesResumed <= size / 2, `${r.bytesResumed} bytes kept from the first run`);
  assert.equal(r.bytesResumed + r.bytesFetched, size);
  // Bytes in flight when the connection broke are lost with it; what the second run asks for is the rest.
  assert.deepEqual(ranges, [`bytes=${r.bytesResumed}- ${ranges[0]?.split(' ')[1] ?? ''}`]);
  assert.match(ranges[0]!, /^bytes=\d+- "[0-9a-f]{16}"$/, 'the range is conditional on the ETag the first run saw');
  assert.ok(served > 0);
  assert.deepEqual(readFileSync(r.file), readFileSync(join(web, 'img', 'webimg-20261201T000000Z.tgz')));
});

test('a bundle whose bytes do not match the index is refused and nothing is left', async () => {
  const file = join(web, 'img', 'webimg-20261201T000000Z.tgz');
  const good = readFileSync(file);
  const bad = Buffer.from(good);
  bad[bad.length - 100] = bad[bad.length - 100]! ^ 1;
  writeFileSync(file, bad);
  try {
    const out = join(dir, 'bad');
    mkdirSync(out);
    await assert.rejects(pullFile(`${base}/index.json#webimg`, out, ctx()), (e: Error & { code?: string }) => e.code === 'CHECKSUM_MISMATCH');
    assert.equal(existsSync(join(out, 'webimg-20261201T000000Z.tgz.part')), false);
    const opened = await openPull(`${base}/index.json#webimg`, ctx());
    const got: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of opened.stream) got.push(c as Buffer);
      })(),
      (e: Error & { code?: string }) => e.code === 'CHECKSUM_MISMATCH',
    );
    assert.ok(Buffer.concat(got).length <= good.length - 64 * 1024, 'the tail is held back until the digest matched');
  } finally {
    writeFileSync(file, good);
  }
});

test('an index fetched over HTTP may not point at local files', async () => {
  const cat = await loadCatalog(`${base}/index.json`, ctx());
  const evil: CatalogDoc = { ...cat.doc, version: cat.doc.version + 1, entries: [{ ...cat.doc.entries[0]!, url: 'file:///etc/shadow' }] };
  const bytes = serializeCatalog(evil);
  writeFileSync(join(web, 'index.json'), bytes);
  writeFileSync(join(web, 'index.json.sig'), signSshSig(key.key, 'imgport-catalog', bytes));
  await assert.rejects(openPull(`${base}/index.json#webimg`, ctx()), (e: Error & { code?: string }) => e.code === 'UNSAFE_PATH');
});

test('under require an unsigned index is refused', async () => {
  await buildCatalog(web, { version: 50 });
  await assert.rejects(loadCatalog(`${base}/index.json`, ctx()), (e: Error & { code?: string }) => e.code === 'SIGNATURE_MISSING');
});
