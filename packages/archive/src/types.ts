/** Shared shapes of the archive layer: entries of a root filesystem, limits, progress, reports. */

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'chardev' | 'blockdev' | 'fifo';

/** One member of a root filesystem archive (cpio newc or tar), format-independent. */
export interface TreeEntry {
  /** Relative '/'-separated path as stored in the archive (not yet checked: the writer checks). */
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** Bytes of data that follow for a regular file; 0 otherwise. */
  size: number;
  /** symlink: the target, verbatim. hardlink: the archive path of the earlier entry. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (tar pax SCHILY.xattr.* / LIBARCHIVE.xattr.*), name → raw value. */
  xattrs?: Record<string, Buffer>;
}

/** Limits that stop a hostile or broken archive early (SPEC §9). All configurable. */
export interface Limits {
  /** Bytes read from the outer bundle stream (compressed, as received). */
  maxBundleBytes: number;
  /** Bytes written to disk by one expansion (sum of regular file sizes). */
  maxExpandedBytes: number;
  /** Entries in one archive (bundle members, or root image entries). */
  maxEntries: number;
  /** Length of one relative path, in bytes. */
  maxPathLength: number;
  /** Expanded bytes / compressed bytes, checked once more than 64 MiB have been expanded. */
  maxRatio: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxBundleBytes: 64 * 1024 ** 3,
  maxExpandedBytes: 256 * 1024 ** 3,
  maxEntries: 5_000_000,
  maxPathLength: 4096,
  maxRatio: 200,
};

export interface Progress {
  /** Compressed bytes consumed from the input. */
  bytesIn: number;
  /** Bytes written to disk. */
  bytesOut: number;
  /** Entries processed. */
  entries: number;
}

export type ProgressFn = (p: Progress) => void;

/** What an expansion kept and what it could not. */
export interface ExpandReport {
  entries: number;
  bytes: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  fifos: number;
  /** Human-readable notes on what was dropped (e.g. "ownership not kept: not running as root (1234 entries)"). */
  dropped: string[];
}
