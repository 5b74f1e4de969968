/**
 * The one HTTP client of the catalog package: node:http(s) with a connect and an idle timeout,
 * bodies as Buffers (resendable after an auth challenge) or streams, and a retry helper with
 * exponential backoff for what a flaky network or a restarting server does.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { ImgportError } from '@imgport/runtime';

const require = createRequire(import.meta.url);

/**
 * node:http or node:https's request, loaded when first asked for: the commands load this package
 * for every import, and node:https with tls cost each local one ~10 ms at start.
 */
export function requestFor(url: URL): typeof import('node:http').request {
  return (require(url.protocol === 'https:' ? 'node:https' : 'node:http') as typeof import('node:http')).request;
}

export interface HttpOptions {
  /** From the request to an open connection. Default 30 s. */
  connectMs?: number;
  /** Longest wait for headers or for the next bytes of a body. Default 60 s. */
  idleMs?: number;
  signal?: AbortSignal;
}

export interface SendOptions extends HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

const CONNECT_MS = 30_000;
const IDLE_MS = 60_000;

/** One request; resolves with the response (body unread), or fails IO_ERROR naming the phase. */
export function send(url: URL, o: SendOptions = {}): Promise<IncomingMessage> {
  const connectMs = o.connectMs ?? CONNECT_MS;
  const idleMs = o.idleMs ?? IDLE_MS;
  const what = `${o.method ?? 'GET'} ${redact(url)}`;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'user-agent': 'imgport', ...o.headers };
    if (o.body) headers['content-length'] = String(o.body.length);
    const req = requestFor(url)(url, { method: o.method ?? 'GET', headers, ...(o.signal ? { signal: o.signal } : {}) });
    let timer = setTimeout(() => fail(`no connection to ${url.host} within ${connectMs / 1000} s`), connectMs);
    function fail(message: string, cause?: unknown): void {
      clearTimeout(timer);
      req.destroy();
      reject(new ImgportError('IO_ERROR', `${what}: ${message}`, { cause }));
    }
    req.on('socket', (sock) => {
      const ready = () => {
        clearTimeout(timer);
        timer = setTimeout(() => fail(`${url.host} sent no response within ${idleMs / 1000} s`), idleMs);
      };
      if (!sock.connecting && (url.protocol !== 'https:' || (sock as { encrypted?: boolean }).encrypted)) ready();
      else sock.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', ready);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (o.signal?.aborted) reject(new ImgportError('CANCELLED', `${what} cancelled`, { cause: err }));
      else fail(`${err.code ?? ''} ${err.message}`.trim(), err);
    });
    req.end(o.body);
  });
}

/** The whole body of a small response (JSON, a token, a signature), refused beyond `max` bytes. */
export async function readBody(res: IncomingMessage, max: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    res.destroy();
    throw new ImgportError('LIMIT_EXCEEDED', `${what} is ${declared} bytes; at most ${max} are read`);
  }
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > max) {
        res.destroy();
        throw new ImgportError('LIMIT_EXCEEDED', `${what} is larger than ${max} bytes`);
      }
      parts.push(c);
    }
  } catch (err) {
    if (err instanceof ImgportError) throw err;
    throw new ImgportError('IO_ERROR', `${what}: the connection broke off: ${(err as Error).message}`, { cause: err });
  }
  return Buffer.concat(parts);
}

/** Drains an unwanted body so the socket can be reused. */
export function discard(res: IncomingMessage): void {
  res.resume();
}

/**
 * Pieces of a response body with an idle timeout: a stalled server is an IO_ERROR (retryable),
 * as is a connection that closes early.
 */
export async function* chunks(res: IncomingMessage, what: string, idleMs = IDLE_MS): AsyncGenerator<Buffer> {
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => res.destroy(new ImgportError('IO_ERROR', `${what} stalled: no data for ${idleMs / 1000} s`)), idleMs);
  };
  arm();
  let aborted = false;
  res.once('aborted', () => (aborted = true));
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      arm();
      yield c;
    }
    if (aborted || !res.complete) throw new ImgportError('IO_ERROR', `${what}: the connection closed before the body was complete`);
  } catch (err) {
    if (err instanceof ImgportError) throw err;
    throw new ImgportError('IO_ERROR', `${what}: the connection broke off: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(idle);
  }
}

/** An HTTP status as an error: 404 NOT_FOUND, 401/403 UNAUTHORIZED, 5xx and 429 retryable IO_ERROR. */
export function statusError(status: number, what: string, detail = ''): ImgportError {
  const tail = detail ? `: ${detail.slice(0, 300)}` : '';
  if (status === 404) return new ImgportError('NOT_FOUND', `${what}: not found (HTTP 404)${tail}`);
  if (status === 401 || status === 403) return new ImgportError('UNAUTHORIZED', `${what}: access denied (HTTP ${status})${tail}; check the registry credentials (IMGPORT_REGISTRY_AUTH)`);
  if (status >= 500 || status === 429 || status === 408) return new ImgportError('IO_ERROR', `${what}: HTTP ${status}${tail}`);
  return new ImgportError('BAD_REQUEST', `${what}: HTTP ${status}${tail}`);
}

export interface RetryOptions {
  attempts?: number;
  baseMs?: number;
  signal?: AbortSignal;
  onRetry?: (err: ImgportError, attempt: number, delayMs: number) => void;
}

/** Runs `fn` again after retryable errors (IO_ERROR), waiting 0.5 s, 1 s, 2 s ... between tries. */
export async function retrying<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = o.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const e = err instanceof ImgportError ? err : new ImgportError('IO_ERROR', (err as Error).message, { cause: err });
      if (!e.retryable || attempt >= attempts || o.signal?.aborted) throw e;
      const delay = (o.baseMs ?? 500) * 2 ** (attempt - 1);
      o.onRetry?.(e, attempt, delay);
      await sleep(delay, o.signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

/** A URL for messages: no credentials, no query (upload URLs carry state tokens there). */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
