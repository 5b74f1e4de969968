/**
 * The image lock as handlers use it: wait for it (a job whose image another job is changing
 * queues behind it rather than failing), give up when the job is cancelled, and stop the job
 * with LOCKED (retryable) if the lock is lost while held.
 */
import { ImgportError } from '@imgport/runtime';
import type { JobContext } from './context.js';

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
