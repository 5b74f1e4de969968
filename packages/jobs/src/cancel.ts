/**
 * Cancelling a running job, across processes and hosts. The API sets `imgport:cancel:<id>` (with
 * a TTL, so a request for a job that never runs again does not linger) and publishes the id.
 * Every worker subscribes, and also polls the key of each job it runs once a second, so a
 * message missed while a subscriber reconnected still arrives within about a second.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '@imgport/runtime';
import type { Keyspace } from './keys.js';
import { toQueueError } from './redis.js';

/** A day: longer than any job waits for its image lock or its children. */
export const CANCEL_TTL_SECONDS = 24 * 3600;

export async function requestCancel(redis: Redis, keys: Keyspace, jobId: string): Promise<void> {
  try {
    await redis.set(keys.cancel(jobId), '1', 'EX', CANCEL_TTL_SECONDS);
    await redis.publish(keys.cancelChannel, jobId);
  } catch (err) {
    throw toQueueError(err);
  }
}

export async function cancelRequested(redis: Redis, keys: Keyspace, jobId: string): Promise<boolean> {
  try {
    return (await redis.exists(keys.cancel(jobId))) === 1;
  } catch (err) {
    throw toQueueError(err);
  }
}

export async function clearCancel(redis: Redis, keys: Keyspace, jobId: string): Promise<void> {
  try {
    await redis.del(keys.cancel(jobId));
  } catch (err) {
    throw toQueueError(err);
  }
}

export class CancelWatcher {
  private readonly subscriber: Redis;
  private readonly watchers = new Map<string, Set<() => void>>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keyspace,
    private readonly opts: { pollMs?: number; log?: Logger } = {},
  ) {
    // A subscribed connection can run nothing else: it gets its own.
    this.subscriber = redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, jobId: string) => this.fire(jobId));
  }

  async start(): Promise<void> {
    await this.subscriber.subscribe(this.keys.cancelChannel);
  }

  /** Calls `onCancel` once when a cancel request for `jobId` arrives; returns the unwatch. */
  watch(jobId: string, onCancel: () => void): () => void {
    let fired = false;
    const once = () => {
      if (fired) return;
      fired = true;
      onCancel();
    };
    const set = this.watchers.get(jobId) ?? new Set();
    set.add(once);
    this.watchers.set(jobId, set);
    let polling = false;
    const poll = setInterval(() => {
      if (polling || fired) return;
      polling = true;
      cancelRequested(this.redis, this.keys, jobId)
        .then((yes) => yes && once())
        .catch((err: unknown) => this.opts.log?.debug({ err, jobId }, 'cancel poll failed'))
        .finally(() => (polling = false));
    }, this.opts.pollMs ?? 1000);
    poll.unref();
    return () => {
      clearInterval(poll);
      set.delete(once);
      if (set.size === 0) this.watchers.delete(jobId);
    };
  }

  async close(): Promise<void> {
    this.watchers.clear();
    this.subscriber.disconnect();
  }

  private fire(jobId: string): void {
    for (const fn of this.watchers.get(jobId) ?? []) fn();
  }
}
