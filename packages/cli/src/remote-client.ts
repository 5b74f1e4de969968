/**
 * The commands' HTTP client for the imgport API (SPEC §8.2): bearer auth on every request, and
 * every failure — an error document, a foreign answer, a refused connection — turned into an
 * ImgportError whose message says which server and what to check. The token is only ever put
 * in the Authorization header; nothing here logs headers.
 */
import { ERROR_CODES, ImgportError, type ErrorCode, type Logger } from '@imgport/runtime';

/** GET /v1/jobs/<id>, as the API sends it: the jobs package's own status document. */
export type { JobState, JobStatus as JobDoc } from '@imgport/jobs';

/**
 * An error from talking to the server. Its exit status follows the HTTP status rather than the
 * code: a 400 is the caller's usage error (2); anything the server or the job did is 1, even a
 * code that would be a usage error inline (a server-side CONFIG_INVALID is not the caller's).
 */
export class RemoteError extends ImgportError {
  readonly status: number | undefined;
  private readonly exit: 1 | 2;

  constructor(code: ErrorCode, message: string, opts: { status?: number; exit?: 1 | 2; cause?: unknown } = {}) {
    super(code, message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.status = opts.status;
    this.exit = opts.exit ?? 1;
  }

  override get exitCode(): 1 | 2 {
    return this.exit;
  }
}

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  json?: unknown;
  /** A streamed body (an upload), sent with its length so the server can refuse it early. */
  body?: AsyncIterable<Uint8Array>;
  contentLength?: number;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
}

export class ApiClient {
  constructor(
    private readonly base: URL,
    private readonly token: string,
    private readonly log: Logger,
  ) {}

  /** The server as messages name it (parseServer refused any credentials in it). */
  get server(): string {
    return this.base.pathname === '/' ? this.base.origin : this.base.href;
  }

  /** Sends one request; resolves only with a 2xx response. */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    this.log.debug({ method, path: url.pathname + url.search }, 'request');
    let res: Response;
    try {
      res = await fetch(url, { method, headers: this.headers(opts), signal: opts.signal ?? null, ...bodyOf(opts) });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw networkError(err, this.server);
    }
    this.log.debug({ method, path: url.pathname, status: res.status }, 'response');
    if (!res.ok) throw await errorOf(res, `${method} ${url.pathname}`, this.server);
    return res;
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    try {
      return (await res.json()) as T;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (err instanceof SyntaxError) throw foreign(res, `${method} ${path}`, this.server);
      throw networkError(err, this.server);
    }
  }

  private headers(opts: RequestOptions): Record<string, string> {
    const h: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: opts.accept ?? 'application/json' };
    if (opts.json !== undefined) h['content-type'] = 'application/json';
    if (opts.body !== undefined) {
      h['content-type'] = opts.contentType ?? 'application/octet-stream';
      if (opts.contentLength !== undefined) h['content-length'] = String(opts.contentLength);
    }
    return h;
  }
}

function bodyOf(opts: RequestOptions): RequestInit {
  if (opts.json !== undefined) return { body: JSON.stringify(opts.json) };
  // A streamed request body needs half duplex in fetch (undici).
  if (opts.body !== undefined) return { body: opts.body, duplex: 'half' };
  return {};
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
  UND_ERR_SOCKET: 'the connection was cut',
};

/** fetch reports every network failure as `TypeError: fetch failed` with the real one as its cause. */
export function networkError(err: unknown, server: string): RemoteError {
  if (err instanceof RemoteError) return err;
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  const why = NETWORK_REASONS[code] ?? (typeof cause?.message === 'string' ? cause.message : err instanceof Error ? err.message : String(err));
  return new RemoteError('IO_ERROR', `cannot talk to the imgport server at ${server}: ${why} (check --server / IMGPORT_SERVER and that the API is running)`, {
    cause: err,
  });
}

/** `{"error": {"code", "message"}}` from the API, or undefined for anything else. */
function errorDocument(text: string): { code?: string; message: string } | undefined {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof e?.message !== 'string') return undefined;
    return { message: e.message, ...(typeof e.code === 'string' ? { code: e.code } : {}) };
  } catch {
    return undefined;
  }
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'LIMIT_EXCEEDED',
  422: 'BUNDLE_INVALID',
  503: 'QUEUE_UNAVAILABLE',
};

export function knownCode(code: string | undefined, fallback: ErrorCode): ErrorCode {
  return code !== undefined && code in ERROR_CODES ? (code as ErrorCode) : fallback;
}

async function errorOf(res: Response, request: string, server: string): Promise<RemoteError> {
  const doc = errorDocument(await res.text().catch(() => ''));
  if (!doc) return foreign(res, request, server);
  const status = res.status;
  const code = knownCode(doc.code, STATUS_CODES[status] ?? 'INTERNAL');
  const exit = status === 400 ? 2 : 1;
  if (status === 401) {
    return new RemoteError(code, `the server at ${server} refused the token (401 unauthorized: ${doc.message}); check IMGPORT_TOKEN`, { status, exit });
  }
  if (status === 503) return new RemoteError(code, `the server at ${server} is not ready (503): ${doc.message}; try again later`, { status, exit });
  if (status === 413) return new RemoteError(code, `too large for the server (413): ${doc.message}`, { status, exit });
  return new RemoteError(code, doc.message, { status, exit });
}

/** An answer that is not the API's: a proxy's error page, another service on that port. */
function foreign(res: Response, request: string, server: string): RemoteError {
  const status = res.status;
  const code = STATUS_CODES[status] ?? 'INTERNAL';
  const what = res.ok ? 'an answer that is not JSON' : `${status} ${res.statusText}`.trim();
  return new RemoteError(code, `${request}: the server at ${server} answered ${what} (is it an imgport API?)`, { status });
}
