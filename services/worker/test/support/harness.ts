/**
 * A worker in-process for tests: a temp install root and data dir, SQLite tables and job records,
 * the real Redis under a random queue prefix, and a JobQueue (the API's side) to submit with.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { ImageLocks, JobQueue, keyspace, openJobRecords, type JobRecords, type JobStatus, type Keyspace } from '@imgport/jobs';
import { cleanupPrefix, testPrefix, testRedis } from '../../../../packages/jobs/test/support/servers.js';
import { createLogger, silentLogger } from '@imgport/runtime';
import { openTableStore, type TableStore } from '@imgport/tables';
import type { WorkerDeps } from '../../src/context.js';
import { startWorker, type RunningWorker } from '../../src/worker.js';
import { isFinished } from '@imgport/contract';

export interface HarnessOptions {
  concurrency?: number;
  /** Wraps the xCAT table store (to inject failures). */
  tables?: (t: TableStore) => TableStore;
  /** Replaces the image locks (to record when they are held). */
  locks?: (redis: Redis, keys: Keyspace) => ImageLocks;
  /** Start without a worker (startWorker() later). */
  idle?: boolean;
}

export interface Harness {
  dir: string;
  installRoot: string;
  dataDir: string;
  sourceDir: string;
  tables: TableStore;
  records: JobRecords;
  jobs: JobQueue;
  deps: WorkerDeps;
  worker?: RunningWorker;
  startWorker(concurrency?: number): Promise<RunningWorker>;
  /** Polls until the job is final. */
  settled(id: string, ms?: number): Promise<JobStatus>;
  waitFor(check: () => Promise<boolean>, what: string, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'imgport-worker-'));
  const [installRoot, dataDir, sourceDir] = ['install', 'data', 'incoming'].map((d) => join(dir, d)) as [string, string, string];
  for (const d of [installRoot, dataDir, sourceDir]) mkdirSync(d);
  const prefix = testPrefix();
  const keys = keyspace(prefix);
  const db = `sqlite:${join(dir, 'xcat')}`;
  const tables = await openTableStore(db, { create: true });
  const records = await openJobRecords(db);
  const redis = testRedis('worker');
  const apiRedis = testRedis('api');
  const jobs = new JobQueue({ connection: apiRedis, records, prefix });
  await jobs.queue.waitUntilReady();
  // IMGPORT_TEST_LOG=debug shows the worker's log while a test runs.
  const log = process.env.IMGPORT_TEST_LOG ? createLogger({ level: process.env.IMGPORT_TEST_LOG }) : silentLogger;
  const deps: WorkerDeps = {
    tables: opts.tables ? opts.tables(tables) : tables,
    records,
    redis,
    keys,
    locks: opts.locks ? opts.locks(redis, keys) : new ImageLocks(redis, { keyspace: keys }),
    installRoot,
    dataDir,
    allow: [],
    sourceDirs: [sourceDir],
    urlAllow: [],
    fromRoot: '/install',
    log,
  };
  const h: Harness = {
    dir, installRoot, dataDir, sourceDir, tables, records, jobs, deps,
    async startWorker(concurrency = opts.concurrency ?? 2) {
      h.worker = await startWorker(deps, { concurrency });
      return h.worker;
    },
    async settled(id, ms = 30_000) {
      let status: JobStatus | undefined;
      await h.waitFor(async () => ((status = await jobs.status(id)) !== undefined && isFinished(status.state)), `job ${id} to end`, ms);
      return status!;
    },
    async waitFor(check, what, ms = 30_000) {
      const until = Date.now() + ms;
      while (!(await check())) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
      }
    },
    async close() {
      await h.worker?.close();
      await jobs.close();
      redis.disconnect();
      apiRedis.disconnect();
      await Promise.all([records.close(), tables.close()]);
      await cleanupPrefix(prefix);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (!opts.idle) await h.startWorker();
  return h;
}
