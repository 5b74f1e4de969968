/**
 * The fault tests' world: their own redis-server (AOF on) and mariadbd (a fresh datadir from
 * mariadb-install-db) on spare loopback ports — never the shared 6379/3306 servers — plus API and
 * worker processes (the built dist) with chosen host identities, and checks that end every test:
 * the image old or new (rows and files of one version), no job lost, nothing left behind.
 * Only the pids started here are ever killed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openJobQueue, type JobQueue, type JobStatus } from '@imgport/jobs';
import { openTableStore, type TableStore } from '@imgport/tables';
import { makeNativeBundle, REPO } from '../support/bundles.js';
import { freePort } from '../support/ports.js';

export const NAME = 'fault-img';

export async function waitFor(check: () => Promise<boolean> | boolean, ms: number, what: string, logs?: string[]): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${logs ? `\n--- logs ---\n${logs.slice(-60).join('')}` : ''}`);
}

export interface Proc {
  child: ChildProcess;
  readonly alive: boolean;
  /** SIGKILL, then wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM (a graceful stop: running jobs finish), then wait; SIGKILL after 20 s. */
  stop(): Promise<void>;
  /** The exit, or an error after `ms`. */
  exit(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function track(child: ChildProcess, logs: string[], tag: string): Proc {
  const keep = (d: Buffer) => {
    logs.push(`[${tag}] ${d.toString()}`);
    if (logs.length > 600) logs.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    exited,
    get alive() {
      return !done;
    },
    async kill9() {
      if (done) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (done) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
    async exit(ms = 60_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${tag} did not exit within ${ms} ms\n--- logs ---\n${logs.slice(-60).join('')}`)), ms);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export interface Server {
  port: number;
  proc: Proc;
  kill9(): Promise<void>;
  restart(): Promise<void>;
}

/** redis-server with AOF (appendfsync always), so a kill -9 and a restart keep the queue. */
export async function startRedis(dir: string, logs: string[]): Promise<Server & { url: string }> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction'];
  const server: Server & { url: string } = {
    port,
    url: `redis://127.0.0.1:${port}`,
    proc: undefined as unknown as Proc,
    async kill9() {
      await server.proc.kill9();
    },
    async restart() {
      server.proc = track(spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] }), logs, 'redis');
      await waitFor(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG', 15_000, 'redis-server', logs);
    },
  };
  await server.restart();
  return server;
}

/** mariadbd on a fresh datadir (no grant tables: root without a password, loopback only). */
export async function startMariadb(dir: string, logs: string[]): Promise<Server & { url(db: string): string }> {
  mkdirSync(dir, { recursive: true });
  const datadir = join(dir, 'data');
  const inst = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${datadir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'], {
    stdio: ['ignore', 'ignore', 'ignore'],
    timeout: 120_000,
    killSignal: 'SIGKILL',
  });
  if (inst.status !== 0) throw new Error(`mariadb-install-db failed (${inst.status ?? inst.signal ?? inst.error?.message})`);
  const port = await freePort();
  const args = [
    '--no-defaults',
    `--datadir=${datadir}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${join(dir, 'sock')}`,
    `--pid-file=${join(dir, 'pid')}`,
    '--user=root',
    '--skip-grant-tables',
    '--skip-log-bin',
    '--innodb-buffer-pool-size=32M',
    `--log-error=${join(dir, 'err.log')}`,
  ];
  const server: Server & { url(db: string): string } = {
    port,
    url: (db) => `mysql://root@127.0.0.1:${port}/${db}`,
    proc: undefined as unknown as Proc,
    async kill9() {
      await server.proc.kill9();
    },
    async restart() {
      server.proc = track(spawn('mariadbd', args, { stdio: ['ignore', 'pipe', 'pipe'] }), logs, 'mariadb');
      await waitFor(
        () => spawnSync('mariadb-admin', ['--no-defaults', '-h127.0.0.1', `-P${port}`, '-uroot', 'ping'], { encoding: 'utf8' }).status === 0,
        30_000,
        'mariadbd',
        logs,
      );
    },
  };
  await server.restart();
  return server;
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$0"', cmd]).status === 0;
}

export interface WorkerOpts {
  host: string;
  env?: NodeJS.ProcessEnv;
  /** Run as PID 1 of its own PID namespace (unshare), as in a container. */
  pid1?: boolean;
}

export interface World {
  dir: string;
  installRoot: string;
  dataDir: string;
  logs: string[];
  redis: Server & { url: string };
  db: Server & { url(db: string): string };
  dbUrl: string;
  env: NodeJS.ProcessEnv;
  queue: JobQueue;
  tables: TableStore;
  workers: Proc[];
  startWorker(o: WorkerOpts): Proc;
  /** The worker's own pid on this host (for a PID-1 worker, its pid here, not 1). */
  startApi(): Promise<{ proc: Proc; base: string; token: string }>;
  /** Puts a bundle into the spool as the API does and submits an import of it. */
  submit(bundle: string, opts?: { force?: boolean; profile?: string }): Promise<string>;
  status(id: string): Promise<JobStatus | undefined>;
  settled(id: string, ms?: number): Promise<JobStatus>;
  close(): Promise<void>;
}

