/**
 * cpio "newc" header codec (the SVR4 portable format GNU cpio writes with `-H newc`, and its
 * "crc" variant 070702). Encode/decode only: no streams, no I/O. The layout (cpio(5)):
 *
 *   magic[6] ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor
 *   namesize check      -- thirteen 8-digit hex fields, 110 bytes in all
 *
 * then the NUL-terminated name, padded so header+name is a multiple of 4, then the data,
 * padded to a multiple of 4. A symlink's target is its data. The archive ends with an entry
 * named TRAILER!!!.
 */
import { ImgportError } from '@imgport/runtime';

export const CPIO_HEADER_SIZE = 110;
export const CPIO_MAGIC_NEWC = '070701';
export const CPIO_MAGIC_CRC = '070702';
export const CPIO_TRAILER = 'TRAILER!!!';

export type CpioEntryType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

export interface CpioHeader {
  /** True for the 070702 variant, whose `check` is the byte sum of the data. */
  crc: boolean;
  ino: number;
  /** The full st_mode: file type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  filesize: number;
  devmajor: number;
  devminor: number;
  rdevmajor: number;
  rdevminor: number;
  namesize: number;
  check: number;
}

const S_IFMT = 0o170000;
const TYPE_BY_IFMT = new Map<number, CpioEntryType>([
  [0o100000, 'file'],
  [0o040000, 'dir'],
  [0o120000, 'symlink'],
  [0o020000, 'chardev'],
  [0o060000, 'blockdev'],
  [0o010000, 'fifo'],
  [0o140000, 'socket'],
]);
const IFMT_BY_TYPE = new Map<CpioEntryType, number>([...TYPE_BY_IFMT].map(([k, v]) => [v, k]));

/** The entry type of a st_mode, or undefined for a type cpio does not define. */
export function cpioEntryType(mode: number): CpioEntryType | undefined {
  return TYPE_BY_IFMT.get(mode & S_IFMT);
}

/** st_mode for a type and permission bits (mode & 0o7777). */
export function cpioMode(type: CpioEntryType, perm: number): number {
  return (IFMT_BY_TYPE.get(type) ?? 0) | (perm & 0o7777);
}

/** Bytes of padding after `n` bytes so the next item starts on a 4-byte boundary. */
export function pad4(n: number): number {
  return (4 - (n & 3)) & 3;
}

/** Whether `buf` at `offset` starts with a newc or crc magic (needs 6 bytes). */
export function isCpioNewcMagic(buf: Uint8Array, offset = 0): boolean {
  // "07070" then '1' or '2'
  for (let i = 0; i < 5; i++) if (buf[offset + i] !== '07070'.charCodeAt(i)) return false;
  const last = buf[offset + 5];
  return last === 0x31 || last === 0x32;
}

/** Parses 8 hex digits strictly (no sign, no spaces); -1 if any digit is not hex. */
function hex8(buf: Uint8Array, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) {
    const c = buf[i] ?? 0;
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
    else return -1;
    v = v * 16 + d; // multiplication, not <<: values up to 0xffffffff stay positive
  }
  return v;
}

const FIELDS = [
  'ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize',
  'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check',
] as const;

/**
 * Decodes the 110-byte header at `buf[at]`. `offset` is its position in the archive, for the
 * error message. Throws BUNDLE_INVALID on a bad magic or a non-hex field.
 */
export function decodeCpioHeader(buf: Uint8Array, at = 0, offset = at): CpioHeader {
  if (!isCpioNewcMagic(buf, at)) {
    const seen = Buffer.from(buf.subarray(at, at + 6)).toString('latin1');
    const hint = seen === '070707' ? ' (old portable "odc" format is not supported; use -H newc)' : '';
    throw new ImgportError('BUNDLE_INVALID', `cpio: bad magic ${JSON.stringify(seen)} at offset ${offset}${hint}`, {
      where: `offset ${offset}`,
    });
  }
  const h = { crc: buf[at + 5] === 0x32 } as CpioHeader;
  for (let i = 0; i < FIELDS.length; i++) {
    const v = hex8(buf, at + 6 + i * 8);
    const name = FIELDS[i]!;
    if (v < 0) {
      throw new ImgportError('BUNDLE_INVALID', `cpio: field ${name} is not hex at offset ${offset + 6 + i * 8}`, {
        where: `offset ${offset}`,
      });
    }
    h[name] = v;
  }
  return h;
}

function hexField(v: number, field: string): string {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new ImgportError('UNSUPPORTED', `cpio newc cannot store ${field}=${v} (8 hex digits)`);
  }
  return v.toString(16).toUpperCase().padStart(8, '0');
}

/**
 * Encodes header + name + name padding (everything before the data). `namesize` and, unless
 * `crc` is set, `check` are computed here.
 */
export function encodeCpioHeader(h: Omit<CpioHeader, 'namesize' | 'check' | 'crc'> & { crc?: boolean; check?: number }, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const namesize = nameBytes.length + 1;
  const values: Record<(typeof FIELDS)[number], number> = { ...h, namesize, check: h.crc ? (h.check ?? 0) : 0 };
  let text = h.crc ? CPIO_MAGIC_CRC : CPIO_MAGIC_NEWC;
  for (const f of FIELDS) text += hexField(values[f], f);
  const total = CPIO_HEADER_SIZE + namesize;
  const out = Buffer.alloc(total + pad4(total));
  out.write(text, 0, 'latin1');
  nameBytes.copy(out, CPIO_HEADER_SIZE);
  return out;
}
