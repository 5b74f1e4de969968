/**
 * A pure ustar header codec for the bundles a pull rebuilds from an artifact's layers. Every
 * header is one 512-byte block (sizes over 8 GiB in GNU base-256, long names split into
 * prefix and name), so where each member lies in the file is known before a byte is fetched:
 * that is what lets an interrupted pull resume inside a member.
 */
import { ImgportError } from '@imgport/runtime';

export const BLOCK = 512;
/** Two zero blocks end a tar archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** A regular file's header. */
export function tarHeader(name: string, size: number, mode = 0o644, mtime = 0): Buffer {
  const h = Buffer.alloc(BLOCK);
  const [prefix, base] = splitName(name);
  h.write(base, 0, 100, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  if (size < 0o77777777777) octal(h, 124, 12, size);
  else base256(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.fill(' ', 148, 156);
  h.write('0', 156, 1, 'latin1');
  h.write('ustar\0', 257, 6, 'latin1');
  h.write('00', 263, 2, 'latin1');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

export interface TarSlot {
  name: string;
  size: number;
  /** Offset of the header; the data follows one block later. */
  header: number;
  data: number;
  /** Offset just past the padding: the next header. */
  end: number;
}

/** Where each member lies in the rebuilt archive, and the archive's total size. */
export function tarLayout(members: ReadonlyArray<{ name: string; size: number }>): { slots: TarSlot[]; total: number } {
  let at = 0;
  const slots = members.map((m) => {
    const slot = { name: m.name, size: m.size, header: at, data: at + BLOCK, end: at + BLOCK + m.size + padding(m.size) };
    at = slot.end;
    return slot;
  });
  return { slots, total: at + TAR_END.length };
}

function splitName(name: string): [string, string] {
  if (Buffer.byteLength(name) <= 100) return ['', name];
  for (let i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const base = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(base) <= 100) return [prefix, base];
  }
  throw new ImgportError('BUNDLE_INVALID', `member name "${name.slice(0, 120)}" is too long for a tar header`, { where: name });
}

function octal(h: Buffer, at: number, len: number, value: number): void {
  h.write(`${value.toString(8).padStart(len - 1, '0')}\0`, at, len, 'latin1');
}

function base256(h: Buffer, at: number, len: number, value: number): void {
  let v = BigInt(value);
  for (let i = len - 1; i > 0; i--) {
    h[at + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  h[at] = 0x80;
}
