/**
 * Test harness: the real app on a real socket (127.0.0.1, a free port), real SQLite tables and a
 * temp IMGPORT_DATA / install root / source directory, configuration through loadConfig, and a
 * logger whose lines the test can read. Not a test file itself.
 */
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SnapshotService } from '@imgport/engine';
import type { JobQueuePort } from '@imgport/jobs';
import { loadConfig, type Config } from '@imgport/runtime';
import { openTableStore, type Row, type TableStore } from '@imgport/tables';
import { createApp } from '../../src/app.js';
import type { AppDeps } from '../../src/deps.js';
import { FakeQueue } from './fake-queue.js';

export const TOKEN = 'test-token-5f1d2c9e';

export interface Harness {
  url: string;
  config: Config;
  queue: JobQueuePort;
  /** The in-memory queue, used unless the test passed a real one. */
  fake: FakeQueue;
  tables: TableStore;
  snapshots: SnapshotService;
  dirs: { base: string; data: string; install: string; sources: string };
  /** Every log line written so far. */
  logs: string[];
  closing: AbortController;
  /** fetch with the bearer token (unless headers say otherwise). */
  call(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  queue?: JobQueuePort;
  env?: Record<string, string>;
  deps?: Partial<AppDeps>;
}

export async function startApi(opts: HarnessOptions = {}): Promise<Harness> {
  const base = await mkdtemp(join(tmpdir(), 'imgport-api-'));
  const dirs = { base, data: join(base, 'data'), install: join(base, 'install'), sources: join(base, 'sources') };
  await Promise.all([dirs.install, dirs.sources].map((d) => mkdir(d, { recursive: true })));
  const config = loadConfig({
    INSTALL_ROOT: dirs.install,
    XCAT_DB: `sqlite:${join(base, 'db')}`,
    IMGPORT_DATA: dirs.data,
    IMGPORT_TOKENS: TOKEN,
    IMGPORT_SOURCE_DIRS: dirs.sources,
    IMGPORT_URL_ALLOW: 'https://example.org/b/',
    ...opts.env,
  });
  const tables = await openTableStore(config.xcatDb, { create: true });
  const snapshots = new SnapshotService({ tables, installRoot: dirs.install, dataDir: dirs.data });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  // A plain pino without redaction: the app must keep secrets out of its lines on its own.
  const log = pino({ level: 'debug' }, sink);
  const fake = new FakeQueue();
  const queue = opts.queue ?? fake;
  const closing = new AbortController();
  const app = createApp({
    config,
    log,
    queue,
    tables,
    snapshots,
    closing: closing.signal,
    ...opts.deps,
    options: { eventPollMs: 20, heartbeatMs: 50, minSpoolFreeBytes: 1, ...opts.deps?.options },
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    config,
    queue,
    fake,
    tables,
    snapshots,
    dirs,
    logs,
    closing,
    call(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${TOKEN}`);
      return fetch(url + path, { ...init, headers });
    },
    async close() {
      closing.abort();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await tables.close();
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** An install image whose template exists (ready, and exportable by SnapshotService). */
export async function addInstallImage(h: Harness, name: string, extra: { os?: string; arch?: string; withTemplate?: boolean } = {}): Promise<string> {
  const os = extra.os ?? 'rhels8.5.0';
  const arch = extra.arch ?? 'x86_64';
  const template = join(h.dirs.install, 'custom', os, arch, `${name}.tmpl`);
  if (extra.withTemplate !== false) {
    await mkdir(join(template, '..'), { recursive: true });
    await writeFile(template, '# kickstart\n');
  }
  await h.tables.writeImage(name, {
    osimage: osimageRow(name, 'install', os, arch),
    linuximage: { imagename: name, template },
    litefile: [],
  });
  return template;
}

export async function addNetbootImage(h: Harness, name: string, method: 'netboot' | 'statelite', files: string[]): Promise<string> {
  const dir = join(h.dirs.install, 'netboot', 'rhels8.5.0', 'x86_64', name);
  await mkdir(dir, { recursive: true });
  for (const f of files) {
    if (f.endsWith('/')) await mkdir(join(dir, f), { recursive: true });
    else await writeFile(join(dir, f), 'x');
  }
  await h.tables.writeImage(name, {
    osimage: osimageRow(name, method, 'rhels8.5.0', 'x86_64'),
    linuximage: { imagename: name, rootimgdir: dir },
    litefile: [],
  });
  return dir;
}

function osimageRow(name: string, method: string, os: string, arch: string): Row {
  return { imagename: name, profile: name, imagetype: 'linux', provmethod: method, osname: 'Linux', osvers: os, osarch: arch };
}

export async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, ...body.error };
}
