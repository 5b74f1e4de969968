/**
 * A whole-tree listing for comparing expanded trees in tests (ours, GNU cpio's, the source):
 * every entry's type, mode, owner, size, mtime, link target, content hash and link count.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { statType } from './pack-tree.js';

export interface ListingEntry {
  type: string;
  mode: string;
  owner: string;
  mtime: number;
  size?: number;
  sha256?: string;
  nlink?: number;
  target?: string;
  rdev?: number;
}

export interface ListingOptions {
  /** Leave out directory mtimes (tools differ on whether they restore them). */
  dirMtimes?: boolean;
  /** Leave out the root directory's own metadata. */
  root?: boolean;
}

export function treeListing(dir: string, opts: ListingOptions = {}): Record<string, ListingEntry> {
  const out: Record<string, ListingEntry> = {};
  const visit = (rel: string): void => {
    const full = rel === '.' ? dir : `${dir}/${rel}`;
    const st = fs.lstatSync(full);
    const e: ListingEntry = {
      type: statType(st) ?? 'other',
      mode: (st.mode & 0o7777).toString(8),
      owner: `${st.uid}:${st.gid}`,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    if (st.isFile()) {
      Object.assign(e, { size: st.size, nlink: st.nlink, sha256: createHash('sha256').update(fs.readFileSync(full)).digest('hex') });
    }
    if (st.isSymbolicLink()) e.target = fs.readlinkSync(full);
    if (st.isCharacterDevice() || st.isBlockDevice()) e.rdev = st.rdev;
    if (st.isSymbolicLink()) delete (e as { mode?: string }).mode; // meaningless on Linux
    if (st.isDirectory() && opts.dirMtimes === false) delete (e as { mtime?: number }).mtime;
    if (rel !== '.' || opts.root !== false) out[rel] = e;
    if (st.isDirectory()) for (const name of fs.readdirSync(full).sort()) visit(rel === '.' ? name : `${rel}/${name}`);
  };
  visit('.');
  return out;
}

