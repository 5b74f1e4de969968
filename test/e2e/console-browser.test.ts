/**
 * The web console in a real browser: Debian's chromium driven by playwright-core (no browser
 * download), the real API app on a socket, a real BullMQ worker on the real Redis under a random
 * queue prefix, real SQLite tables. Signs in, uploads a bundle and watches it finish, snapshots,
 * opens a snapshot's diff view, reverts with the typed confirmation, sees a bad bundle's error,
 * uses the pages with JavaScript off, and opens the queue dashboard with the session. Prints the
 * figures (bytes per page, progress latency). IMGPORT_SCREENSHOTS=1 writes docs/screenshots/.
 * Skipped with a message where chromium is missing (CHROMIUM_PATH overrides /usr/bin/chromium).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { SnapshotCatalog, SnapshotService, StoreSnapshots } from '@imgport/engine';
import { loadConfig, silentLogger } from '@imgport/runtime';
import { createApp } from '../../services/api/src/app.js';
import { startHarness, type Harness } from '../../services/worker/test/support/harness.js';
import { makeNativeBundle, REPO } from '../support/bundles.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'console-browser-token-3c7e1a';
const SHOTS = process.env.IMGPORT_SCREENSHOTS === '1' ? join(REPO, 'docs', 'screenshots') : undefined;
const have = existsSync(CHROMIUM);
if (!have) console.log(`# console browser tests skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

describe('web console in chromium', { skip: have ? false : `no chromium at ${CHROMIUM}` }, () => {
  let w: Harness;
  let server: Server;
  let url: string;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  let work: string;
  const bundles: Record<string, string> = {};

  const shot = async (p: Page, name: string) => {
    if (SHOTS) await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
  };
  // A finished job's page is rendered without the event stream: the live page reloads itself
  // once the job ends, so this waits for that reload rather than racing it.
  const stateIs = (p: Page, state: string) =>
    p.waitForSelector(`#live:not([sse-connect]) [data-f="state"]:text-is("${state}")`, { timeout: 60_000 });

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'imgport-console-'));
    bundles.good = await makeNativeBundle(work, { name: 'web-compute', rootFiles: 1500 });
    bundles.bad = join(work, 'broken.tgz');
    writeFileSync(bundles.bad, Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(4096, 0x41)]));
    w = await startHarness({ concurrency: 1 });
    const config = loadConfig({
      INSTALL_ROOT: w.installRoot,
      XCAT_DB: `sqlite:${join(w.dir, 'xcat')}`,
      IMGPORT_DATA: w.dataDir,
      IMGPORT_TOKENS: TOKEN,
      IMGPORT_SOURCE_DIRS: w.sourceDir,
    });
    const engineDeps = { tables: w.tables, installRoot: w.installRoot, dataDir: w.dataDir };
    const store = new StoreSnapshots(engineDeps);
    const app = createApp({
      config,
      log: silentLogger,
      queue: w.jobs,
      tables: w.tables,
      // As the API's main does: the store (where the worker's snapshots go) and the .tgz bundles.
      snapshots: new SnapshotCatalog(new SnapshotService(engineDeps), store, join(w.dataDir, 'reverts')),
      store,
      bullQueue: w.jobs.queue,
      options: { heartbeatMs: 5000 },
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      // playwright gives each launch a fresh temporary profile (it refuses --user-data-dir here).
    });
    ctx = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    page = await ctx.newPage();
  });

  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await w?.close();
    for (const d of [work]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('sign in: every page sends you to the form first, a wrong token is refused', async () => {
    await page.goto(`${url}/ui/jobs`);
    assert.match(page.url(), /\/ui\/login\?next=%2Fui%2Fjobs$/);
    await shot(page, 'login');
    await page.fill('input[name=token]', 'wrong');
    await page.click('main button[type=submit]');
    assert.match(await page.textContent('.error') ?? '', /not one of the server's API tokens/);
    await page.fill('input[name=token]', TOKEN);
    await page.click('main button[type=submit]');
    await page.waitForURL(`${url}/ui/jobs`);
    const cookie = (await ctx.cookies()).find((c) => c.name === 'imgport_session');
    assert.deepEqual([cookie?.httpOnly, cookie?.sameSite], [true, 'Strict']);
  });

  test('upload a bundle with progress and watch the job reach succeeded live', async () => {
    // console.js reports every event it applies to the page through this hook (kept across reloads).
    const events: Array<{ at: number; updatedAt: string; state: string; phase: string; percent: number }> = [];
    await page.exposeFunction('imgportOnEvent', (e: (typeof events)[number]) => void events.push(e));
    await page.goto(`${url}/ui/import`);
    await page.setInputFiles('input[name=bundle]', bundles.good!);
    await shot(page, 'import');
    await page.click('main button[type=submit]');
    await page.waitForURL(/\/ui\/jobs\/imp-/);
    // The page is live through the event stream until the job ends, then reloads once.
    await stateIs(page, 'succeeded');
    await page.waitForLoadState('load');
    console.log(`# events seen: ${events.map((e) => `${e.state}/${e.phase}/${e.percent}%`).join(' ')}`);
    assert.match((await page.textContent('[data-f="percent"]')) ?? '', /100%/);
    await shot(page, 'job');
    const lags = events.map((e) => e.at - Date.parse(e.updatedAt)).filter((x) => Number.isFinite(x));
    if (lags.length) console.log(`figure: progress event to page: ${lags.length} events, median ${lags.sort((a, b) => a - b)[Math.floor(lags.length / 2)]} ms, max ${Math.max(...lags)} ms`);
    else console.log('figure: progress event to page: the job ended before the page connected (no live event to time)');
  });

  test('images and image pages; a snapshot from the form; the diff view says what it can', async () => {
    await page.goto(`${url}/ui/images`);
    assert.match((await page.textContent('table')) ?? '', /web-compute.*rhels8\.5\.0.*x86_64.*netboot.*ready/s);
    await page.click('a:text-is("web-compute")');
    await page.waitForURL(/\/ui\/images\/web-compute$/);
    for (const label of ['first', 'second']) {
      await page.goto(`${url}/ui/images/web-compute`);
      await page.fill('form[action="/ui/snapshots"] input[name=label]', label);
      await page.click('form[action="/ui/snapshots"] button');
      await page.waitForURL(/\/ui\/jobs\/snap-|\/ui\/jobs\//);
      await stateIs(page, 'succeeded');
      await page.waitForTimeout(1100); // a second snapshot in the same second gets a -1 suffix; keep stamps apart
    }
    await page.goto(`${url}/ui/images`);
    await shot(page, 'images');
    await page.goto(`${url}/ui/images/web-compute`);
    assert.equal(await page.locator('.timeline li').count(), 2);
    await shot(page, 'image');
    await page.click('.timeline li:first-child a:text-is("Diff with previous")');
    await page.waitForURL(/\/ui\/snapshots\/web-compute%40/);
    assert.match((await page.textContent('main')) ?? '', /Diff not available|Added \(/);
    await shot(page, 'snapshot');
  });

  test('revert a snapshot: the typed name is checked, then the revert job runs to the end', async () => {
    await page.goto(`${url}/ui/images/web-compute`);
    await page.click('.timeline li:last-child a:text-is("Revert…")');
    await page.fill('input[name=confirm]', 'web-comput');
    await page.click('button:text-is("Revert")');
    assert.match((await page.textContent('.error')) ?? '', /Type the image name web-compute exactly/);
    await shot(page, 'revert');
    await page.fill('input[name=confirm]', 'web-compute');
    await page.click('button:text-is("Revert")');
    await page.waitForURL(/\/ui\/jobs\/imp-/);
    await stateIs(page, 'succeeded');
  });

  test('a bad bundle ends as a failed job whose page shows the error', async () => {
    await page.goto(`${url}/ui/import`);
    await page.setInputFiles('input[name=bundle]', bundles.bad!);
    await page.click('main button[type=submit]');
    await page.waitForURL(/\/ui\/jobs\/imp-/);
    await stateIs(page, 'failed');
    const err = (await page.textContent('#live .error')) ?? '';
    assert.match(err, /BUNDLE_INVALID|MANIFEST_INVALID|UNSUPPORTED/);
    await shot(page, 'job-failed');
    await page.goto(`${url}/ui/jobs`);
    assert.ok((await page.locator('#job-rows tr').count()) >= 4);
    await shot(page, 'jobs');
  });

  test('the queue dashboard opens with the same session', async () => {
    const res = await page.goto(`${url}/admin/queues`);
    assert.equal(res?.status(), 200);
    await page.waitForSelector('text=imgport', { timeout: 20_000 });
    await shot(page, 'queues');
  });

  test('with JavaScript off: sign in, read every page, upload by plain form post', async () => {
    const off = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1600, height: 1000 } });
    const p = await off.newPage();
    await p.goto(`${url}/ui/images`);
    await p.fill('input[name=token]', TOKEN);
    await p.click('main button[type=submit]');
    await p.waitForURL(`${url}/ui/images`);
    assert.match((await p.textContent('table')) ?? '', /web-compute/);
    await p.goto(`${url}/ui/import`);
    await p.setInputFiles('input[name=bundle]', bundles.bad!);
    await p.fill('input[name=name]', 'nojs-import');
    await p.click('main button[type=submit]');
    await p.waitForURL(/\/ui\/jobs\/imp-/);
    assert.ok(['queued', 'running', 'failed'].includes((await p.textContent('[data-f="state"]')) ?? ''));
    await off.close();
  });

  test('figures: bytes transferred per page on a cold cache', async () => {
    const state = await ctx.storageState();
    const first = (await w.jobs.list({ limit: 1 })).jobs[0]!;
    for (const path of ['/ui/login', '/ui/images', '/ui/images/web-compute', '/ui/jobs', `/ui/jobs/${first.id}`, '/ui/import']) {
      const fresh = await browser.newContext(path === '/ui/login' ? {} : { storageState: state });
      const p = await fresh.newPage();
      let total = 0;
      const sizes: Array<Promise<void>> = [];
      p.on('requestfinished', (r) => {
        sizes.push(r.sizes().then((s) => void (total += s.responseBodySize + s.responseHeadersSize)));
      });
      await p.goto(url + path, { waitUntil: 'load' });
      await p.waitForTimeout(200);
      await Promise.all(sizes);
      console.log(`figure: ${path} ${(total / 1024).toFixed(1)} KiB transferred (page and assets, cold cache)`);
      assert.ok(total < 100 * 1024, `${path}: ${total} bytes`);
      await fresh.close();
    }
  });
});
