import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExportService, ImportService, judgeSignature, SnapshotCatalog, SnapshotService, StoreSnapshots, type EngineDeps, type PublishDeps, type TrustOptions } from '@imgport/engine';
import { createLogger, loadConfig, type Config, type Logger } from '@imgport/runtime';
import { openTableStore, type TableStore } from '@imgport/tables';

/** Everything a command works with, built once per process. */
export interface Services {
  config: Config;
  log: Logger;
  tables: TableStore;
  imports: ImportService;
  exports: ExportService;
  snapshots: SnapshotService;
  /** The deduplicated store (issue 12): snapshot, diff, revert, prune, fsck. */
  store: StoreSnapshots;
  /** Both kinds of snapshot (store and .tgz), by id. */
  catalog: SnapshotCatalog;
  trust: TrustOptions;
  /** The trust policy over a detached signature (catalog indexes, OCI signature referrers). */
  judge: Judge;
  publishDeps: PublishDeps;
}

export type Judge = (sig: Buffer | undefined, message: Buffer, o: { namespace: string; where: string; what: string }) => ReturnType<typeof judgeSignature>;

export interface ContextOptions {
  /** The program name, in log lines. */
  name: string;
  verbose: boolean;
  env: NodeJS.ProcessEnv;
}

/**
 * The composition root of the commands: reads the configuration once, opens the table store,
 * builds the engine's services, runs `fn`, and closes the store whatever happens.
 */
export async function withServices<T>(opts: ContextOptions, fn: (s: Services) => Promise<T>): Promise<T> {
  const config = loadConfig(opts.env);
  const log = createLogger({ level: cliLogLevel(config.logLevel, opts.verbose), name: opts.name, destination: 2 });
  try {
    const tables = await openTableStore(config.xcatDb, { create: true });
    // `code`: which build runs (the start-up bundle or dist/, bin/launch.js).
    log.debug({ installRoot: resolve(config.installRoot), db: tables.description, dataDir: resolve(config.dataDir), code: fileURLToPath(import.meta.url), codeCache: (globalThis as Record<symbol, unknown>)[Symbol.for('imgport.codeCache')] ?? 'none' }, 'configuration');
    const services = build(config, log, tables);
    try {
      return await fn(services);
    } finally {
      // A revert's replaced tree is deleted after its result is out: the process waits for it.
      await services.store.settled();
      await tables.close();
    }
  } finally {
    log.flush();
  }
}

function build(config: Config, log: Logger, tables: TableStore): Services {
  // Rows store these paths: a relative INSTALL_ROOT would make them depend on the caller's cwd.
  const deps: EngineDeps = {
    tables,
    installRoot: resolve(config.installRoot),
    dataDir: resolve(config.dataDir),
    allow: config.allow.map((d) => resolve(d)),
    limits: config.limits,
    log,
    trust: trustOptions(config),
    ...(config.signatures.signingKey ? { signingKey: config.signatures.signingKey } : {}),
  };
  const exports = new ExportService(deps);
  const snapshots = new SnapshotService({ ...deps, exporter: exports });
  const store = new StoreSnapshots(deps);
  const catalog = new SnapshotCatalog(snapshots, store, join(deps.dataDir, 'reverts'));
  // import --force snapshots the image it replaces into the store once the store is in use.
  const imports = new ImportService({ ...deps, snapshots: catalog });
  const trust = deps.trust!;
  const c = config.catalog;
  const publishDeps: PublishDeps = { dataDir: deps.dataDir, log, exports, snapshots, store, ...(deps.signingKey ? { signingKey: deps.signingKey } : {}), registry: { plainHttp: c.plainHttp, ...(c.registryAuth ? { credentials: c.registryAuth } : {}) } };
  return { config, log, tables, imports, exports, snapshots, store, catalog, trust, judge: (sig, msg, o) => judgeSignature(sig, msg, trust, o), publishDeps };
}

/** IMGPORT_SIGNATURES and the trust store, as the engine takes them. */
export function trustOptions(config: Config): TrustOptions {
  const s = config.signatures;
  return { policy: s.policy, allowedSigners: s.allowedSigners, revokedSigners: s.revokedSigners };
}

/**
 * A command prints its own summary, so the engine's info lines would only repeat it: below -v
 * the CLI logs warnings and errors. An explicit LOG_LEVEL of debug/trace (or quieter than warn)
 * is still honoured.
 */
export function cliLogLevel(level: Config['logLevel'], verbose: boolean): string {
  if (verbose) return level === 'trace' ? 'trace' : 'debug';
  return level === 'info' ? 'warn' : level;
}