export async function world(tag: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), `imgport-fault-${tag}-`));
  const installRoot = join(dir, 'install');
  const dataDir = join(dir, 'data');
  mkdirSync(installRoot);
  mkdirSync(join(dataDir, 'spool'), { recursive: true });
  const logs: string[] = [];
  const redis = await startRedis(join(dir, 'redis'), logs);
  const db = await startMariadb(join(dir, 'mariadb'), logs).catch(async (err: unknown) => {
    await redis.kill9();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const dbUrl = db.url('xcatdb');
  const prefix = `fault-${randomBytes(3).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    INSTALL_ROOT: installRoot,
    IMGPORT_DATA: dataDir,
    XCAT_DB: dbUrl,
    REDIS_URL: redis.url,
    IMGPORT_QUEUE_PREFIX: prefix,
    WORKER_CONCURRENCY: '1',
    LOG_LEVEL: 'info',
    // Short timings so takeovers happen within seconds (the defaults are 10 s + 5 s, 15 s).
    IMGPORT_JOB_LOCK_MS: '3000',
    IMGPORT_STALLED_INTERVAL_MS: '1000',
    IMGPORT_IMAGE_LOCK_TTL_MS: '3000',
    ...extraEnv,
  };
  const tables = await openTableStore(dbUrl, { create: true });
  const queue = await openJobQueue({ redisUrl: redis.url, xcatDb: dbUrl, prefix });
  const w: World = {
    dir,
    installRoot,
    dataDir,
    logs,
    redis,
    db,
    dbUrl,
    env,
    queue,
    tables,
    workers: [],
    startWorker(o) {
      const main = join(REPO, 'services/worker/dist/main.js');
      const e = { ...env, IMGPORT_HOST_ID: o.host, ...o.env };
      const cmd = o.pid1 ? ['unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', process.execPath, main]] : [process.execPath, [main]];
      const p = track(spawn(cmd[0] as string, cmd[1] as string[], { env: e, stdio: ['ignore', 'pipe', 'pipe'] }), logs, o.host);
      w.workers.push(p);
      return p;
    },
    async startApi() {
      const port = await freePort();
      const token = randomBytes(8).toString('hex');
      const p = track(spawn(process.execPath, [join(REPO, 'services/api/dist/main.js')], { env: { ...env, PORT: String(port), IMGPORT_TOKENS: token }, stdio: ['ignore', 'pipe', 'pipe'] }), logs, 'api');
      w.workers.push(p);
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${base}/healthz`)).ok, 20_000, 'API', logs);
      return { proc: p, base, token };
    },
    async submit(bundle, opts = {}) {
      const path = join(dataDir, 'spool', `${randomBytes(8).toString('hex')}.bundle`);
      copyFileSync(bundle, path);
      const data = readFileSync(path);
      const source = { kind: 'spool' as const, path, sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
      return (await queue.submit('import', { source, ...(opts.force ? { force: true } : {}), ...(opts.profile ? { profile: opts.profile } : {}) })).id;
    },
    status: (id) => queue.status(id),
    async settled(id, ms = 90_000) {
      let st: JobStatus | undefined;
      await waitFor(async () => ['succeeded', 'failed', 'cancelled'].includes((st = await queue.status(id))?.state ?? ''), ms, `job ${id} to finish`, logs);
      return st!;
    },
    async close() {
      await Promise.all(w.workers.map((p) => p.kill9()));
      await queue.close().catch(() => undefined);
      await tables.close().catch(() => undefined);
      await redis.kill9();
      await db.kill9();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return w;
}

/** Two versions of one netboot image: the rows (osimage.comments) and a file say which. */
export async function versions(dir: string, rootFiles = 200): Promise<{ v1: string; v2: string }> {
  const make = (v: string, n: number) =>
    makeNativeBundle(dir, { name: NAME, rootFiles: n, lines: [`osimage.comments ${v}`], extras: [{ file: 'version', content: v, dest: '/install/postscripts' }] });
  return { v1: await make('v1', rootFiles), v2: await make('v2', Math.max(3, Math.floor(rootFiles / 2))) };
}

/** 'none', or the one version whose rows and files are all in place; fails on any mix. */
export async function imageVersion(w: World): Promise<'none' | 'v1' | 'v2'> {
  const rec = await w.tables.getImage(NAME);
  const versionFile = join(w.installRoot, 'postscripts/version');
  const dir = join(w.installRoot, 'netboot/rhels8.5.0/x86_64/compute');
  if (!rec.osimage && !rec.linuximage) {
    assert.ok(!existsSync(join(dir, 'kernel')), 'no rows, but a kernel');
    return 'none';
  }
  assert.ok(rec.osimage && rec.linuximage, 'one row without the other');
  const v = rec.osimage.comments as 'v1' | 'v2';
  assert.equal(existsSync(versionFile) ? readFileSync(versionFile, 'utf8') : '(missing)', v, 'rows and files of one version');
  for (const f of ['kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz']) assert.ok(existsSync(join(dir, f)), `${f} in place`);
  const libs = readdirSync(join(dir, 'rootimg/usr/lib')).length;
  assert.ok(libs >= 3, 'the root tree is complete');
  return v;
}

/** What must be gone once everything settled: staging areas, journals, trash, locks, spool files. */
export function leftovers(w: World): string[] {
  const out: string[] = [];
  for (const sub of ['tx', 'journal', 'trash', 'locks']) {
    const d = join(w.installRoot, '.imgport', sub);
    if (existsSync(d)) out.push(...readdirSync(d).map((n) => `.imgport/${sub}/${n}`));
  }
  const spool = join(w.dataDir, 'spool');
  if (existsSync(spool)) out.push(...readdirSync(spool).map((n) => `spool/${n}`));
  return out;
}

/** The figures a test prints for the closing note. */
export function figure(what: string, values: Record<string, unknown>): void {
  process.stdout.write(`# FIGURE ${what}: ${JSON.stringify(values)}\n`);
}

export function fileSize(p: string): number {
  return statSync(p).size;
}
