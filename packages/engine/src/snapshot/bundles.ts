/**
 * Snapshots (SPEC §6): native exports kept by the system, listed, fetched, removed and pruned
 * per image. Reverting is an import of the snapshot with `force`; this service hands out the
 * bundle's path (revertSource) and leaves the import to its caller.
 */
import { mkdir, open, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { validateImageName } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import { ExportService } from '../export/service.js';
import { isExportLeftover } from '../export/output.js';
import { compareNewestFirst, isStamp, parseSnapshotId, SnapshotStore, utcStamp, type SnapshotRef } from './bundle-files.js';
import type { EngineDeps, JobProgressFn, SnapshotInfo } from '../types.js';

/** A bundle to import for a revert; `release` removes it once the caller has its own link. */
export interface RevertBundle {
  path: string;
  sha256: string;
  bytes: number;
  release(): Promise<void>;
}

export interface SnapshotOptions {
  label?: string;
  signal?: AbortSignal;
  onProgress?: JobProgressFn;
}

/** A bundle without a sidecar, or an export's temp file, this old is a crash's leftover. */
const STALE_MS = 60 * 60 * 1000;

export class SnapshotService {
  private readonly store: SnapshotStore;
  private readonly exporter: ExportService;
  private readonly now: () => Date;

  constructor(deps: EngineDeps & { exporter?: ExportService; now?: () => Date }) {
    this.store = new SnapshotStore(deps.dataDir);
    this.exporter = deps.exporter ?? new ExportService(deps);
    this.now = deps.now ?? (() => new Date());
  }

  async create(image: string, opts: SnapshotOptions = {}): Promise<SnapshotInfo> {
    validateImageName(image, 'image', 'BAD_REQUEST');
    await this.sweep(image).catch(() => undefined);
    const ref = await this.reserve(image);
    const path = this.store.bundlePath(ref);
    try {
      const res = await this.exporter.run(image, {
        destination: path,
        format: 'native',
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      const createdAt = this.now().toISOString();
      const label = opts.label === undefined ? {} : { label: opts.label };
      await this.store.writeSidecar(ref, { image, timestamp: ref.stamp, ...label, sha256: res.sha256, bytes: res.bytes, createdAt });
      const signer = res.signer ? { signer: res.signer } : {};
      return { id: `${image}@${ref.stamp}`, image, timestamp: ref.stamp, ...label, path, bytes: res.bytes, sha256: res.sha256, createdAt, ...signer };
    } catch (err) {
      await rm(path, { force: true });
      // An image that could not be snapshotted at all leaves no empty directory behind.
      await rmdir(this.store.dir(image)).catch(() => undefined);
      throw err;
    }
  }

  /** Newest first, across all images unless one is named. Reads only (GET never writes). */
  async list(image?: string): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const img of await this.imagesOf(image)) {
      for (const name of await this.store.entries(img)) {
        const stamp = name.endsWith('.json') ? name.slice(0, -'.json'.length) : '';
        if (!isStamp(stamp)) continue;
        const info = await this.store.read({ image: img, stamp });
        if (info) out.push(info);
      }
    }
    return out.sort(compareNewestFirst);
  }

  /** Removes interrupted snapshots' leftovers older than an hour (create and prune do it too). */
  async sweep(image?: string): Promise<void> {
    for (const img of await this.imagesOf(image)) {
      const names = await this.store.entries(img);
      const have = new Set(names);
      for (const name of names) await this.sweepOne(img, name, have);
    }
  }

  private async imagesOf(image?: string): Promise<string[]> {
    return image === undefined ? this.store.images() : [validateImageName(image, 'image', 'BAD_REQUEST')];
  }

  async get(id: string): Promise<SnapshotInfo> {
    const info = await this.store.read(parseSnapshotId(id));
    if (!info) throw new ImgportError('NOT_FOUND', `snapshot ${id} not found`, { where: id });
    return info;
  }

  async remove(id: string): Promise<void> {
    const info = await this.get(id);
    await this.store.remove({ image: info.image, stamp: info.timestamp });
  }

  /** Keeps the newest `keep` snapshots of each image (of `image` only, when given); returns the removed ones. */
  async prune(keep: number, image?: string): Promise<SnapshotInfo[]> {
    if (!Number.isInteger(keep) || keep < 0) {
      throw new ImgportError('BAD_REQUEST', `prune: keep must be a whole number >= 0, got ${String(keep)}`, { where: 'keep' });
    }
    const seen = new Map<string, number>();
    const removed: SnapshotInfo[] = [];
    await this.sweep(image);
    for (const info of await this.list(image)) {
      const n = (seen.get(info.image) ?? 0) + 1;
      seen.set(info.image, n);
      if (n <= keep) continue;
      await this.store.remove({ image: info.image, stamp: info.timestamp });
      removed.push(info);
    }
    return removed;
  }

  /** The bundle to import with `force` to revert to snapshot `id`. */
  async revertSource(id: string): Promise<string> {
    return (await this.get(id)).path;
  }

  /** The snapshot's bundle as a revert imports it (it stays where it is: release does nothing). */
  async revertBundle(id: string): Promise<RevertBundle> {
    const info = await this.get(id);
    return { path: info.path, sha256: info.sha256, bytes: info.bytes, release: async () => undefined };
  }

  /**
   * Claims `<stamp>.tgz` with an exclusive create, so two snapshots in the same second get
   * `<stamp>` and `<stamp>-1`; the export then renames the finished bundle over the claim.
   */
  private async reserve(image: string): Promise<SnapshotRef> {
    await mkdir(this.store.dir(image), { recursive: true });
    const base = utcStamp(this.now());
    for (let n = 0; n < 1000; n++) {
      const ref = { image, stamp: n === 0 ? base : `${base}-${n}` };
      if (await stat(join(this.store.dir(image), `${ref.stamp}.json`)).catch(() => undefined)) continue;
      try {
        await (await open(this.store.bundlePath(ref), 'wx', 0o644)).close();
        return ref;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new ImgportError('LOCKED', `too many snapshots of ${image} in the second ${base}`);
  }

  /** Removes an interrupted snapshot's bundle or an export's temp file once it is an hour old. */
  private async sweepOne(image: string, name: string, have: ReadonlySet<string>): Promise<void> {
    const orphan = name.endsWith('.tgz') && isStamp(name.slice(0, -4)) && !have.has(`${name.slice(0, -4)}.json`);
    if (!orphan && !isExportLeftover(name)) return;
    const path = join(this.store.dir(image), name);
    const st = await stat(path).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > STALE_MS) await rm(path, { recursive: true, force: true });
  }
}
