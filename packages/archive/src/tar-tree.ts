/**
 * Turns tar-stream headers into tree-writer entries, including extended attributes from pax
 * records. tar-stream decodes pax values as UTF-8 text, so a binary value (for example
 * security.capability) in a SCHILY.xattr.* record arrives corrupted: such values are detected
 * and dropped. LIBARCHIVE.xattr.* records carry base64 and survive intact.
 */
import type { Header } from 'tar-stream';
import type { EntryType, TreeEntry } from './types.js';

const TYPES: Partial<Record<string, EntryType>> = {
  file: 'file',
  'contiguous-file': 'file',
  link: 'hardlink',
  symlink: 'symlink',
  directory: 'dir',
  'character-device': 'chardev',
  'block-device': 'blockdev',
  fifo: 'fifo',
};

/** tar-stream puts the entry's pax records on the header as text (`pax`). */
type PaxHeader = Omit<Partial<Header>, 'pax'> & { name: string; pax?: unknown };

/** The entry for a tar header, or a reason to skip it. */
export function tarEntry(h: PaxHeader, drop: (reason: string) => void): TreeEntry | undefined {
  const type = h.type ? TYPES[h.type] : 'file';
  if (!type) {
    drop(`tar entries of type ${h.type} skipped`);
    return undefined;
  }
  const t: TreeEntry = {
    path: h.name,
    type,
    mode: (h.mode ?? 0o644) & 0o7777,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    mtime: h.mtime ? Math.floor(h.mtime.getTime() / 1000) : 0,
    size: type === 'file' ? (h.size ?? 0) : 0,
  };
  if (h.linkname) t.linkname = h.linkname;
  if (type === 'chardev' || type === 'blockdev') {
    t.devmajor = h.devmajor ?? 0;
    t.devminor = h.devminor ?? 0;
  }
  const xattrs = h.pax ? paxXattrs(h.pax as Record<string, string>, drop) : undefined;
  if (xattrs) t.xattrs = xattrs;
  return t;
}

/** Extended attributes from pax records: SCHILY.xattr.NAME (text) and LIBARCHIVE.xattr.NAME (base64). */
export function paxXattrs(pax: Record<string, string>, drop: (reason: string) => void): Record<string, Buffer> | undefined {
  const out: Record<string, Buffer> = {};
  let any = false;
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith('LIBARCHIVE.xattr.')) {
      const name = safeDecodeName(key.slice('LIBARCHIVE.xattr.'.length));
      out[name] = Buffer.from(value, 'base64');
      any = true;
    } else if (key.startsWith('SCHILY.xattr.')) {
      const name = key.slice('SCHILY.xattr.'.length);
      if (`LIBARCHIVE.xattr.${name}` in pax) continue; // the binary-safe copy wins
      if (value.includes('\uFFFD')) {
        // Not valid UTF-8 in the archive: tar-stream already replaced the bytes.
        drop(`xattr ${name} dropped: binary pax value cannot be read intact`);
        continue;
      }
      out[name] = Buffer.from(value, 'utf8');
      any = true;
    }
  }
  return any ? out : undefined;
}

/** libarchive percent-encodes xattr names in pax keys. */
function safeDecodeName(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}
