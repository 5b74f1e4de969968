/**
 * Export results (IMGPORT_DATA/exports/<job id>.tgz) expire after IMGPORT_EXPORT_TTL_HOURS
 * (default 24 h): any worker removes older ones, at start and every few minutes.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@imgport/runtime';

export async function sweepExports(dataDir: string, ttlMs: number, now = Date.now()): Promise<string[]> {
  const dir = join(dataDir, 'exports');
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const p = join(dir, name);
    const st = await stat(p).catch(() => undefined);
    if (!st?.isFile() || now - st.mtimeMs <= ttlMs) continue;
    await rm(p, { force: true });
    removed.push(p);
  }
  return removed;
}

/** Runs `fn` now and every `ms`; failures are logged, never thrown. */
export function sweepEvery(ms: number, fn: () => Promise<string[]>, log: Logger): NodeJS.Timeout {
  const once = () =>
    void fn().then(
      (removed) => removed.length > 0 && log.info({ removed: removed.length }, 'expired files removed'),
      (err: unknown) => log.warn({ err }, 'sweep failed'),
    );
  once();
  const t = setInterval(once, ms);
  t.unref();
  return t;
}
