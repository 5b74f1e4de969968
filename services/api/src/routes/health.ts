/**
 * Probes, outside auth. /healthz: the process answers. /readyz: Redis and the database answer
 * and the spool has room; a 503 lists every check with what failed.
 */
import { mkdir, statfs } from 'node:fs/promises';
import type { Express } from 'express';
import type { Ctx } from '../context.js';

interface Check {
  ok: boolean;
  message?: string;
  [k: string]: unknown;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function check(fn: () => Promise<Check | void>, ms: number, what: string): Promise<Check> {
  try {
    return (await withTimeout(fn(), ms, what)) ?? { ok: true };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

async function spoolRoom(dir: string, min: number): Promise<Check> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  return free >= min
    ? { ok: true, freeBytes: free }
    : { ok: false, freeBytes: free, message: `${free} bytes free in the spool, below ${min}` };
}

export function registerHealth(app: Express, ctx: Ctx): void {
  const { deps, opts } = ctx;

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const ms = opts.readyTimeoutMs;
    const redis = deps.redis;
    const [r, db, spool] = await Promise.all([
      check(async () => void (redis ? await redis.ping() : await deps.queue.ping()), ms, 'Redis'),
      check(() => deps.tables.ping(), ms, 'the database'),
      check(() => spoolRoom(ctx.spool, opts.minSpoolFreeBytes), ms, 'the spool'),
    ]);
    const checks = { redis: r, db, spool };
    const shuttingDown = deps.closing?.aborted === true;
    const ready = !shuttingDown && r.ok && db.ok && spool.ok;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : shuttingDown ? 'shutting down' : 'unready', checks });
  });
}
