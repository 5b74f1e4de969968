import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { requestFor } from '@imgport/catalog';
import { ImgportError, urlAllowed } from '@imgport/runtime';

/** How a bundle is downloaded: timeouts, redirects, and (for the services) allowed URL prefixes. */
export interface DownloadOptions {
  /** From the request to an open connection (DNS, TCP, TLS). Default 30 s. */
  connectMs?: number;
  /** Longest wait for the response headers or for the next bytes of the body. Default 60 s. */
  idleMs?: number;
  /** The whole download. Default 12 h. */
  totalMs?: number;
  /** Redirects followed, each only within the origin it started at. Default 5. */
  maxRedirects?: number;
  /** When given, every URL (redirects too) must lie under one of these prefixes. */
  allow?: readonly string[];
  /**
   * Sources other than files and http(s) URLs (oci://, catalog entries): the first resolver
   * that claims a source opens it (packages/catalog provides them; the composition roots wire them).
   */
  resolvers?: readonly SourceResolver[];
}

export interface OpenedSource {
  stream: Readable;
  size?: number;
  label: string;
  /** The path, when the source is a local file (its decompressing program may read it itself). */
  file?: string;
}

/** Opens `source` when it is of its kind, else answers undefined. */
export type SourceResolver = (source: string, signal?: AbortSignal) => Promise<OpenedSource | undefined>;

const DEFAULTS = { connectMs: 30_000, idleMs: 60_000, totalMs: 12 * 3600_000, maxRedirects: 5 };

/** A bundle to read: a local file or an http(s) URL, streamed, never buffered whole. */
export async function openSource(
  source: string,
  signal?: AbortSignal,
  download: DownloadOptions = {},
): Promise<OpenedSource> {
  for (const resolve of download.resolvers ?? []) {
    const opened = await resolve(source, signal);
    if (opened) return opened;
  }
  if (/^https?:\/\//i.test(source)) return openUrl(source, signal, { ...DEFAULTS, ...download });
  let size: number;
  try {
    const st = statSync(source);
    if (!st.isFile()) throw new ImgportError('BAD_REQUEST', `${source} is not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof ImgportError) throw err;
    throw new ImgportError('NOT_FOUND', `cannot read bundle ${source}: ${(err as Error).message}`, { cause: err });
  }
  return { stream: createReadStream(source, { highWaterMark: READ_CHUNK }), size, label: source, file: source };
}

/**
 * Reads of a bundle file: 64 KiB, as fs streams do by default. Each chunk is a fresh buffer that
 * the inflate holds while it works through it; 1 MiB ones lived long enough to be promoted to
 * the old generation, where only a full collection frees them (peak RSS of an import of the
 * 97 MiB bench bundle: 127 MiB with 1 MiB reads, 107 MiB with 64 KiB ones).
 */
const READ_CHUNK = 64 * 1024;

type Resolved = typeof DEFAULTS & DownloadOptions;

/**
 * Downloads with node:http(s) rather than fetch: every phase has its own timeout, redirects are
 * followed by hand and only within the first URL's origin (scheme, host and port), and a body
 * shorter than its Content-Length is an error that says so.
 */
async function openUrl(source: string, signal: AbortSignal | undefined, o: Resolved): Promise<{ stream: Readable; size?: number; label: string }> {
  const first = parseUrl(source, source);
  const deadline = Date.now() + o.totalMs;
  let url = first;
  for (let hop = 0; ; hop++) {
    if (o.allow && !urlAllowed(url.href, o.allow)) {
      throw new ImgportError('UNSAFE_PATH', `${url.href} is not under an allowed URL prefix (IMGPORT_URL_ALLOW)${hop > 0 ? ` (redirected from ${source})` : ''}`, { where: url.href });
    }
    const res = await get(url, source, signal, o, deadline);
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status)) {
      res.resume();
      const location = res.headers.location;
      if (!location) throw new ImgportError('IO_ERROR', `cannot download ${source}: HTTP ${status} redirect without a Location`);
      if (hop >= o.maxRedirects) throw new ImgportError('IO_ERROR', `cannot download ${source}: more than ${o.maxRedirects} redirects`);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new ImgportError('IO_ERROR', `cannot download ${source}: HTTP ${status} redirect to an invalid Location ${JSON.stringify(location)}`);
      }
      if (next.origin !== first.origin || next.protocol !== first.protocol) {
        throw new ImgportError(
          'UNSAFE_PATH',
          `cannot download ${source}: it redirects to ${next.protocol === 'http:' || next.protocol === 'https:' ? next.origin : next.protocol} (${next.href.slice(0, 200)}); imgport follows redirects only within ${first.origin}: give the final URL instead`,
          { where: next.href.slice(0, 200) },
        );
      }
      url = next;
      continue;
    }
    if (status < 200 || status > 299) {
      res.resume();
      throw new ImgportError(status === 404 ? 'NOT_FOUND' : 'IO_ERROR', `cannot download ${source}: HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`);
    }
    const header = res.headers['content-length'];
    const len = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
    return { stream: body(res, source, len, o, deadline), ...(len !== undefined && len > 0 ? { size: len } : {}), label: source };
  }
}

function parseUrl(raw: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ImgportError('BAD_REQUEST', `${JSON.stringify(source)} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ImgportError('BAD_REQUEST', `${source}: only http:// and https:// URLs can be imported`);
  return url;
}

/** One request; resolves with the response headers, or fails with a message naming the phase. */
function get(url: URL, source: string, signal: AbortSignal | undefined, o: Resolved, deadline: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const fail = (message: string, cause?: unknown) => {
      clearTimeout(timer);
      req.destroy();
      reject(new ImgportError('IO_ERROR', `cannot download ${source}: ${message}`, { cause }));
    };
    const req = requestFor(url)(url, { method: 'GET', headers: { 'user-agent': 'imgport' }, ...(signal ? { signal } : {}) });
    let connected = false;
    let timer = setTimeout(() => fail(`no connection to ${url.host} within ${o.connectMs / 1000} s`), Math.min(o.connectMs, deadline - Date.now()));
    req.on('socket', (sock) => {
      const ready = () => {
        connected = true;
        clearTimeout(timer);
        timer = setTimeout(() => fail(`${url.host} sent no response within ${o.idleMs / 1000} s`), Math.min(o.idleMs, deadline - Date.now()));
      };
      // A reused socket is already connected; a new one connects (TLS: handshakes) first.
      if (!sock.connecting && (url.protocol !== 'https:' || (sock as { encrypted?: boolean }).encrypted)) ready();
      else sock.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', ready);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (signal?.aborted) {
        clearTimeout(timer);
        reject(new ImgportError('CANCELLED', `download of ${source} cancelled`, { cause: err }));
        return;
      }
      fail(`${connected ? '' : `cannot connect to ${url.host}: `}${err.code ?? ''}${err.code ? ' ' : ''}${err.message}`.trim(), err);
    });
    req.end();
  });
}

