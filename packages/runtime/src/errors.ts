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

/** Node's system errors (ENOSPC, EIO, EACCES...) become IO_ERROR; anything else INTERNAL. */
export function toImgportError(err: unknown): ImgportError {
  if (err instanceof ImgportError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return new ImgportError('IO_ERROR', `${e.syscall} failed: ${e.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ImgportError('INTERNAL', message, { cause: err });
}
