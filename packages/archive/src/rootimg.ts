/**
 * Expanding a root image (SPEC §2, §4): rootimg.gz / .cpio.gz / .cpio.xz / .tar.gz / .tar.xz
 * and statelite's rootimgtree.gz, into a fresh directory. Compression and container are
 * recognised by content. One pass: the input, its inflate and the writes overlap, and every
 * stage respects backpressure, so memory stays flat whatever the size.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ImgportError, toImgportError } from '@imgport/runtime';
import { chunksOf, decompressError, decompressed, detectCompression, peek } from './decompress.js';
import type { CompressedCounter } from './decompress.js';
import { expandCpio, expandTar, sniffContainer } from './rootimg-containers.js';
import { loadXattr } from './tree-fs.js';
import type { ExpandBudget } from './expand-meter.js';
import { TreeWriter } from './tree-writer.js';
import { DEFAULT_LIMITS } from './types.js';
import type { ExpandReport, Limits, ProgressFn } from './types.js';

export type RootImageKind = 'cpio.gz' | 'cpio.xz' | 'tar.gz' | 'tar.xz' | 'sfs' | 'rootimgtree';

const KINDS: Record<string, RootImageKind> = {
  'rootimg.gz': 'cpio.gz', // legacy name: gzip of a cpio newc archive
  'rootimg.cpio.gz': 'cpio.gz',
  'rootimg.cpio.xz': 'cpio.xz',
  'rootimg.tar.gz': 'tar.gz',
  'rootimg.tar.xz': 'tar.xz',
  'rootimg.sfs': 'sfs', // squashfs: kept as a file, never expanded
  'rootimgtree.gz': 'rootimgtree', // statelite: gzip cpio whose entries start with rootimg/
};

/** Which root image a bundle member is, by the names of SPEC §2; undefined if none. */
export function rootImageKind(fileName: string): RootImageKind | undefined {
  return KINDS[fileName.slice(fileName.lastIndexOf('/') + 1)];
}

export interface ExpandOptions {
  limits?: Partial<Limits>;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
  /** Leading directory of every member to remove: 'rootimg/' for rootimgtree.gz. */
  stripPrefix?: string;
  /** The whole bundle's budget when the root image is one of its members. */
  budget?: ExpandBudget;
  /** Tests only: act as if not root (ownership and device nodes are then reported, not kept). */
  isRoot?: boolean;
}

/**
 * A root image a program is inflating already, reading it from a pipe (reader.ts feeds one from
 * the bundle): its output, and the compressed bytes handed to it so far.
 */
export interface Inflating {
  stream: Readable;
  fed: () => number;
  consumed: () => number;
  /**
   * Set when the stream's chunks are lent (lent-pipe.ts): each is handed back here once the
   * parser is done with it, and what outlives that is copied.
   */
  give?: (chunk: Buffer) => void;
}

/**
 * Expands `input` (the root image, or its inflated bytes) into `destDir`, which must not exist
 * or be empty. On any failure what was written is removed (destDir is left as it was) and the
 * error is rethrown as ImgportError.
 */
export async function expandRootImage(input: Readable | Inflating, destDir: string, opts: ExpandOptions = {}): Promise<ExpandReport> {
  const dest = path.resolve(destDir);
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  checkAborted(opts.signal);
  const created = prepareDestination(dest);
  const inflating = 'fed' in input ? input : undefined;
  const counter: CompressedCounter = inflating ? { bytesIn: 0, consumed: inflating.consumed } : { bytesIn: 0 };
  const writer = new TreeWriter(dest, {
    limits,
    stripPrefix: opts.stripPrefix,
    isRoot: opts.isRoot,
    xattr: loadXattr,
    compressedBytes: () => counter.consumed?.() ?? counter.bytesIn,
    readBytes: () => inflating?.fed() ?? counter.bytesIn,
    onProgress: opts.onProgress,
    budget: opts.budget,
  });
  const source = inflating ? inflating.stream : (input as Readable);
  let stream: Readable | undefined;
  const onAbort = (): void => {
    const err = cancelled();
    if (stream) stream.destroy(err);
    else source.destroy(err);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    stream = inflating ? source : decompressed(source, detectCompression(await peek(source, 6)), counter, 512 * 1024, { igzip: true });
    const give = inflating?.give;
    const sniffed = await sniffContainer(chunksOf(stream, give));
    // The cpio parser copies what it keeps; tar-stream keeps the chunks themselves.
    if (sniffed.kind === 'cpio') await expandCpio(sniffed.chunks, writer, limits, opts.signal);
    else await expandTar(give ? copies(sniffed.chunks) : sniffed.chunks, writer, opts.signal);
    checkAborted(opts.signal);
    return await writer.finish();
  } catch (err) {
    await writer.abort();
    stream?.destroy();
    source.destroy();
    removeWritten(dest, created);
    throw opts.signal?.aborted ? cancelled() : toImgportError(decompressError(err));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

async function* copies(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const c of chunks) yield Buffer.from(c);
}

/** Creates destDir (and missing parents) or checks it is empty; returns the first dir created. */
function prepareDestination(dest: string): string | undefined {
  const first = fs.mkdirSync(dest, { recursive: true });
  if (first === undefined && fs.readdirSync(dest).length > 0) {
    throw new ImgportError('BAD_REQUEST', `expansion needs a fresh directory: ${path.basename(dest)} is not empty`, { where: dest });
  }
  return first;
}

/** Leaves the destination as it was: removes what we created, or empties the dir we were given. */
function removeWritten(dest: string, created: string | undefined): void {
  if (created !== undefined) {
    fs.rmSync(created, { recursive: true, force: true });
    return;
  }
  for (const name of fs.readdirSync(dest)) fs.rmSync(path.join(dest, name), { recursive: true, force: true });
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelled();
}

function cancelled(): ImgportError {
  return new ImgportError('CANCELLED', 'root image expansion cancelled');
}
