/**
 * The API's composition root: configuration → logger → Redis (fail-fast API role) → job queue
 * and records → xCAT tables → snapshot store → app → listen. SIGTERM/SIGINT: stop accepting,
 * end event streams, let in-flight requests finish (uploads included), then close everything.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { SnapshotCatalog, SnapshotService, StoreSnapshots } from '@imgport/engine';
import { createRedis, evictionWarning, JobQueue, openJobRecords, redisReady } from '@imgport/jobs';
import { createLogger, loadConfig, redactUrl, type Logger } from '@imgport/runtime';
import { openTableStore } from '@imgport/tables';
import { createApp } from './app.js';
import { sweepSpool } from './spool.js';

/** How long in-flight requests get at shutdown before their connections are cut. */
const DRAIN_MS = 30_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel, name: 'imgport-api' });
  const redis = createRedis(config.redisUrl, 'api', { log });
  // Start even while Redis is down: requests get 503 until it is back.
  await redisReady(redis).then(
    async () => {
      const warning = await evictionWarning(redis);
      if (warning) log.warn(warning);
    },
    (err: unknown) => log.warn({ err, redis: redactUrl(config.redisUrl) }, 'Redis not reachable yet'),
  );
  const records = await openJobRecords(config.xcatDb);
  const queue = new JobQueue({ connection: redis, records, prefix: config.queuePrefix, log, owns: true });
  const tables = await openTableStore(config.xcatDb);
  const engineDeps = {
    tables,
    installRoot: config.installRoot,
    dataDir: config.dataDir,
    allow: config.allow,
    limits: config.limits,
    log,
    // A store snapshot exported for a revert is judged under the trust policy, and signed as bundles are.
    trust: { policy: config.signatures.policy, allowedSigners: config.signatures.allowedSigners, revokedSigners: config.signatures.revokedSigners },
    ...(config.signatures.signingKey ? { signingKey: config.signatures.signingKey } : {}),
  };
  const bundles = new SnapshotService(engineDeps);
  const store = new StoreSnapshots(engineDeps);
  const snapshots = new SnapshotCatalog(bundles, store, join(config.dataDir, 'reverts'));
  const closing = new AbortController();
  const app = createApp({ config, log, queue, tables, snapshots, store, redis, bullQueue: queue.queue, closing: closing.signal });

  // .part files an API killed during an upload left behind: gone once nobody wrote to them for an hour.
  const spool = join(config.dataDir, 'spool');
  const sweepParts = () => void sweepSpool(spool, 3600_000).then(
    (removed) => removed.length > 0 && log.info({ removed }, 'stale partial uploads removed'),
    (err: unknown) => log.warn({ err }, 'spool sweep failed'),
  );
  sweepParts();
  setInterval(sweepParts, 10 * 60_000).unref();

  const server = createServer(app);
  // Node's default 5-minute request timeout would cut large uploads; auth comes before any body.
  server.requestTimeout = 0;
  server.listen(config.port);
  await once(server, 'listening');
  log.info({ port: config.port, db: tables.description, data: config.dataDir }, 'imgport API listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    closing.abort();
    void drain(server, log)
      .then(() => Promise.allSettled([queue.close(), tables.close()]))
      .then(() => {
        log.info('stopped');
        log.flush();
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

async function drain(server: Server, log: Logger): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => {
    log.warn(`requests still running after ${DRAIN_MS / 1000} s; closing their connections`);
    server.closeAllConnections();
  }, DRAIN_MS);
  timer.unref();
  await closed;
  clearTimeout(timer);
}

main().catch((err: unknown) => {
  // The logger may not exist yet (a configuration error): stderr always does.
  process.stderr.write(`imgport-api: ${err instanceof Error ? err.message : String(err)}\n`);
  // Exit now: a Redis connection made before the failure would keep reconnecting forever.
  process.exit(1);
});
