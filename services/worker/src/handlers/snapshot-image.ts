/** One child of a bulk snapshot: a store snapshot of one image (issue 12), taken under its lock. */
import { StoreSnapshots } from '@imgport/engine';
import { engineDeps, type JobHandler } from '../context.js';
import { withImageLock } from '../image-lock.js';

export const snapshotImageHandler: JobHandler<'snapshot-image'> = {
  async run(payload, ctx) {
    return withImageLock(ctx, payload.image, async () => {
      const store = new StoreSnapshots(engineDeps(ctx.deps, ctx.log));
      const ref = await store.create(payload.image, {
        signal: ctx.signal,
        onProgress: ctx.progress,
        ...(payload.label !== undefined ? { label: payload.label } : {}),
      });
      return store.info(ref);
    });
  },
};
