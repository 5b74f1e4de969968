/**
 * The snapshot store on disk: `<dataDir>/snapshots/<image>/<stamp>.tgz` and, written once the
 * bundle is complete, `<stamp>.json` (the sidecar). A bundle without a sidecar is an
 * interrupted snapshot. Ids are `<image>@<stamp>` and are parsed strictly before any path is
 * built from them.
 */
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidImageName } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import type { SnapshotInfo } from '../types.js';

/** `20261126T061502Z`, with `-N` when several land in the same second. */
const STAMP = /^(\d{8}T\d{6}Z)(?:-([1-9]\d{0,5}))?$/;

export interface SnapshotRef {
  image: string;
  stamp: string;
}

export interface Sidecar {
  image: string;
  timestamp: string;
  label?: string;
  sha256: string;
  bytes: number;
  createdAt: string;
}

export function utcStamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

export function isStamp(s: string): boolean {
  return STAMP.test(s);
}

export function parseSnapshotId(id: string): SnapshotRef {
  const at = typeof id === 'string' ? id.lastIndexOf('@') : -1;
  const image = at > 0 ? id.slice(0, at) : '';
  const stamp = at > 0 ? id.slice(at + 1) : '';
  if (!isValidImageName(image) || !isStamp(stamp)) {
    const shown = JSON.stringify(String(id).slice(0, 200));
    throw new ImgportError('BAD_REQUEST', `invalid snapshot id ${shown} (expected <image>@<YYYYMMDDTHHMMSSZ>[-N])`, { where: 'snapshot id' });
  }
  return { image, stamp };
}

/** Newest first: by stamp, then by same-second suffix. */
export function compareNewestFirst(a: SnapshotInfo, b: SnapshotInfo): number {
  const [, sa = '', na = '0'] = STAMP.exec(a.timestamp) ?? [];
  const [, sb = '', nb = '0'] = STAMP.exec(b.timestamp) ?? [];
  if (sa !== sb) return sa < sb ? 1 : -1;
  if (na !== nb) return Number(nb) - Number(na);
  return a.image < b.image ? -1 : a.image > b.image ? 1 : 0;
}

export class SnapshotStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'snapshots');
  }

  dir(image: string): string {
    return join(this.root, image);
  }

  bundlePath(ref: SnapshotRef): string {
    return join(this.dir(ref.image), `${ref.stamp}.tgz`);
  }

  private sidecarPath(ref: SnapshotRef): string {
    return join(this.dir(ref.image), `${ref.stamp}.json`);
  }

  /** Written to a temp name and renamed: a sidecar is either absent or complete. */
  async writeSidecar(ref: SnapshotRef, data: Sidecar): Promise<void> {
    const path = this.sidecarPath(ref);
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o644 });
    await rename(temp, path);
  }

  /** The snapshot, or undefined when its sidecar or bundle is missing or unreadable. */
  async read(ref: SnapshotRef): Promise<SnapshotInfo | undefined> {
    let side: Sidecar;
    try {
      side = JSON.parse(await readFile(this.sidecarPath(ref), 'utf8')) as Sidecar;
    } catch {
      return undefined;
    }
    const path = this.bundlePath(ref);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    const info: SnapshotInfo = {
      id: `${ref.image}@${ref.stamp}`,
      image: ref.image,
      timestamp: ref.stamp,
      path,
      bytes: st.size,
      sha256: String(side.sha256),
      createdAt: String(side.createdAt),
    };
    if (typeof side.label === 'string') info.label = side.label;
    return info;
  }

  /** Sidecar first, so a half-removed snapshot is no longer listed. */
  async remove(ref: SnapshotRef): Promise<void> {
    await rm(this.sidecarPath(ref), { force: true });
    await rm(this.bundlePath(ref), { force: true });
  }

  /** Image directories holding snapshots (names that are not image names are ignored). */
  async images(): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    return names.filter((n) => isValidImageName(n)).sort();
  }

  /** Directory entries of one image's snapshot directory. */
  async entries(image: string): Promise<string[]> {
    return readdir(this.dir(image)).catch(() => [] as string[]);
  }
}
