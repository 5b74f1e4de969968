/**
 * The web console at the HTML level: the real app on a real socket (testkit), real SQLite tables
 * and snapshot store, the in-memory queue. Sign-in, redirects, CSRF, escaping of hostile values,
 * the forms (upload, export, bulk snapshot, revert, prune, cancel) and the figures it prints.
 */
import assert from 'node:assert/strict';
import { link, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ImportPayload } from '@imgport/jobs';
import { addInstallImage, startApi, TOKEN, type Harness } from '../../test/support/harness.js';
import { spoolDir } from '../spool.js';
import { gzipSync } from 'node:zlib';
import { esc, html } from './html.js';
import { imagePage } from './views.js';

const HOSTILE = '<script>alert(1)</script>';

interface Browser {
  cookie: string;
  csrf: string;
  get(path: string): Promise<Response>;
  post(path: string, fields: Record<string, string | string[]>, withCsrf?: boolean): Promise<Response>;
}

const formBody = (fields: Record<string, string | string[]>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
  return p;
};

async function signIn(h: Harness): Promise<Browser> {
  const res = await fetch(`${h.url}/ui/login`, { method: 'POST', body: formBody({ token: TOKEN, next: '/ui/jobs' }), redirect: 'manual' });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/ui/jobs');
  const set = res.headers.get('set-cookie') ?? '';
  assert.match(set, /^imgport_session=[A-Za-z0-9_-]{40,}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  const cookie = set.split(';')[0]!;
  const get = (path: string) => fetch(h.url + path, { headers: { cookie }, redirect: 'manual' });
  const page = await (await get('/ui/images')).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(csrf, 'a CSRF token in the page');
  return {
    cookie,
    csrf,
    get,
    post: (path, fields, withCsrf = true) =>
      fetch(h.url + path, { method: 'POST', headers: { cookie }, body: formBody(withCsrf ? { _csrf: csrf, ...fields } : fields), redirect: 'manual' }),
  };
}

/** A snapshot written into the store's layout: a bundle file and its sidecar. */
async function fakeSnapshot(h: Harness, image: string, stamp: string, label?: string, bundleFrom?: string): Promise<void> {
  const dir = join(h.dirs.data, 'snapshots', image);
  await mkdir(dir, { recursive: true });
  if (bundleFrom) await link(bundleFrom, join(dir, `${stamp}.tgz`));
  else await writeFile(join(dir, `${stamp}.tgz`), 'not really a bundle');
  const side = { image, timestamp: stamp, ...(label === undefined ? {} : { label }), sha256: 'ab'.repeat(32), bytes: 19, createdAt: new Date().toISOString() };
  await writeFile(join(dir, `${stamp}.json`), JSON.stringify(side));
}

describe('web console (HTML)', () => {
  let h: Harness;
  let b: Browser;
  before(async () => {
    h = await startApi();
    await addInstallImage(h, 'inst-a');
    await addInstallImage(h, 'inst-b', { os: 'sles15', arch: 'ppc64le' });
    b = await signIn(h);
  });
  after(() => h.close());

  test('html escapes every interpolated value; nested templates are kept', () => {
    assert.equal(esc(`<a href="x" onclick='y'>&\``), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;');
    const inner = html`<b>${HOSTILE}</b>`;
    assert.equal(html`<p title="${'"'}">${inner}${[1, null, undefined, false, 'x']}</p>`.value, '<p title="&quot;"><b>&lt;script&gt;alert(1)&lt;/script&gt;</b>1x</p>');
  });

  test('without a session every page redirects to the sign-in form; a wrong token is refused', async () => {
    for (const path of ['/ui', '/ui/images', '/ui/images/inst-a', '/ui/jobs', '/ui/jobs/imp-x', '/ui/import', '/ui/snapshots/x@y']) {
      const res = await fetch(h.url + path, { redirect: 'manual' });
      assert.equal(res.status, 303, path);
      assert.equal(res.headers.get('location'), `/ui/login?next=${encodeURIComponent(path)}`);
    }
    const login = await fetch(`${h.url}/ui/login`);
    assert.equal(login.status, 200);
    assert.match(await login.text(), /<input type="password" name="token"/);
    const bad = await fetch(`${h.url}/ui/login`, { method: 'POST', body: formBody({ token: 'nope' }), redirect: 'manual' });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get('set-cookie'), null);
    assert.match(await bad.text(), /not one of the server&#39;s API tokens/);
    const forged = await fetch(`${h.url}/ui/images`, { headers: { cookie: 'imgport_session=forged' }, redirect: 'manual' });
    assert.equal(forged.status, 303);
    // No open redirect after sign-in.
    const evil = await fetch(`${h.url}/ui/login`, { method: 'POST', body: formBody({ token: TOKEN, next: '//evil.example/ui' }), redirect: 'manual' });
    assert.equal(evil.headers.get('location'), '/ui/images');
  });

  test('the session reads event streams and bundles but not the rest of the API', async () => {
    h.fake.put({ id: 'imp-live', type: 'import', state: 'succeeded' });
    const events = await b.get('/v1/jobs/imp-live/events');
    assert.equal(events.status, 200);
    assert.match(await events.text(), /event: state/);
    assert.equal((await b.get('/v1/images')).status, 401);
    assert.equal((await fetch(`${h.url}/v1/jobs/imp-live/events`, { method: 'DELETE', headers: { cookie: b.cookie } })).status, 401);
    assert.equal((await fetch(`${h.url}/v1/jobs/imp-live/events`)).status, 401);
  });

  test('every form POST without the session CSRF token is refused and changes nothing', async () => {
    const before = h.fake.submitted.length;
    for (const [path, fields] of [
      ['/ui/exports', { image: 'inst-a' }],
      ['/ui/snapshots', { scope: 'all' }],
      ['/ui/logout', {}],
      ['/ui/images/inst-a/prune', { keep: '0', confirm: 'inst-a' }],
    ] as const) {
      const res = await b.post(path, fields, false);
      assert.equal(res.status, 403, path);
      assert.match(await res.text(), /no valid CSRF token/);
      const wrong = await b.post(path, { ...fields, _csrf: 'x'.repeat(32) }, false);
      assert.equal(wrong.status, 403, path);
    }
    const fd = new FormData();
    fd.append('_csrf', 'wrong');
    fd.append('bundle', new Blob([Buffer.from('bytes')]), 'b.tgz');
    const up = await fetch(`${h.url}/ui/imports`, { method: 'POST', headers: { cookie: b.cookie }, body: fd, redirect: 'manual' });
    assert.equal(up.status, 403);
    assert.equal(h.fake.submitted.length, before);
    assert.deepEqual((await readdir(spoolDir(h.config.dataDir)).catch(() => [])).filter((n) => n.endsWith('.bundle')), []);
    assert.equal((await b.get('/ui/images')).status, 200, 'still signed in');
  });

  test('hostile names, labels, paths and messages are escaped on every page', async () => {
    await h.tables.writeImage(HOSTILE, {
      osimage: { imagename: HOSTILE, profile: 'p', imagetype: 'linux', provmethod: HOSTILE, osvers: HOSTILE, osarch: 'x86_64' },
      linuximage: { imagename: HOSTILE, template: `/install/${HOSTILE}.tmpl`, pkglist: `/tmp/"><img src=x onerror=alert(2)>` },
      litefile: [],
    });
    await fakeSnapshot(h, 'inst-a', '20261101T000000Z', HOSTILE);
    h.fake.put({ id: 'imp-hostile', type: 'import', state: 'failed', image: HOSTILE, error: { code: 'BUNDLE_INVALID', message: `member ${HOSTILE} is bad` } });
    const pages = ['/ui/images', `/ui/images/${encodeURIComponent(HOSTILE)}`, '/ui/images/inst-a', '/ui/snapshots/inst-a@20261101T000000Z', '/ui/snapshots/inst-a@20261101T000000Z/revert', '/ui/jobs', '/ui/jobs/rows', '/ui/jobs/imp-hostile', `/ui/nothing-${encodeURIComponent(HOSTILE)}`];
    for (const path of pages) {
      const res = await b.get(path);
      const body = await res.text();
      assert.ok(res.status === 200 || (path.startsWith('/ui/nothing') && res.status === 404), `${path}: ${res.status}`);
      assert.ok(!body.includes('<script>alert'), `${path} carries a raw <script>`);
      assert.ok(!body.includes('<img src=x'), `${path} carries a raw <img>`);
      if (!path.startsWith('/ui/nothing')) assert.ok(body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), `${path} shows the escaped value`);
    }
  });

  test('upload form: streamed into the spool and submitted as an import with its options', async () => {
    const fd = new FormData();
    fd.append('_csrf', b.csrf);
    fd.append('name', 'renamed');
    fd.append('force', '1');
    fd.append('bundle', new Blob([Buffer.alloc(300_000, 7)]), 'x.tgz');
    const res = await fetch(`${h.url}/ui/imports`, { method: 'POST', headers: { cookie: b.cookie }, body: fd, redirect: 'manual' });
    assert.equal(res.status, 303, await res.clone().text());
    const sub = h.fake.submitted.at(-1)!;
    assert.equal(res.headers.get('location'), `/ui/jobs/${sub.id}`);
    const p = sub.payload as ImportPayload;
    assert.deepEqual([sub.type, p.name, p.force, p.source.kind, p.source.kind === 'spool' && p.source.size], ['import', 'renamed', true, 'spool', 300_000]);

    const bad = new FormData();
    bad.append('_csrf', b.csrf);
    bad.append('name', '../etc');
    bad.append('bundle', new Blob([Buffer.from('x')]), 'x.tgz');
    const r2 = await fetch(`${h.url}/ui/imports`, { method: 'POST', headers: { cookie: b.cookie }, body: bad, redirect: 'manual' });
    assert.equal(r2.status, 400);
    assert.match(await r2.text(), /body\.name: must be 1-128 characters/);
    const none = new FormData();
    none.append('_csrf', b.csrf);
    const r3 = await fetch(`${h.url}/ui/imports`, { method: 'POST', headers: { cookie: b.cookie }, body: none, redirect: 'manual' });
    assert.equal(r3.status, 400);
    assert.match(await r3.text(), /choose a bundle file/);
  });

  test('export and bulk snapshot forms submit jobs; unknown images are errors', async () => {
    const ex = await b.post('/ui/exports', { image: 'inst-a', format: 'xcat', includeAll: '1' });
    assert.equal(ex.status, 303);
    assert.deepEqual(h.fake.submitted.at(-1)!.payload, { image: 'inst-a', format: 'xcat', include: 'all' });
    assert.equal((await b.post('/ui/exports', { image: 'ghost' })).status, 404);
    const sn = await b.post('/ui/snapshots', { scope: 'selected', images: ['inst-b', 'inst-a'], label: 'nightly' });
    assert.equal(sn.status, 303);
    assert.deepEqual(h.fake.submitted.at(-1)!.payload, { images: ['inst-b', 'inst-a'], label: 'nightly' });
    assert.equal((await b.post('/ui/snapshots', { scope: 'selected' })).status, 400);
    assert.equal((await b.post('/ui/snapshots', { scope: 'selected', images: ['ghost'] })).status, 404);
  });

  test('revert and prune need the image name typed exactly', async () => {
    const real = await h.snapshots.create('inst-b', { label: 'good' });
    const n = h.fake.submitted.length;
    const wrong = await b.post(`/ui/snapshots/${encodeURIComponent(real.id)}/revert`, { confirm: 'inst-' });
    assert.equal(wrong.status, 400);
    assert.match(await wrong.text(), /Type the image name inst-b exactly/);
    assert.equal(h.fake.submitted.length, n);
    const ok = await b.post(`/ui/snapshots/${encodeURIComponent(real.id)}/revert`, { confirm: 'inst-b' });
    assert.equal(ok.status, 303);
    const p = h.fake.submitted.at(-1)!.payload as ImportPayload;
    assert.deepEqual([p.name, p.force, p.source.kind], ['inst-b', true, 'spool']);

    await fakeSnapshot(h, 'inst-b', '20250101T000000Z', 'old');
    await fakeSnapshot(h, 'inst-b', '20250102T000000Z', 'older?');
    assert.equal((await h.snapshots.list('inst-b')).length, 3);
    assert.equal((await b.post('/ui/images/inst-b/prune', { keep: '1', confirm: 'inst-a' })).status, 400);
    assert.equal((await h.snapshots.list('inst-b')).length, 3);
    assert.equal((await b.post('/ui/images/inst-b/prune', { keep: '1', confirm: 'inst-b' })).status, 303);
    assert.deepEqual((await h.snapshots.list('inst-b')).map((s) => s.id), [real.id]);
    const page = await (await b.get(`/ui/snapshots/${encodeURIComponent(real.id)}`)).text();
    assert.match(page, /first snapshot: nothing to compare with/);
    const dl = await b.get(`/ui/snapshots/${encodeURIComponent(real.id)}/bundle`);
    assert.equal(dl.status, 200);
    assert.equal(Buffer.from(await dl.arrayBuffer()).length, real.bytes);
  });

  test('job pages show state, phase, bytes, retries and errors; cancel needs the token', async () => {
    h.fake.put({ id: 'imp-run', type: 'import', state: 'running', image: 'inst-a', attempts: 2, progress: { phase: 'stage', percent: 42, bytesDone: 42 << 20, bytesTotal: 100 << 20 } });
    const page = await (await b.get('/ui/jobs/imp-run')).text();
    assert.match(page, /sse-connect="\/v1\/jobs\/imp-run\/events"/);
    assert.match(page, /data-f="phase">stage</);
    assert.match(page, /42\.0 MiB \/ 100\.0 MiB/);
    assert.match(page, /data-f="retries">1</);
    const list = await (await b.get('/ui/jobs?state=running')).text();
    assert.match(list, /imp-run/);
    assert.ok(!list.includes('imp-hostile'));
    assert.equal((await b.post('/ui/jobs/imp-run/cancel', {})).status, 303);
    assert.equal((await h.fake.status('imp-run'))?.state, 'cancelled');
    h.fake.put({ id: 'exp-1', type: 'export', state: 'succeeded', image: 'inst-a', result: { bundle: '/nowhere' } });
    assert.match(await (await b.get('/ui/jobs/exp-1')).text(), /href="\/v1\/jobs\/exp-1\/bundle" download/);
  });

  test('figures: page sizes and the time to render an image with 1 000 snapshots', async () => {
    const first = await h.snapshots.create('inst-a', { label: 'base' });
    const base = Date.UTC(2024, 0, 1);
    for (let i = 0; i < 999; i++) {
      const stamp = new Date(base + i * 3600_000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      await fakeSnapshot(h, 'inst-a', stamp, `nightly-${i}`, first.path);
    }
    assert.equal((await h.snapshots.list('inst-a')).length, 1001);
    const times: number[] = [];
    const listTimes: number[] = [];
    let size = 0;
    for (let i = 0; i < 5; i++) {
      let t = performance.now();
      await h.snapshots.list('inst-a');
      listTimes.push(performance.now() - t);
      t = performance.now();
      const res = await b.get('/ui/images/inst-a');
      const body = await res.text();
      times.push(performance.now() - t);
      size = Buffer.byteLength(body);
      assert.equal(res.status, 200);
      assert.equal((body.match(/<li><div class="when">/g) ?? []).length, 100);
      assert.match(body, /1–100 of 1001/);
    }
    const last = await (await b.get('/ui/images/inst-a?page=11')).text();
    assert.equal((last.match(/<li><div class="when">/g) ?? []).length, 1);
    assert.match(last, /\(first\)/);
    // The page's own work (templates and escaping) apart from reading the store.
    const snaps = await h.snapshots.list('inst-a');
    const rec = await h.tables.getImage('inst-a');
    const renderTimes: number[] = [];
    let gz = 0;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const out = imagePage(b.csrf, { name: 'inst-a', osimage: rec.osimage!, litefile: [], ready: true, missing: [], files: [], snapshots: snaps }).value;
      renderTimes.push(performance.now() - t);
      gz = gzipSync(out).length;
    }
    const med = (xs: number[]) => xs.sort((x, y) => x - y)[2]!.toFixed(1);
    console.log(`figure: rendering the 1 001-snapshot image page alone: median ${med(renderTimes)} ms; ${gz} bytes gzipped on the wire`);
    console.log(`figure: /ui/images/inst-a with 1 001 snapshots: median ${med(times)} ms per request, of which listing the store ${med(listTimes)} ms; ${size} bytes of HTML`);
    for (const path of ['/ui/login', '/ui/images', '/ui/jobs', '/ui/jobs/imp-run', '/ui/import', '/ui/images/inst-a']) {
      const res = await fetch(h.url + path, { headers: path === '/ui/login' ? {} : { cookie: b.cookie }, redirect: 'manual' });
      console.log(`figure: ${path} ${Buffer.byteLength(await res.text())} bytes of HTML`);
    }
  });
});
