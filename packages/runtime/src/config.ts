import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ImgportError } from './errors.js';

/**
 * The only place that reads process.env. One schema, defaults, one error listing every bad
 * variable. SPEC §10 names the public variables; the IMGPORT_MAX_* limits are SPEC §9's.
 */
const int = (def: number) => z.coerce.number().int().positive().default(def);
const list = z
  .string()
  .default('')
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

const schema = z.object({
  // xCAT's install directory (site.installdir).
  INSTALL_ROOT: z.string().min(1).default('/install'),
  // sqlite:<dir> (xCAT's one-file-per-table layout) or mysql://user:pass@host:port/xcatdb.
  XCAT_DB: z
    .string()
    .regex(/^(sqlite:.+|mysql:\/\/.+)$/, 'must be sqlite:<dir> or mysql://user:pass@host:port/db')
    .default('sqlite:/etc/xcat'),
  // The queue's Redis.
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL').default('redis://127.0.0.1:6379'),
  // Spool for uploads, export results and snapshots; shared by API and workers.
  IMGPORT_DATA: z.string().min(1).default('/var/lib/imgport'),
  // Comma-separated API tokens.
  IMGPORT_TOKENS: list,
  // A file with one token per line (added to IMGPORT_TOKENS).
  IMGPORT_TOKENS_FILE: z.string().optional(),
  // API listen port.
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  // Jobs run at once by one worker process.
  WORKER_CONCURRENCY: int(2),
  // Redis key prefix of the queue: API and workers must agree; tests use their own.
  IMGPORT_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').default('imgport'),
  // When set, commands submit jobs to this API instead of running inline (xcatimport --server).
  IMGPORT_SERVER: z.preprocess((v) => (v === '' ? undefined : v), z.string().url().optional()),
  // The API token the commands send with --server.
  IMGPORT_TOKEN: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Directories outside the install root that bundles may write to or name (comma-separated).
  IMGPORT_ALLOW: list,
  // Directories that POST /v1/imports {"source": path} may read from (comma-separated).
  IMGPORT_SOURCE_DIRS: list,
  // URL prefixes POST /v1/imports {"source": url} may fetch from (comma-separated); none: URLs refused.
  IMGPORT_URL_ALLOW: list,
  // The exporting node's install directory assumed for absolute manifest paths.
  IMGPORT_FROM_ROOT: z.string().min(1).default('/install'),
  // Limits on untrusted bundles (bytes / counts).
  IMGPORT_MAX_BUNDLE_BYTES: int(64 * 1024 ** 3),
  IMGPORT_MAX_EXPANDED_BYTES: int(256 * 1024 ** 3),
  IMGPORT_MAX_ENTRIES: int(5_000_000),
  IMGPORT_MAX_PATH_LENGTH: int(4096),
  // Snapshots kept per image by `prune` when no count is given.
  IMGPORT_KEEP_SNAPSHOTS: int(5),
  // This host's identity in journals and locks (default: the host name). Set it where host names
  // are not stable or not unique (containers). The engine reads it where it records owners.
  IMGPORT_HOST_ID: z.preprocess((v) => (v === '' ? undefined : v), z.string().regex(/^[A-Za-z0-9_.-]{1,255}$/, 'letters, digits, _ . - only').optional()),
  // How long a job's BullMQ lock outlives a worker that stopped renewing it, and how often
  // workers look for such stalled jobs: a dead worker's job is taken over within about their sum.
  IMGPORT_JOB_LOCK_MS: int(10_000),
  IMGPORT_STALLED_INTERVAL_MS: int(5_000),
  // How long an image's Redis lock outlives its holder's last renewal (renewed every third).
  IMGPORT_IMAGE_LOCK_TTL_MS: int(15_000),
  // Export results in IMGPORT_DATA/exports are removed after this many hours.
  IMGPORT_EXPORT_TTL_HOURS: z.coerce.number().positive().default(24),
  // Bundle signatures: require (unsigned or untrusted refused), warn (unsigned imported with a warning), off.
  IMGPORT_SIGNATURES: z.enum(['require', 'warn', 'off']).default('warn'),
  // Trusted signers, in OpenSSH's allowed_signers format (ssh-keygen(1) ALLOWED SIGNERS).
  IMGPORT_ALLOWED_SIGNERS: z.string().min(1).default('/etc/imgport/allowed_signers'),
  // Revoked signer keys: OpenSSH public keys, one a line (a missing file revokes nothing).
  IMGPORT_REVOKED_SIGNERS: z.string().min(1).default('/etc/imgport/revoked_signers'),
  // The key the services sign exports and snapshots with (an OpenSSH private key file); none: unsigned.
  IMGPORT_SIGNING_KEY: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
  // OCI registry credentials, user:password (Basic, or for the registry's token service); none: anonymous.
  IMGPORT_REGISTRY_AUTH: z.preprocess((v) => (v === '' ? undefined : v), z.string().regex(/^[^:]+:.+$/, 'must be user:password').optional()),
  // Registries (host[:port], comma-separated) spoken to over plain HTTP, as --plain-http does for one command.
  IMGPORT_PLAIN_HTTP: list,
  // Bearer token sent to http(s) catalogs (another imgport API's GET /v1/catalog/index.json).
  IMGPORT_CATALOG_TOKEN: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
});

export type RawConfig = z.infer<typeof schema>;

