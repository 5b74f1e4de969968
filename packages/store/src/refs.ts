/**
 * Refs: `<store>/refs/<image>/<stamp>.json`, one per snapshot, written to a temp name and
 * renamed (absent or complete). A ref names the tree file and the rows document (both objects)
 * and carries what an admin asks about a snapshot: label, parent, signer, pinned.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImgportError } from '@imgport/runtime';
import { isDigest } from './objects.js';

export interface StoreRef {
  version: 1;
  /** `<image>@<stamp>` */
  id: string;
  image: string;
  stamp: string;
  label?: string;
  /** The snapshot this one was hashed against (its digests reused), when any. */
  parent?: string;
  /** The fingerprint (`SHA256:…`) of the key that signed it; null when unsigned. */
  signer: string | null;
  /** The armored SSHSIG over the ref's statement (the engine's store-signing.ts); absent when unsigned. */
  sig?: string;
  pinned: boolean;
  createdAt: string;
  /** Object: the gzip NDJSON tree file; with `base`, a patch of that full tree (patch.ts). */
  tree: string;
  base?: string;
  /** Object: the canonical JSON rows document. */
  rows: string;
  /** The paths (relative to the install root) this snapshot covers, present or not. */
  roots: string[];
  /** `links`: entries that are hardlinks of an earlier path (absent in refs of earlier versions). */
  stats: { entries: number; files: number; bytes: number; hashed: number; reused: number; added: number; links?: number };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const STAMP = /^\d{8}T\d{6}Z(?:-[1-9]\d{0,5})?$/;

export class RefStore {
  readonly dir: string;

  constructor(storeRoot: string) {
    this.dir = join(storeRoot, 'refs');
  }

  /** The ref's file. */
  file(image: string, stamp: string): string {
    return this.path(image, stamp);
  }

  private path(image: string, stamp: string): string {
    if (!NAME.test(image) || !STAMP.test(stamp)) throw new ImgportError('BAD_REQUEST', `invalid snapshot ${image}@${stamp}`);
    return join(this.dir, image, `${stamp}.json`);
  }

  write(ref: StoreRef): void {
    const path = this.path(ref.image, ref.stamp);
    mkdirSync(join(this.dir, ref.image), { recursive: true });
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(ref, null, 2)}\n`, { mode: 0o644 });
    renameSync(tmp, path);
  }

  /** True when a ref of that name exists (readable). */
  exists(image: string, stamp: string): boolean {
    try {
      readFileSync(this.path(image, stamp));
      return true;
    } catch {
      return false;
    }
  }

  read(image: string, stamp: string): StoreRef | undefined {
    let text: string;
    try {
      text = readFileSync(this.path(image, stamp), 'utf8');
    } catch {
      return undefined;
    }
    const ref = JSON.parse(text) as StoreRef;
    if (ref.version !== 1 || !isDigest(ref.tree) || !isDigest(ref.rows) || (ref.base !== undefined && !isDigest(ref.base)) || (ref.sig !== undefined && typeof ref.sig !== 'string')) {
      throw new ImgportError('BUNDLE_INVALID', `snapshot ref ${image}@${stamp} is not a valid store ref`, { where: this.path(image, stamp) });
    }
    return ref;
  }

  remove(image: string, stamp: string): void {
    rmSync(this.path(image, stamp), { force: true });
    try {
      rmdirSync(join(this.dir, image));
    } catch {
      // Other snapshots remain.
    }
  }

  images(): string[] {
    try {
      return readdirSync(this.dir).filter((n) => NAME.test(n)).sort();
    } catch {
      return [];
    }
  }

  /** Every ref (of one image when given), oldest first. */
  list(image?: string): StoreRef[] {
    const out: StoreRef[] = [];
    for (const img of image === undefined ? this.images() : [image]) {
      let names: string[];
      try {
        names = readdirSync(join(this.dir, img));
      } catch {
        continue;
      }
      for (const n of names) {
        const stamp = n.endsWith('.json') ? n.slice(0, -5) : '';
        if (!STAMP.test(stamp)) continue;
        const ref = this.read(img, stamp);
        if (ref) out.push(ref);
      }
    }
    return out.sort(compareRefs);
  }
}

/** Oldest first: stamp, then same-second suffix, then image. */
export function compareRefs(a: { stamp: string; image: string }, b: { stamp: string; image: string }): number {
  const [sa = '', na = '0'] = a.stamp.split('-');
  const [sb = '', nb = '0'] = b.stamp.split('-');
  if (sa !== sb) return sa < sb ? -1 : 1;
  if (na !== nb) return Number(na) - Number(nb);
  return a.image < b.image ? -1 : a.image > b.image ? 1 : 0;
}
