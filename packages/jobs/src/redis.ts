/**
 * Redis connections for the two roles. The API fails fast: a request made while Redis is down
 * gets QUEUE_UNAVAILABLE (503) at once instead of hanging until it comes back. A worker waits
 * and reconnects: BullMQ requires maxRetriesPerRequest null for its blocking commands.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { ImgportError, isConnectionError, redactUrl, type Logger } from '@imgport/runtime';

export type RedisRole = 'api' | 'worker';

const ROLE_OPTIONS: Record<RedisRole, RedisOptions> = {
  api: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    // Keep reconnecting in the background, so the API recovers when Redis does.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  },
  worker: {
    maxRetriesPerRequest: null,
    connectTimeout: 10_000,
    retryStrategy: (times) => Math.min(1000 * 2 ** Math.min(times, 5), 20_000),
  },
};

export function createRedis(url: string, role: RedisRole, opts: { log?: Logger } = {}): Redis {
  const redis = new Redis(url, { ...ROLE_OPTIONS[role], connectionName: `imgport-${role}` });
  // Without a listener ioredis prints every failed reconnect; say it once per outage instead.
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    opts.log?.warn({ err, redis: redactUrl(url) }, 'Redis unavailable; reconnecting');
  });
  redis.on('ready', () => {
    if (down) opts.log?.info({ redis: redactUrl(url) }, 'Redis reachable again');
    down = false;
  });
  return redis;
}

/** Resolves once the connection is ready; QUEUE_UNAVAILABLE after `timeoutMs`. */
export async function redisReady(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new ImgportError('QUEUE_UNAVAILABLE', `Redis not reachable within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/**
 * A Redis or BullMQ failure, for callers: QUEUE_UNAVAILABLE when Redis could not be reached (a
 * job may retry, the API 503s); anything else (a script error, a bug) INTERNAL.
 */
export function toQueueError(err: unknown): ImgportError {
  if (err instanceof ImgportError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (isConnectionError(err)) return new ImgportError('QUEUE_UNAVAILABLE', `queue unavailable: ${msg}`, { cause: err });
  return new ImgportError('INTERNAL', `queue error: ${msg}`, { cause: err });
}

/**
 * BullMQ loses jobs when Redis evicts keys under memory pressure: anything but `noeviction` is a
 * misconfiguration worth a loud log line. Managed Redis often forbids CONFIG; say we could not tell.
 */
export async function evictionWarning(redis: Redis): Promise<string | undefined> {
  let reply: unknown;
  try {
    reply = await redis.config('GET', 'maxmemory-policy');
  } catch (err) {
    return `cannot check Redis maxmemory-policy (${(err as Error).message}); make sure it is noeviction, or queued jobs may be lost`;
  }
  const policy = Array.isArray(reply) ? String(reply[1] ?? '') : '';
  if (policy === 'noeviction') return undefined;
  return `Redis maxmemory-policy is "${policy || 'unknown'}", not noeviction: under memory pressure Redis will drop queued jobs and locks. Set maxmemory-policy noeviction`;
}
