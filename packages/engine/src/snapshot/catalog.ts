/**
 * Every snapshot of the system, wherever it is kept: the deduplicated store (where `imgport
 * snapshot` and bulk snapshots write) and the older full `.tgz` bundles. Listings show the
 * store's first; a revert through the services needs a bundle to import with force (SPEC §6),
 * which a store snapshot yields by export.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RevertBundle, SnapshotService } from './bundles.js';
import type { StoreSnapshots } from './store.js';
import type { SnapshotInfo } from '../types.js';

export type { RevertBundle };

export class SnapshotCatalog {
  constructor(
    private readonly bundles: Pick<SnapshotService, 'list' | 'get' | 'remove' | 'revertBundle' | 'create'>,
    private readonly store: Pick<StoreSnapshots, 'list' | 'find' | 'info' | 'exportBundle' | 'remove' | 'inUse' | 'create'>,
    /** Where a store snapshot's bundle is written for a revert: beside the spool (IMGPORT_DATA), so it can be hard-linked there. */
    private readonly scratchDir: string,
  ) {}

  async list(image?: string): Promise<SnapshotInfo[]> {
    return [...this.store.list(image).map((r) => this.store.info(r)), ...(await this.bundles.list(image))];
  }

  async get(id: string): Promise<SnapshotInfo> {
    const ref = this.store.find(id);
    return ref ? this.store.info(ref) : this.bundles.get(id);
  }

  /** A store snapshot's ref goes at once (its objects at the next collection); a .tgz snapshot's bundle is deleted. */
  async remove(id: string): Promise<void> {
    if (this.store.find(id)) this.store.remove(id);
    else await this.bundles.remove(id);
  }

  /**
   * The snapshot `import --force` takes of the image it replaces: a store snapshot (it costs what
   * changed) once the store is in use, a full .tgz bundle as before otherwise.
   */
  async create(image: string, opts: { label?: string } = {}): Promise<SnapshotInfo> {
    if (this.store.inUse()) return this.store.info(await this.store.create(image, opts));
    return this.bundles.create(image, opts);
  }

  /** The bundle that brings the image back to snapshot `id`. */
  async revertBundle(id: string): Promise<RevertBundle> {
    if (!this.store.find(id)) return this.bundles.revertBundle(id);
    await mkdir(this.scratchDir, { recursive: true, mode: 0o750 });
    const r = await this.store.exportBundle(id, { destination: join(this.scratchDir, `revert-${randomUUID()}.tgz`) });
    return { path: r.path, sha256: r.sha256, bytes: r.bytes, release: () => rm(r.path, { force: true }) };
  }
}