/** The response body with idle and total timeouts and a Content-Length check at the end. */
function body(res: IncomingMessage, source: string, expected: number | undefined, o: Resolved, deadline: number): Readable {
  let received = 0;
  let idle: NodeJS.Timeout | undefined;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      received += chunk.length;
      arm();
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      stop();
      if (expected !== undefined && received < expected) cb(short());
      else cb();
    },
    destroy(err, cb) {
      stop();
      res.destroy();
      cb(err);
    },
  });
  const short = () =>
    new ImgportError('IO_ERROR', `download of ${source} ended after ${received} of the ${expected} bytes its Content-Length announced: the server or the network broke off; try again`);
  const total = setTimeout(() => out.destroy(new ImgportError('IO_ERROR', `download of ${source} took longer than ${o.totalMs / 1000} s: stopped`)), Math.max(0, deadline - Date.now()));
  function arm(): void {
    clearTimeout(idle);
    idle = setTimeout(() => out.destroy(new ImgportError('IO_ERROR', `download of ${source} stalled: no data for ${o.idleMs / 1000} s (after ${received} bytes)`)), o.idleMs);
  }
  function stop(): void {
    clearTimeout(idle);
    clearTimeout(total);
  }
  arm();
  // A connection closed before Content-Length bytes arrived: "aborted" from node:http.
  res.on('aborted', () => out.destroy(short()));
  res.on('error', (err: NodeJS.ErrnoException) => out.destroy(expected !== undefined && received < expected ? short() : new ImgportError('IO_ERROR', `download of ${source} failed after ${received} bytes: ${err.message}`, { cause: err })));
  res.pipe(out);
  return out;
}
