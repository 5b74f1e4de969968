/**
 * Direct I/O (O_DIRECT): reads and writes of large files that bypass the page cache.
 *
 * An import writes every byte once and reads none of it back, and an export reads files once,
 * yet buffered I/O puts all of it in the page cache: a fresh page per 4 KiB, filled by a copy,
 * and for writes a later writeback by the kernel or the commit's sync. On the management nodes
 * we measured, filling fresh pages cost about 2.5 ms per MiB of CPU, while direct transfers of
 * 512 KiB to 1 MiB ran at 1.5 GB/s and left the CPU free; a 1.4 GB import also stops pushing the node's
 * own cached files out of memory.
 *
 * Direct transfers need the memory, the file offset and the length aligned to the device's
 * block. Bytes go through 512 KiB bounce buffers whose memory is a WebAssembly.Memory (page
 * aligned, unlike Node's buffers), whole blocks at a time. A filesystem that refuses O_DIRECT
 * (EINVAL at the open or at a transfer) is remembered, per thread, under the name the caller
 * gives it, and gets ordinary I/O.
 */
import fs from 'node:fs';

export const BLOCK = 4096;
export const BOUNCE = 512 * 1024;
const WASM_PAGE = 64 * 1024;
export const O_DIRECT = fs.constants.O_DIRECT ?? 0;

/** The one WebAssembly API used here (the project's TypeScript libs do not declare it). */
declare const WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } };

/** Filesystems (as the callers name them) of this thread that refused O_DIRECT: later files do not try. */
export const refused = new Set<string | number>();
const spare: Buffer[] = [];

/** Tests only: bounce buffers this many bytes off alignment, so that direct transfers are refused. */
export const seams = { misalign: 0 };

/** A BOUNCE-byte buffer at an aligned address (a spare one when there is one). */
export function bounce(): Buffer {
  const reused = spare.pop();
  if (reused && reused.byteOffset === seams.misalign) return reused;
  const pages = Math.ceil((BOUNCE + seams.misalign) / WASM_PAGE);
  return Buffer.from(new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer, seams.misalign, BOUNCE);
}

/** Keeps a bounce buffer for the next transfer (a few per thread; the rest go to the collector). */
export function giveBack(b: Buffer | undefined): void {
  if (b && spare.length < 3) spare.push(b);
}
