import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseCatalog } from '@imgport/catalog';
import { addInstallImage, errorOf, startApi, type Harness } from '../test/support/harness.js';

describe('issue 13 routes: oci:// imports, publish jobs, the node as a catalog', () => {
  let h: Harness;
  const json = (path: string, body: unknown) => h.call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  before(async () => {
    h = await startApi({ env: { IMGPORT_URL_ALLOW: 'https://example.org/b/,oci://reg.site:5000/images/' } });
    await addInstallImage(h, 'cat-img');
  });
  after(() => h.close());

  test('an oci:// source goes to the worker under the same allow-list as URLs', async () => {
    assert.equal((await json('/v1/imports', { source: 'oci://reg.site:5000/images/cat-img:v1' })).status, 202);
    assert.deepEqual(h.fake.submitted.at(-1)?.payload, { source: { kind: 'url', url: 'oci://reg.site:5000/images/cat-img:v1' } });
    const e = await errorOf(await json('/v1/imports', { source: 'oci://127.0.0.1:5000/images/x:v1' }));
    assert.equal(e.status, 400);
    assert.match(e.message, /IMGPORT_URL_ALLOW/);
  });

  test('POST /v1/publish enqueues a publish job; destinations outside the allow-list or the source dirs are refused', async () => {
    const res = await json('/v1/publish', { image: 'cat-img', destination: 'oci://reg.site:5000/images/cat-img:v2' });
    assert.equal(res.status, 202);
    assert.deepEqual(h.fake.submitted.at(-1), { type: 'publish', payload: { image: 'cat-img', destination: 'oci://reg.site:5000/images/cat-img:v2' }, ...(h.fake.submitted.at(-1)!.id ? { id: h.fake.submitted.at(-1)!.id } : {}) });
    assert.equal((await json('/v1/publish', { image: 'cat-img', destination: `file://${join(h.dirs.sources, 'catalog')}` })).status, 202);
    for (const destination of ['oci://evil.test/x:v1', '/etc/imgport', `file://${h.dirs.data}`]) {
      assert.equal((await errorOf(await json('/v1/publish', { image: 'cat-img', destination }))).status, 400, destination);
    }
    assert.equal((await errorOf(await json('/v1/publish', { image: 'no-such', destination: 'oci://reg.site:5000/images/a:v1' }))).code, 'IMAGE_NOT_FOUND');
  });

  test('GET /v1/catalog/index.json: a valid catalog of the snapshot bundles, the same bytes until they change', async () => {
    const first = await h.call('/v1/catalog/index.json');
    assert.equal(first.status, 200);
    const doc = parseCatalog(Buffer.from(await first.arrayBuffer()), 'index');
    assert.equal(doc.version, 1);
    assert.deepEqual(doc.entries, []);
    const again = parseCatalog(Buffer.from(await (await h.call('/v1/catalog/index.json')).arrayBuffer()), 'index');
    assert.deepEqual(again, doc);
    assert.equal((await h.call('/v1/catalog/index.json.sig')).status, 404, 'unsigned: no IMGPORT_SIGNING_KEY');
  });
});
