/**
 * cpio newc encoding of whole entries and the trailer. The caller streams file data itself
 * between `encodeCpioEntry` and `cpioPadding(size)`, so nothing here buffers file contents.
 */
import { CPIO_TRAILER, cpioMode, encodeCpioHeader, pad4 } from './header.js';
import type { CpioEntryType } from './header.js';

export interface CpioWriteEntry {
  name: string;
  type: CpioEntryType;
  /** Permission bits incl. setuid/setgid/sticky; the file type comes from `type`. */
  mode: number;
  uid?: number;
  gid?: number;
  nlink?: number;
  mtime?: number;
  ino?: number;
  /** Bytes of data the caller writes after this header (regular files; 0 for the others). */
  size?: number;
  /** Symlink target: written here as the entry's data. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  rdevmajor?: number;
  rdevminor?: number;
}

const ZEROS = Buffer.alloc(512);

/** Zero bytes that pad `size` bytes of data to a 4-byte boundary. */
export function cpioPadding(size: number): Buffer {
  return ZEROS.subarray(0, pad4(size));
}

/** Header, name and padding; for a symlink also its target and padding. */
export function encodeCpioEntry(e: CpioWriteEntry): Buffer {
  const target = e.type === 'symlink' ? Buffer.from(e.linkname ?? '', 'utf8') : undefined;
  // Any type may be given a size: hostile-archive tests need to write what the format forbids.
  const filesize = target ? target.length : (e.size ?? 0);
  const head = encodeCpioHeader(
    {
      ino: e.ino ?? 0,
      mode: cpioMode(e.type, e.mode),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      nlink: e.nlink ?? (e.type === 'dir' ? 2 : 1),
      mtime: e.mtime ?? 0,
      filesize,
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
      rdevmajor: e.rdevmajor ?? 0,
      rdevminor: e.rdevminor ?? 0,
    },
    e.name,
  );
  return target ? Buffer.concat([head, target, cpioPadding(target.length)]) : head;
}

/** The TRAILER!!! entry; given the archive length so far, also pads to 512 bytes like GNU cpio. */
export function encodeCpioTrailer(offset?: number): Buffer {
  const t = encodeCpioHeader(
    { ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, filesize: 0, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0 },
    CPIO_TRAILER,
  );
  if (offset === undefined) return t;
  const end = offset + t.length;
  const fill = (512 - (end % 512)) % 512;
  return Buffer.concat([t, ZEROS.subarray(0, fill)]);
}

/** A whole archive in memory: for tests and small trees only. */
export function encodeCpioArchive(entries: Array<CpioWriteEntry & { data?: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  let len = 0;
  for (const e of entries) {
    const size = e.data ? e.data.length : e.size;
    const head = encodeCpioEntry(size === undefined ? e : { ...e, size });
    parts.push(head);
    len += head.length;
    if (e.data && e.type !== 'symlink') {
      const pad = cpioPadding(e.data.length);
      parts.push(e.data, pad);
      len += e.data.length + pad.length;
    }
  }
  parts.push(encodeCpioTrailer(len));
  return Buffer.concat(parts);
}
