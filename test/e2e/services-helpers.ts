/**
 * Starts the API and worker services as real processes (the built dist, as `npm start` runs
 * them) against the real Redis and MariaDB, each test file in its own queue prefix and database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { freePort } from '../support/ports.js';
import { ROOT } from './helpers.js';

export { freePort };

export const TOKEN = 'e2e-token-' + randomBytes(8).toString('hex');

export interface Cluster {
  dir: string;
  env: NodeJS.ProcessEnv;
  base: string;
  installRoot: string;
  dataDir: string;
  sourceDir: string;
  dbUrl: string;
  api: ChildProcess;
  workers: ChildProcess[];
  startWorker(): ChildProcess;
  stop(): Promise<void>;
}

function spawnService(main: string, env: NodeJS.ProcessEnv, logs: string[]): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, main)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    logs.push(d.toString());
    if (logs.length > 400) logs.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

export async function startCluster(workers = 2, extraEnv: NodeJS.ProcessEnv = {}): Promise<Cluster & { logs: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'imgport-svc-'));
  const installRoot = join(dir, 'install');
  const dataDir = join(dir, 'data');
  const sourceDir = join(dir, 'incoming');
  for (const d of [installRoot, dataDir, sourceDir]) mkdirSync(d, { recursive: true });
  const port = await freePort();
  const prefix = `imgport-e2e-${randomBytes(4).toString('hex')}`;
  const dbUrl = `mysql://root@127.0.0.1:3306/imgport_t_${randomBytes(5).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    IMGPORT_TOKENS: TOKEN,
    REDIS_URL: 'redis://127.0.0.1:6379',
    XCAT_DB: dbUrl,
    INSTALL_ROOT: installRoot,
    IMGPORT_DATA: dataDir,
    IMGPORT_SOURCE_DIRS: sourceDir,
    IMGPORT_QUEUE_PREFIX: prefix,
    WORKER_CONCURRENCY: '2',
    LOG_LEVEL: 'info',
    ...extraEnv,
  };
  // xCAT's database exists before imgport runs; here each test file makes its own.
  const conn = await createConnection('mysql://root@127.0.0.1:3306');
  await conn.query(`CREATE DATABASE \`${new URL(dbUrl).pathname.slice(1)}\``);
  await conn.end();
  const logs: string[] = [];
  const base = `http://127.0.0.1:${port}`;
  const api = spawnService('services/api/dist/main.js', env, logs);
  await waitFor(async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true, 20_000, 'API /healthz', logs);
  const cluster = {
    dir,
    env,
    base,
    installRoot,
    dataDir,
    sourceDir,
    dbUrl,
    api,
    workers: [] as ChildProcess[],
    logs,
    startWorker(): ChildProcess {
      const w = spawnService('services/worker/dist/main.js', env, logs);
      cluster.workers.push(w);
      return w;
    },
    async stop(): Promise<void> {
      const all = [api, ...cluster.workers].filter((c) => c.exitCode === null && c.signalCode === null);
      for (const c of all) c.kill('SIGTERM');
      await Promise.all(all.map((c) => new Promise((r) => c.once('exit', r))));
      const redis = new Redis('redis://127.0.0.1:6379');
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
      // Everything startCluster made goes: the database, the queue's keys, the temp tree.
      const admin = await createConnection('mysql://root@127.0.0.1:3306');
      await admin.query(`DROP DATABASE IF EXISTS \`${new URL(dbUrl).pathname.slice(1)}\``);
      await admin.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < workers; i++) cluster.startWorker();
  return cluster;
}

export async function waitFor(check: () => Promise<boolean>, ms: number, what: string, logs?: string[]): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}${logs ? `\n--- service logs ---\n${logs.slice(-40).join('')}` : ''}`);
}

export function api(c: { base: string }, path: string, init: RequestInit = {}, token: string | null = TOKEN): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(c.base + path, { ...init, headers });
}

export interface JobDoc {
  id: string;
  type: string;
  state: string;
  attempts: number;
  result?: any;
  error?: { code: string; message: string };
  children?: Array<{ id: string; image?: string; state: string }>;
  progress: { phase: string; percent: number };
}

export async function job(c: { base: string }, id: string): Promise<JobDoc> {
  const r = await api(c, `/v1/jobs/${id}`);
  if (!r.ok) throw new Error(`GET /v1/jobs/${id}: ${r.status} ${await r.text()}`);
  return (await r.json()) as JobDoc;
}

export async function settled(c: Cluster & { logs: string[] }, id: string, ms = 60_000): Promise<JobDoc> {
  let doc: JobDoc | undefined;
  await waitFor(async () => ['succeeded', 'failed', 'cancelled'].includes((doc = await job(c, id)).state), ms, `job ${id} to finish`, c.logs);
  return doc!;
}
