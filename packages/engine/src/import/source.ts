import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ImgportError } from '@imgport/runtime';

/** A bundle to read: a local file or an http(s) URL, streamed, never buffered whole. */
export async function openSource(source: string, signal?: AbortSignal): Promise<{ stream: Readable; size?: number; label: string }> {
  if (/^https?:\/\//i.test(source)) {
    let res: Response;
    try {
      res = await fetch(source, { ...(signal ? { signal } : {}), redirect: 'follow' });
    } catch (err) {
      throw new ImgportError('IO_ERROR', `cannot download ${source}: ${(err as Error).message}`, { cause: err });
    }
    if (!res.ok || !res.body) {
      throw new ImgportError(res.status === 404 ? 'NOT_FOUND' : 'IO_ERROR', `cannot download ${source}: HTTP ${res.status}`);
    }
    const len = Number(res.headers.get('content-length'));
    return { stream: Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), ...(len > 0 ? { size: len } : {}), label: source };
  }
  let size: number;
  try {
    const st = statSync(source);
    if (!st.isFile()) throw new ImgportError('BAD_REQUEST', `${source} is not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof ImgportError) throw err;
    throw new ImgportError('NOT_FOUND', `cannot read bundle ${source}: ${(err as Error).message}`, { cause: err });
  }
  return { stream: createReadStream(source, { highWaterMark: 1024 * 1024 }), size, label: source };
}
