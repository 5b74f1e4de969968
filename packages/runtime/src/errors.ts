/**
 * One error class with a closed set of codes. Every layer throws ImgportError; the CLI maps
 * the code to an exit status, the API to an HTTP status, the worker to retry-or-fail.
 */
export const ERROR_CODES = {
  // Bad input: the bundle, manifest or request is wrong. Never retried.
  MANIFEST_INVALID: { http: 422, exit: 1, retry: false },
  BUNDLE_INVALID: { http: 422, exit: 1, retry: false },
  UNSAFE_PATH: { http: 422, exit: 1, retry: false },
  CHECKSUM_MISMATCH: { http: 422, exit: 1, retry: false },
  LIMIT_EXCEEDED: { http: 413, exit: 1, retry: false },
  UNSUPPORTED: { http: 422, exit: 1, retry: false },
  BAD_REQUEST: { http: 400, exit: 2, retry: false },
  // Signatures and the trust policy (IMGPORT_SIGNATURES): refused bundles, never retried.
  SIGNATURE_MISSING: { http: 422, exit: 1, retry: false },
  SIGNATURE_INVALID: { http: 422, exit: 1, retry: false },
  SIGNER_UNTRUSTED: { http: 422, exit: 1, retry: false },
  SIGNER_EXPIRED: { http: 422, exit: 1, retry: false },
  SIGNER_REVOKED: { http: 422, exit: 1, retry: false },
  /** A catalog index older than one already seen from the same source (a rollback), or expired. */
  CATALOG_STALE: { http: 422, exit: 1, retry: false },
  // State conflicts and lookups.
  IMAGE_EXISTS: { http: 409, exit: 1, retry: false },
  IMAGE_NOT_FOUND: { http: 404, exit: 1, retry: false },
  /** A destination file or directory exists with other content (not the image being replaced). */
  CONFLICT: { http: 409, exit: 1, retry: false },
  FILE_MISSING: { http: 422, exit: 1, retry: false },
  NOT_FOUND: { http: 404, exit: 1, retry: false },
  LOCKED: { http: 409, exit: 1, retry: true },
  CANCELLED: { http: 409, exit: 1, retry: false },
  UNAUTHORIZED: { http: 401, exit: 1, retry: false },
  // Transient: a dependency or the disk failed; a job may try again.
  DB_UNAVAILABLE: { http: 503, exit: 1, retry: true },
  QUEUE_UNAVAILABLE: { http: 503, exit: 1, retry: true },
  IO_ERROR: { http: 500, exit: 1, retry: true },
  /** ENOSPC: the message names the filesystem that is full. Not retried: space must be freed first. */
  DISK_FULL: { http: 507, exit: 1, retry: false },
  CONFIG_INVALID: { http: 500, exit: 2, retry: false },
  INTERNAL: { http: 500, exit: 1, retry: false },
} as const satisfies Record<string, { http: number; exit: 0 | 1 | 2; retry: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ImgportError extends Error {
  override readonly name = 'ImgportError';
  readonly code: ErrorCode;
  /** Where the problem is: a bundle member, a manifest line, a column, a path. */
  readonly where?: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; where?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options?.where !== undefined) this.where = options.where;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  get exitCode(): 0 | 1 | 2 {
    return ERROR_CODES[this.code].exit;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retry;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isImgportError(err: unknown): err is ImgportError {
  return err instanceof ImgportError;
}

/** ENOSPC becomes DISK_FULL; other system errors (EIO, EACCES...) IO_ERROR; anything else INTERNAL. */
export function toImgportError(err: unknown): ImgportError {
  if (err instanceof ImgportError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && e.code === 'ENOSPC') {
    const where = typeof e.path === 'string' ? e.path : undefined;
    return new ImgportError('DISK_FULL', `disk full${where ? ` at ${where}` : ''}: free space there and try again (${e.message})`, { cause: err, ...(where ? { where } : {}) });
  }
  if (e && typeof e === 'object' && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return new ImgportError('IO_ERROR', `${e.syscall} failed: ${e.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ImgportError('INTERNAL', message, { cause: err });
}

/** Driver error codes that mean the server is unreachable or went away (or is briefly busy). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_ACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CANTOPEN',
]);
const CONNECTION_MESSAGES =
  /connection is closed|connection lost|closed the connection|stream isn't writeable|max retries per request|enableOfflineQueue|connection is in closed state|pool is closed|database connection is not open|cannot open database|unable to open database|socket closed|connect ETIMEDOUT|ECONNREFUSED|ECONNRESET/i;

/**
 * True when `err` (or one of its causes) says a server could not be reached or dropped the
 * connection — an outage worth a 503 and a retry — as opposed to a bug or a bad statement.
 */
export function isConnectionError(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, n = 0; e && typeof e === 'object' && n < 8; e = e.cause as typeof e, n++) {
    if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && CONNECTION_MESSAGES.test(e.message)) return true;
  }
  return false;
}
