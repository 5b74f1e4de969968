/**
 * The two containers a root image can be: cpio newc (our push parser, synchronous all the
 * way to the disk) and tar (tar-stream). Told apart by content.
 */
import { once } from 'node:events';
import { ImgportError } from '@imgport/runtime';
import { CpioParser, isCpioNewcMagic } from '@imgport/format';
import tarStream from 'tar-stream';
import { CpioToTree } from './cpio-tree.js';
import { tarEntry } from './tar-tree.js';
import type { TreeWriter } from './tree-writer.js';
import type { Limits } from './types.js';

export interface Sniffed {
  kind: 'cpio' | 'tar';
  /** All the decompressed bytes, the sniffed head included. */
  chunks: AsyncIterable<Buffer>;
}

/**
 * Reads enough to see a cpio magic (offset 0) or the ustar magic (offset 257). The chunks may
 * be lent (valid until the next is asked for): the head is made of copies.
 */
export async function sniffContainer(it: AsyncIterator<Buffer>): Promise<Sniffed> {
  const parts: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < 263 && !done) {
    const r = await it.next();
    if (r.done) done = true;
    else {
      parts.push(Buffer.from(r.value));
      len += r.value.length;
    }
  }
  const head = Buffer.concat(parts);
  const chunks = (async function* () {
    if (head.length) yield head;
    if (done) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
  if (isCpioNewcMagic(head)) return { kind: 'cpio', chunks };
  if (head.subarray(257, 262).toString('latin1') === 'ustar') return { kind: 'tar', chunks };
  if (head.length === 0) throw new ImgportError('BUNDLE_INVALID', 'root image is empty');
  const magic = head.subarray(0, 6).toString('latin1');
  const hint = magic === '070707' ? ' (old "odc" cpio format; xCAT writes -H newc)' : '';
  throw new ImgportError('BUNDLE_INVALID', `root image is neither a cpio newc nor a tar archive${hint}`);
}

export async function expandCpio(chunks: AsyncIterable<Buffer>, writer: TreeWriter, limits: Limits, signal?: AbortSignal): Promise<void> {
  const feeder = new CpioToTree(writer, limits.maxEntries);
  // Names are bounded by maxPathLength in the writer (LIMIT_EXCEEDED); this only stops garbage.
  const parser = new CpioParser(feeder, { maxNameSize: Math.max(65536, limits.maxPathLength + 1024) });
  for await (const chunk of chunks) {
    if (signal?.aborted) return;
    parser.push(chunk);
    await writer.drain();
  }
  parser.end();
  feeder.finish();
}

export async function expandTar(chunks: AsyncIterable<Buffer>, writer: TreeWriter, signal?: AbortSignal): Promise<void> {
  const extract = tarStream.extract();
  const drop = (reason: string): void => writer.drop(reason);
  let current: string | undefined;
  const consumed = (async () => {
    for await (const entry of extract) {
      current = entry.header.name;
      const t = tarEntry(entry.header, drop);
      if (t) writer.begin(t);
      for await (const chunk of entry) {
        if (!t) continue;
        writer.write(chunk as Buffer);
        await writer.drain();
      }
      if (t) writer.endEntry();
      current = undefined;
    }
  })().catch((err: unknown) => {
    // tar-stream's own errors (plain Errors without errno) are the archive's fault.
    if (err instanceof Error && !(err instanceof ImgportError) && (err as NodeJS.ErrnoException).code === undefined && /unexpected end of data|invalid tar header/i.test(err.message)) {
      const at = current === undefined ? 'between entries' : `in entry ${JSON.stringify(current.slice(0, 200))}`;
      throw new ImgportError('BUNDLE_INVALID', `tar root image: ${/end of data/i.test(err.message) ? `ends ${at}: it is truncated` : `${err.message} (${at})`}`, { cause: err, ...(current ? { where: current.slice(0, 200) } : {}) });
    }
    throw err;
  });
  let failed = false;
  consumed.catch(() => {
    failed = true;
  });
  try {
    for await (const chunk of chunks) {
      if (signal?.aborted || failed) break;
      if (!extract.write(chunk)) await Promise.race([once(extract, 'drain'), consumed]);
    }
    extract.end(undefined);
    await consumed;
  } finally {
    extract.destroy();
  }
}
