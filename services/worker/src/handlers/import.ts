/**
 * Import: the bundle from the spool, shared storage or a URL, through the engine, with the Redis
 * image lock around its critical section (conflict check to commit). A cancellation aborts the
 * engine, which removes its staging area; a killed worker's half commit is rolled back by the
 * engine's journal recovery when the job runs again.
 */
import { realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { dropReceipt, ImportService, SnapshotCatalog, SnapshotService, StoreSnapshots, workDir, type ImageLeases } from '@imgport/engine';
import { isBelow } from '@imgport/format';
import type { ImportPayload } from '@imgport/jobs';
import { ImgportError, urlAllowed } from '@imgport/runtime';
import { engineDeps, runKey, type JobHandler, type WorkerDeps } from '../context.js';
import { imageLeases } from '../image-lock.js';
import { pullDownloads } from '../pull-source.js';

export const importHandler: JobHandler<'import'> = {
  async run(payload, ctx) {
    const deps = engineDeps(ctx.deps, ctx.log);
    const service = new ImportService({
      ...deps,
      // A store snapshot of the image replaced once the store is in use; a .tgz bundle before.
      snapshots: new SnapshotCatalog(new SnapshotService(deps), new StoreSnapshots(deps), join(deps.dataDir, 'reverts')),
      leases: imageLeases(ctx) satisfies ImageLeases,
      // Every hop of a download is checked, so a redirect cannot leave the allowed prefixes.
      download: { allow: ctx.deps.urlAllow, ...pullDownloads(ctx.deps, (m) => ctx.log.warn(m)) },
    });
    const { source } = payload;
    return service.run(sourceOf(source, ctx.deps), {
      fromRoot: payload.fromRoot ?? ctx.deps.fromRoot,
      signal: ctx.signal,
      onProgress: ctx.progress,
      jobId: runKey(ctx.job),
      ...(source.kind === 'spool' ? { sizeHint: source.size } : {}),
      ...(payload.name ? { name: payload.name } : {}),
      ...(payload.profile ? { profile: payload.profile } : {}),
      ...(payload.force ? { force: true } : {}),
      ...(payload.dryRun ? { dryRun: true } : {}),
    });
  },

  /** An upload is spooled for its job only: once the job is over for good, its bytes go. */
  async settled(payload, { deps, log, runKey: key }) {
    // The job is over for good: a retry will not come, so its receipt is not needed any more.
    if (key) dropReceipt(workDir(deps.installRoot), key);
    if (payload.source.kind !== 'spool' || !inside(payload.source.path, [deps.dataDir])) return;
    await rm(payload.source.path, { force: true }).catch((err: unknown) => log.warn({ err }, 'cannot remove spooled upload'));
  },
};

/**
 * A payload names only what the API may accept: files in the spool under IMGPORT_DATA and in
 * IMGPORT_SOURCE_DIRS, URLs under IMGPORT_URL_ALLOW. Checked again here because Redis is shared
 * with other clients, which may enqueue jobs without the API.
 */
function sourceOf(source: ImportPayload['source'], deps: WorkerDeps): string {
  switch (source.kind) {
    case 'url':
      if (!urlAllowed(source.url, deps.urlAllow)) {
        throw new ImgportError('UNSAFE_PATH', `${source.url} is not under an allowed URL prefix (IMGPORT_URL_ALLOW${deps.urlAllow.length ? `: ${deps.urlAllow.join(', ')}` : ' is empty'})`);
      }
      return source.url;
    case 'spool':
      if (!inside(source.path, [deps.dataDir])) throw new ImgportError('UNSAFE_PATH', `spooled bundle ${source.path} is not under ${deps.dataDir}`);
      return source.path;
    case 'path':
      if (!inside(source.path, deps.sourceDirs)) {
        throw new ImgportError('UNSAFE_PATH', `${source.path} is not inside a source directory (IMGPORT_SOURCE_DIRS)`);
      }
      return source.path;
  }
}

/** True when `path`, symlinks resolved, lies inside one of `dirs`. A missing path is judged as written. */
function inside(path: string, dirs: string[]): boolean {
  const real = realOrResolved(path);
  return dirs.some((dir) => isBelow(realOrResolved(dir), real));
}

function realOrResolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}
