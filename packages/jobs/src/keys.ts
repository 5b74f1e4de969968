/**
 * The queue's Redis prefix (IMGPORT_QUEUE_PREFIX) and imgport's own keys under it: cancel
 * requests and image locks. With the default prefix they are `imgport:cancel:<job id>` and
 * `imgport:lock:<image>`, beside BullMQ's `imgport:imgport:…`; a test's own prefix keeps all of
 * them apart, and cleaning up `<prefix>:*` removes everything it made.
 */
export const DEFAULT_QUEUE_PREFIX = 'imgport';

export interface Keyspace {
  /** BullMQ's prefix. */
  readonly prefix: string;
  cancel(jobId: string): string;
  readonly cancelChannel: string;
  lock(image: string): string;
}

export function keyspace(prefix: string = DEFAULT_QUEUE_PREFIX): Keyspace {
  return {
    prefix,
    cancel: (jobId) => `${prefix}:cancel:${jobId}`,
    cancelChannel: `${prefix}:cancel`,
    lock: (image) => `${prefix}:lock:${image}`,
  };
}