export interface Config {
  installRoot: string;
  xcatDb: string;
  redisUrl: string;
  dataDir: string;
  tokens: string[];
  port: number;
  workerConcurrency: number;
  queuePrefix: string;
  server?: string;
  clientToken?: string;
  logLevel: RawConfig['LOG_LEVEL'];
  allow: string[];
  sourceDirs: string[];
  /** URL prefixes the API accepts as import sources (normalised); empty: none. */
  urlAllow: string[];
  fromRoot: string;
  limits: { maxBundleBytes: number; maxExpandedBytes: number; maxEntries: number; maxPathLength: number };
  keepSnapshots: number;
  hostId?: string;
  /** Service timings (ms): job lock, stalled check, image lock TTL, export result lifetime. */
  timings: { jobLockMs: number; stalledIntervalMs: number; imageLockTtlMs: number; exportTtlMs: number };
  signatures: { policy: RawConfig['IMGPORT_SIGNATURES']; allowedSigners: string; revokedSigners: string; signingKey?: string };
  /** Publishing and pulling (packages/catalog). */
  catalog: { registryAuth?: { username: string; password: string }; plainHttp: string[]; token?: string };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const bad = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ImgportError('CONFIG_INVALID', `invalid configuration: ${bad}`);
  }
  const c = parsed.data;
  const tokens = [...c.IMGPORT_TOKENS];
  if (c.IMGPORT_TOKENS_FILE) {
    try {
      const lines = readFileSync(c.IMGPORT_TOKENS_FILE, 'utf8').split('\n');
      tokens.push(...lines.map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
    } catch (err) {
      throw new ImgportError('CONFIG_INVALID', `IMGPORT_TOKENS_FILE: cannot read ${c.IMGPORT_TOKENS_FILE}`, {
        cause: err,
      });
    }
  }
  return {
    installRoot: c.INSTALL_ROOT,
    xcatDb: c.XCAT_DB,
    redisUrl: c.REDIS_URL,
    dataDir: c.IMGPORT_DATA,
    tokens,
    port: c.PORT,
    workerConcurrency: c.WORKER_CONCURRENCY,
    queuePrefix: c.IMGPORT_QUEUE_PREFIX,
    ...(c.IMGPORT_SERVER ? { server: c.IMGPORT_SERVER } : {}),
    ...(c.IMGPORT_TOKEN ? { clientToken: c.IMGPORT_TOKEN } : {}),
    logLevel: c.LOG_LEVEL,
    allow: c.IMGPORT_ALLOW,
    sourceDirs: c.IMGPORT_SOURCE_DIRS,
    urlAllow: c.IMGPORT_URL_ALLOW.map((p) => urlPrefix(p)),
    fromRoot: c.IMGPORT_FROM_ROOT,
    limits: {
      maxBundleBytes: c.IMGPORT_MAX_BUNDLE_BYTES,
      maxExpandedBytes: c.IMGPORT_MAX_EXPANDED_BYTES,
      maxEntries: c.IMGPORT_MAX_ENTRIES,
      maxPathLength: c.IMGPORT_MAX_PATH_LENGTH,
    },
    keepSnapshots: c.IMGPORT_KEEP_SNAPSHOTS,
    ...(c.IMGPORT_HOST_ID ? { hostId: c.IMGPORT_HOST_ID } : {}),
    timings: {
      jobLockMs: c.IMGPORT_JOB_LOCK_MS,
      stalledIntervalMs: c.IMGPORT_STALLED_INTERVAL_MS,
      imageLockTtlMs: c.IMGPORT_IMAGE_LOCK_TTL_MS,
      exportTtlMs: Math.round(c.IMGPORT_EXPORT_TTL_HOURS * 3600 * 1000),
    },
    signatures: {
      policy: c.IMGPORT_SIGNATURES,
      allowedSigners: c.IMGPORT_ALLOWED_SIGNERS,
      revokedSigners: c.IMGPORT_REVOKED_SIGNERS,
      ...(c.IMGPORT_SIGNING_KEY ? { signingKey: c.IMGPORT_SIGNING_KEY } : {}),
    },
    catalog: {
      ...(c.IMGPORT_REGISTRY_AUTH ? { registryAuth: { username: c.IMGPORT_REGISTRY_AUTH.split(':', 1)[0]!, password: c.IMGPORT_REGISTRY_AUTH.slice(c.IMGPORT_REGISTRY_AUTH.indexOf(':') + 1) } } : {}),
      plainHttp: c.IMGPORT_PLAIN_HTTP,
      ...(c.IMGPORT_CATALOG_TOKEN ? { token: c.IMGPORT_CATALOG_TOKEN } : {}),
    },
  };
}

/** An IMGPORT_URL_ALLOW entry: an http(s) URL with a host, normalised as URL.href writes it. */
function urlPrefix(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ImgportError('CONFIG_INVALID', `invalid configuration: IMGPORT_URL_ALLOW: ${JSON.stringify(raw)} is not a URL`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'oci:') || !url.host || url.username || url.password) {
    throw new ImgportError('CONFIG_INVALID', `invalid configuration: IMGPORT_URL_ALLOW: ${JSON.stringify(raw)} must be an http(s):// or oci:// URL with a host and no credentials`);
  }
  return url.href;
}

/**
 * Whether an http(s) URL lies under one of the IMGPORT_URL_ALLOW prefixes: compared as URL.href
 * writes both, and only at a boundary ("http://repo/b" allows "http://repo/b/x" and
 * "http://repo/b?x", never "http://repo/bx"; a bare origin is its "/" and allows all of it).
 */
export function urlAllowed(url: string, prefixes: readonly string[]): boolean {
  let href: string;
  try {
    href = new URL(url).href;
  } catch {
    return false;
  }
  return prefixes.some((p) => href === p || (href.startsWith(p) && (p.endsWith('/') || '/?#'.includes(href[p.length] ?? ''))));
}

/** Names of every variable the schema reads, for checks of deploy files and .env.example. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);
