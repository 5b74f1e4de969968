/** fs-xattr is an optional native module: without it xattrs are neither read nor written (and callers say so). */
import { createRequire } from 'node:module';

interface XattrModule {
  listAttributesSync(path: string): string[];
  getAttributeSync(path: string, name: string): Buffer;
  setAttributeSync(path: string, name: string, value: Buffer): void;
  removeAttributeSync(path: string, name: string): void;
}

let mod: XattrModule | null | undefined;

export function xattrs(): XattrModule | null {
  if (mod === undefined) {
    try {
      mod = createRequire(import.meta.url)('fs-xattr') as XattrModule;
    } catch {
      mod = null;
    }
  }
  return mod;
}

/** The xattrs of a file or directory (never through a symlink), values base64; undefined when none. */
export function readXattrs(path: string): Record<string, string> | undefined {
  const x = xattrs();
  if (!x) return undefined;
  let names: string[];
  try {
    names = x.listAttributesSync(path);
  } catch {
    return undefined;
  }
  if (names.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const n of [...names].sort()) {
    try {
      out[n] = x.getAttributeSync(path, n).toString('base64');
    } catch {
      // Vanished or unreadable (a security.* name without privilege): not part of the snapshot.
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function writeXattrs(path: string, attrs: Record<string, string> | undefined): boolean {
  if (!attrs) return true;
  const x = xattrs();
  if (!x) return false;
  for (const [n, v] of Object.entries(attrs)) x.setAttributeSync(path, n, Buffer.from(v, 'base64'));
  return true;
}

/** Makes a file's xattrs exactly `attrs` (those it has beyond them are removed); false when fs-xattr is missing. */
export function replaceXattrs(path: string, attrs: Record<string, string> | undefined): boolean {
  const x = xattrs();
  if (!x) return attrs === undefined;
  const want = attrs ?? {};
  for (const n of x.listAttributesSync(path)) if (!(n in want)) x.removeAttributeSync(path, n);
  for (const [n, v] of Object.entries(want)) x.setAttributeSync(path, n, Buffer.from(v, 'base64'));
  return true;
}
