/**
 * Fetching catalog files over http(s) or file://: small ones whole, bundles resumably into a
 * `.part` file (Range with If-Range, so a file changed on the server restarts instead of being
 * spliced) or as a stream for an import. Every byte is hashed; the sha256 the signed index
 * names is checked before anything is renamed into place, and a stream holds its last bytes
 * back until the digest matched, so a reader never sees the end of a wrong bundle.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ImgportError } from '@imgport/runtime';
import { chunks, discard, readBody, redact, send, statusError, type HttpOptions } from '../http.js';

export interface FetchContext {
  http?: HttpOptions;
  /** Sent to http(s) catalogs (an imgport API's GET /v1/catalog needs a token). */
  token?: string;
  attempts?: number;
  signal?: AbortSignal;
}

/** A whole small file (index.json, its .sig); undefined when it is not there. */
export async function fetchSmall(url: URL, max: number, ctx: FetchContext): Promise<Buffer | undefined> {
  if (url.protocol === 'file:') {
    const path = fileURLToPath(url);
    const st = await stat(path).catch(() => undefined);
    if (!st) return undefined;
    if (st.size > max) throw new ImgportError('LIMIT_EXCEEDED', `${path} is ${st.size} bytes; at most ${max} are read`);
    return readFile(path);
  }
  const res = await send(url, { ...ctx.http, headers: auth(ctx) });
  const body = await readBody(res, max, redact(url));
  if (res.statusCode === 404) return undefined;
  if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, `GET ${redact(url)}`);
  return body;
}

export interface Expected {
  size: number;
  sha256: string;
}

export interface Fetched {
  bytesFetched: number;
  bytesResumed: number;
}

/**
 * Downloads `url` into `part`, going on from what `part` holds when `resume` (checked again by
 * hashing it), retrying after network failures from where it stopped. Fails CHECKSUM_MISMATCH
 * (the part removed by the caller) when the bytes are not the expected ones.
 */
export async function downloadTo(url: URL, part: string, want: Expected, resume: boolean, ctx: FetchContext & { onBytes?: (done: number) => void; validator?: string; onValidator?: (v: string) => void }): Promise<Fetched> {
  let have = resume ? await stat(part).then((s) => s.size, () => 0) : 0;
  if (have > want.size) have = 0;
  const fh = await open(part, have > 0 ? 'r+' : 'w');
  const hash = createHash('sha256');
  let fetched = 0;
  const resumed = have;
  let validator = resume ? ctx.validator : undefined;
  try {
    await hashFile(part, have, hash);
    for (let attempt = 1; have < want.size; attempt++) {
      try {
        const r = await openRange(url, have, validator, ctx);
        if (r.validator && r.validator !== validator) ctx.onValidator?.(r.validator);
        validator ??= r.validator;
        if (r.start === 0 && have > 0) {
          // The server sent the whole file (it changed, or ignores ranges): start over.
          discardBody(r);
          await fh.truncate(0);
          return await downloadTo(url, part, want, false, ctx);
        }
        for await (const c of r.body) {
          if (have + c.length > want.size) throw new ImgportError('CHECKSUM_MISMATCH', `${redact(url)} is longer than the ${want.size} bytes the catalog lists`);
          await fh.write(c, 0, c.length, have);
          hash.update(c);
          have += c.length;
          fetched += c.length;
          ctx.onBytes?.(have);
        }
      } catch (err) {
        const e = err instanceof ImgportError ? err : new ImgportError('IO_ERROR', (err as Error).message, { cause: err });
        if (!e.retryable || attempt >= (ctx.attempts ?? 6) || ctx.signal?.aborted) throw e;
        await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
      }
    }
    await fh.truncate(want.size);
    await fh.sync();
  } finally {
    await fh.close();
  }
  checkSha(hash, want, redact(url));
  return { bytesFetched: fetched, bytesResumed: resumed };
}

/**
 * The file as a stream, resumed by Range inside one run after a failure, whose last bytes come
 * only after the whole file hashed to `want.sha256`.
 */
