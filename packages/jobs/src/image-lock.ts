/**
 * One lock per image in Redis, so workers on any host sharing the install root exclude each
 * other: `SET key token NX PX ttl`, renewed while held, released only by its owner. A holder that
 * dies stops renewing and the lock expires after `ttlMs`.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { ImgportError, type Logger } from '@imgport/runtime';
import { keyspace, type Keyspace } from './keys.js';
import { toQueueError } from './redis.js';

// Compare-and-delete / compare-and-extend: a lock that expired and was taken by another owner
// must not be released or extended by the old one.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export interface ImageLockOptions {
  keyspace?: Keyspace;
  /** How long a lock outlives its holder's last renewal (default 30 s); renewed every third of it. */
  ttlMs?: number;
  /** Waiting polls from minPollMs, doubling up to maxPollMs (defaults 100 ms and 2 s). */
  minPollMs?: number;
  maxPollMs?: number;
  log?: Logger;
}

export interface AcquireOptions {
  /** Wait until the lock is free (default: fail at once with LOCKED). */
  wait?: boolean;
  /** Stops waiting: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called when a renewal finds the lock gone (expired while Redis was unreachable, say). */
  onLost?: () => void;
}

export interface LockHandle {
  readonly image: string;
  readonly token: string;
  /** True once a renewal found the lock taken or expired. */
  readonly lost: boolean;
  /** Idempotent; never throws (an unreleased lock expires on its own). */
  release(): Promise<void>;
}

export class ImageLocks {
  private readonly keys: Keyspace;
  private readonly ttl: number;
  private readonly minPoll: number;
  private readonly maxPoll: number;

  constructor(
    private readonly redis: Redis,
    private readonly opts: ImageLockOptions = {},
  ) {
    this.keys = opts.keyspace ?? keyspace();
    this.ttl = opts.ttlMs ?? 30_000;
    this.minPoll = opts.minPollMs ?? 100;
    this.maxPoll = opts.maxPollMs ?? 2000;
  }

  async acquire(image: string, opts: AcquireOptions = {}): Promise<LockHandle> {
    const key = this.keys.lock(image);
    const token = `${hostname()}~${process.pid}~${randomBytes(8).toString('hex')}`;
    for (let attempt = 0; ; attempt++) {
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      if (await this.trySet(key, token)) return this.handle(image, key, token, opts.onLost);
      if (!opts.wait) {
        const holder = await this.holder(image);
        throw new ImgportError('LOCKED', `image ${image} is being changed by another job${holder ? ` (${holder})` : ''}; try again when it is done`);
      }
      const delay = Math.min(this.maxPoll, this.minPoll * 2 ** Math.min(attempt, 10));
      await abortableSleep(delay * (0.75 + Math.random() * 0.5), opts.signal);
    }
  }

  /** Who holds the lock (`host~pid~random`), if anyone. */
  async holder(image: string): Promise<string | undefined> {
    try {
      return (await this.redis.get(this.keys.lock(image))) ?? undefined;
    } catch (err) {
      throw toQueueError(err);
    }
  }

  private async trySet(key: string, token: string): Promise<boolean> {
    try {
      return (await this.redis.set(key, token, 'PX', this.ttl, 'NX')) === 'OK';
    } catch (err) {
      throw toQueueError(err);
    }
  }

  private handle(image: string, key: string, token: string, onLost?: () => void): LockHandle {
    const log = this.opts.log;
    const state = { lost: false, released: false };
    const renew = async () => {
      try {
        if (Number(await this.redis.eval(RENEW, 1, key, token, this.ttl)) === 1 || state.released) return;
        state.lost = true;
        clearInterval(timer);
        log?.error({ image }, 'image lock lost: it expired or was taken while this job held it');
        onLost?.();
      } catch (err) {
        // Redis unreachable: keep trying; if it stays away longer than the TTL, the next renewal finds the lock gone.
        log?.warn({ err, image }, 'cannot renew image lock');
      }
    };
    const timer = setInterval(() => void renew(), Math.max(50, Math.floor(this.ttl / 3)));
    timer.unref();
    return {
      image,
      token,
      get lost() {
        return state.lost;
      },
      release: async () => {
        if (state.released) return;
        state.released = true;
        clearInterval(timer);
        try {
          await this.redis.eval(RELEASE, 1, key, token);
        } catch (err) {
          log?.warn({ err, image }, 'cannot release image lock; it expires on its own');
        }
      },
    };
  }
}

async function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    if (signal?.aborted) throw abortReason(signal);
    throw err;
  }
}

/** The signal's reason when it is an error of its own; a plain abort is CANCELLED. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason;
  return new ImgportError('CANCELLED', 'cancelled', { cause: reason });
}
