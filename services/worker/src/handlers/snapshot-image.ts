/** One child of a bulk snapshot: a snapshot of one image, taken under its lock. */
import { SnapshotService } from '@imgport/engine';
import { engineDeps, type JobHandler } from '../context.js';
import { withImageLock } from '../image-lock.js';

export const snapshotImageHandler: JobHandler<'snapshot-image'> = {
  async run(payload, ctx) {
    return withImageLock(ctx, payload.image, () =>
      new SnapshotService(engineDeps(ctx.deps, ctx.log)).create(payload.image, {
        signal: ctx.signal,
        onProgress: ctx.progress,
        ...(payload.label !== undefined ? { label: payload.label } : {}),
      }),
    );
  },
};
