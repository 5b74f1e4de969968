/**
 * Publish: the image (or one of its snapshots) exported and pushed to an OCI registry or placed
 * in a catalog directory, under the image lock so no import changes it half way through.
 */
import { ExportService, PublishService, SnapshotService, StoreSnapshots } from '@imgport/engine';
import { engineDeps, type JobHandler } from '../context.js';
import { withImageLock } from '../image-lock.js';

export const publishHandler: JobHandler<'publish'> = {
  async run(payload, ctx) {
    const deps = engineDeps(ctx.deps, ctx.log);
    const exports = new ExportService(deps);
    const c = ctx.deps.catalog;
    const service = new PublishService({
      dataDir: deps.dataDir,
      log: ctx.log,
      exports,
      snapshots: new SnapshotService({ ...deps, exporter: exports }),
      store: new StoreSnapshots(deps),
      ...(deps.signingKey ? { signingKey: deps.signingKey } : {}),
      registry: { plainHttp: c?.plainHttp ?? [], ...(c?.registryAuth ? { credentials: c.registryAuth } : {}) },
    });
    return withImageLock(ctx, payload.image, () => service.run(payload.snapshot ?? payload.image, payload.destination, { signal: ctx.signal, onProgress: ctx.progress }));
  },
};
