/**
 * The worker service: configuration → logger → xCAT tables → Redis (worker role) → job records →
 * the BullMQ worker. SIGTERM or SIGINT stops taking jobs and lets the running ones finish; a
 * second signal exits at once (BullMQ's stalled check gives the jobs to other workers, and the
 * engine's journal recovery rolls back any half-committed import before it runs again).
 */
import { evictionWarning, keyspace, ImageLocks, openJobRecords, createRedis, QUEUE_NAME } from '@imgport/jobs';
import { createLogger, loadConfig, redactUrl, toImgportError, type Logger } from '@imgport/runtime';
import { openTableStore } from '@imgport/tables';
import type { WorkerDeps } from './context.js';
import { sweepEvery, sweepExports } from './sweep.js';
import { startWorker } from './worker.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel, name: 'imgport-worker' });
  const tables = await openTableStore(config.xcatDb, { create: true });
  const redis = createRedis(config.redisUrl, 'worker', { log });
  const warning = await evictionWarning(redis);
  if (warning) log.error(warning);
  const records = await openJobRecords(config.xcatDb, { create: true });
  const keys = keyspace(config.queuePrefix);
  const deps: WorkerDeps = {
    tables,
    records,
    redis,
    keys,
    locks: new ImageLocks(redis, { keyspace: keys, log, ttlMs: config.timings.imageLockTtlMs }),
    installRoot: config.installRoot,
    dataDir: config.dataDir,
    allow: config.allow,
    sourceDirs: config.sourceDirs,
    urlAllow: config.urlAllow,
    fromRoot: config.fromRoot,
    limits: config.limits,
    trust: { policy: config.signatures.policy, allowedSigners: config.signatures.allowedSigners, revokedSigners: config.signatures.revokedSigners },
    ...(config.signatures.signingKey ? { signingKey: config.signatures.signingKey } : {}),
    catalog: config.catalog,
    log,
  };
  const running = await startWorker(deps, {
    concurrency: config.workerConcurrency,
    lockDurationMs: config.timings.jobLockMs,
    stalledIntervalMs: config.timings.stalledIntervalMs,
  });
  const sweeper = sweepEvery(10 * 60_000, () => sweepExports(config.dataDir, config.timings.exportTtlMs), log);
  log.info({ queue: QUEUE_NAME, prefix: keys.prefix, concurrency: config.workerConcurrency, db: tables.description, redis: redactUrl(config.redisUrl) }, 'worker started');
  onShutdown(log, async () => {
    clearInterval(sweeper);
    await running.close();
    redis.disconnect();
    await Promise.allSettled([records.close(), tables.close()]);
  });
}

function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const exit = (code: number) => log.flush(() => process.exit(code));
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now; running jobs go to other workers');
      exit(1);
      return;
    }
    stopping = true;
    log.info({ signal }, 'shutting down: running jobs finish first (signal again to exit at once)');
    stop().then(
      () => exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

main().catch((err: unknown) => {
  const e = toImgportError(err);
  process.stderr.write(`imgport-worker: ${e.code}: ${e.message}\n`);
  process.exit(e.exitCode === 0 ? 1 : e.exitCode);
});
