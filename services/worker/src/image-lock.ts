/**
 * The image lock as handlers use it: wait for it (a job whose image another job is changing
 * queues behind it rather than failing), give up when the job is cancelled, and stop the job
 * with LOCKED (retryable) if the lock is lost while held.
 */
import type { ImageLease, ImageLeases } from '@imgport/engine';
import { ImgportError } from '@imgport/runtime';
import type { JobContext } from './context.js';

/**
 * The engine's image leases over the Redis image locks: the engine takes its lock file under the
 * lease, records the lease in its journal, and judges another host's journal dead when the
 * image's lease is no longer the one it was written under.
 */
export function imageLeases(ctx: JobContext): ImageLeases {
  const locks = ctx.deps.locks;
  const onLost = (image: string) => () => ctx.abort(new ImgportError('LOCKED', `lost the lock on image ${image} while working on it`));
  const lease = (h: { token: string; release(): Promise<void> }): ImageLease => ({ token: h.token, release: () => h.release() });
  return {
    acquire: async (image, signal) => lease(await locks.acquire(image, { wait: true, signal: signal ?? ctx.signal, onLost: onLost(image) })),
    tryAcquire: async (image) => {
      try {
        return lease(await locks.acquire(image, { wait: false }));
      } catch (err) {
        if (err instanceof ImgportError && err.code === 'LOCKED') return undefined;
        throw err;
      }
    },
    holder: (image) => locks.holder(image),
  };
}

export async function holdImage(ctx: JobContext, image: string, signal: AbortSignal = ctx.signal): Promise<() => Promise<void>> {
  const handle = await ctx.deps.locks.acquire(image, {
    wait: true,
    signal,
    onLost: () => ctx.abort(new ImgportError('LOCKED', `lost the lock on image ${image} while working on it`)),
  });
  ctx.log.debug({ image }, 'image locked');
  return () => handle.release();
}

export async function withImageLock<T>(ctx: JobContext, image: string, fn: () => Promise<T>): Promise<T> {
  const release = await holdImage(ctx, image);
  try {
    return await fn();
  } finally {
    await release();
  }
}
