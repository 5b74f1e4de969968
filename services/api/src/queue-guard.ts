import { ImgportError, isConnectionError } from '@imgport/runtime';
import type { JobQueuePort } from '@imgport/jobs';

/**
 * The queue as the routes see it: a failure that is not already one of ours and says Redis is
 * unreachable (an ioredis "Connection is closed", a refused connection) is 503
 * QUEUE_UNAVAILABLE; anything else is a bug, INTERNAL (500), never a retryable 503.
 */
export function guardQueue(queue: JobQueuePort): JobQueuePort {
  const wrap = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await fn(...args);
      } catch (err) {
        if (err instanceof ImgportError) throw err;
        const why = err instanceof Error ? err.message : String(err);
        if (!isConnectionError(err)) throw new ImgportError('INTERNAL', `job queue: ${why}`, { cause: err });
        throw new ImgportError('QUEUE_UNAVAILABLE', `job queue unavailable: ${why}`, { cause: err });
      }
    };
  return {
    submit: wrap(queue.submit.bind(queue)) as JobQueuePort['submit'],
    submitSnapshots: wrap(queue.submitSnapshots.bind(queue)),
    status: wrap(queue.status.bind(queue)),
    list: wrap(queue.list.bind(queue)),
    cancel: wrap(queue.cancel.bind(queue)),
    counts: wrap(queue.counts.bind(queue)),
    ping: wrap(queue.ping.bind(queue)),
    close: () => queue.close(),
  };
}