export function verifiedStream(url: URL, want: Expected, ctx: FetchContext & { onBytes?: (done: number) => void }): Readable {
  const HOLD = 64 * 1024;
  async function* generate(): AsyncGenerator<Buffer> {
    const hash = createHash('sha256');
    let have = 0;
    let validator: string | undefined;
    let held: Buffer = Buffer.alloc(0);
    for (let attempt = 1; have < want.size || (want.size === 0 && attempt === 1); attempt++) {
      try {
        const r = await openRange(url, have, validator, ctx);
        validator ??= r.validator;
        if (r.start !== have) throw new ImgportError('IO_ERROR', `${redact(url)} changed while it was read; try again`);
        for await (const c of r.body) {
          if (have + c.length > want.size) throw new ImgportError('CHECKSUM_MISMATCH', `${redact(url)} is longer than the ${want.size} bytes the catalog lists`);
          hash.update(c);
          have += c.length;
          ctx.onBytes?.(have);
          held = held.length === 0 ? c : Buffer.concat([held, c]);
          if (held.length > HOLD) {
            yield held.subarray(0, held.length - HOLD);
            held = Buffer.from(held.subarray(held.length - HOLD));
          }
        }
        if (want.size === 0) break;
      } catch (err) {
        const e = err instanceof ImgportError ? err : new ImgportError('IO_ERROR', (err as Error).message, { cause: err });
        if (!e.retryable || attempt >= (ctx.attempts ?? 6) || ctx.signal?.aborted) throw e;
        await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
      }
    }
    checkSha(hash, want, redact(url));
    if (held.length) yield held;
  }
  return Readable.from(generate(), { objectMode: false });
}

function discardBody(r: Ranged): void {
  if (r.res) r.res.destroy();
  else (r.body as unknown as { destroy(): void }).destroy();
}

interface Ranged {
  body: AsyncIterable<Buffer>;
  /** Where the body starts in the file. */
  start: number;
  validator?: string;
  res?: IncomingMessage;
}

async function openRange(url: URL, from: number, validator: string | undefined, ctx: FetchContext): Promise<Ranged> {
  if (url.protocol === 'file:') {
    const path = fileURLToPath(url);
    return { body: createReadStream(path, { start: from, highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>, start: from };
  }
  const headers: Record<string, string> = { ...auth(ctx), ...(from > 0 ? { range: `bytes=${from}-`, ...(validator ? { 'if-range': validator } : {}) } : {}) };
  const res = await send(url, { ...ctx.http, headers });
  const status = res.statusCode ?? 0;
  const v = validatorOf(res);
  if (status === 200) return { body: chunks(res, redact(url)), start: 0, res, ...(v ? { validator: v } : {}) };
  if (status === 206) {
    const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
    if (!m || Number(m[1]) !== from) {
      discard(res);
      throw new ImgportError('IO_ERROR', `${redact(url)}: asked for bytes from ${from}, got ${String(res.headers['content-range'])}`);
    }
    return { body: chunks(res, redact(url)), start: from, res, ...(v ? { validator: v } : {}) };
  }
  discard(res);
  if (status === 416) throw new ImgportError('IO_ERROR', `${redact(url)} has no bytes from ${from} on (HTTP 416): it is shorter than the catalog says`);
  throw statusError(status, `GET ${redact(url)}`);
}

/** A strong ETag, else Last-Modified: what If-Range may carry (RFC 9110 §13.1.5). */
function validatorOf(res: IncomingMessage): string | undefined {
  const etag = res.headers.etag;
  if (typeof etag === 'string' && !etag.startsWith('W/')) return etag;
  const lm = res.headers['last-modified'];
  return typeof lm === 'string' ? lm : undefined;
}

function auth(ctx: FetchContext): Record<string, string> {
  return ctx.token ? { authorization: `Bearer ${ctx.token}` } : {};
}

async function hashFile(path: string, length: number, hash: Hash): Promise<void> {
  if (length === 0) return;
  for await (const c of createReadStream(path, { start: 0, end: length - 1, highWaterMark: 1024 * 1024 })) hash.update(c as Buffer);
}

function checkSha(hash: Hash, want: Expected, where: string): void {
  const got = hash.digest('hex');
  if (got !== want.sha256) throw new ImgportError('CHECKSUM_MISMATCH', `${where} hashes to sha256 ${got}, not the ${want.sha256} the catalog lists; nothing was kept`, { where });
}
