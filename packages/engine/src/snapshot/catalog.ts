/**
 * Every snapshot of the system, wherever it is kept: the deduplicated store (where `imgport
 * snapshot` and bulk snapshots write) and the older full `.tgz` bundles. Listings show the
 * store's first; a revert through the services needs a bundle to import with force (SPEC §6),
 * which a store snapshot yields by export.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ImgportError } from '@imgport/runtime';
import type { RevertBundle, SnapshotService } from './bundles.js';

export type { RevertBundle };
import type { StoreSnapshots } from './store.js';
import type { SnapshotInfo } from '../types.js';

export class SnapshotCatalog {
  constructor(
    private readonly bundles: Pick<SnapshotService, 'list' | 'get' | 'remove' | 'revertBundle'>,
    private readonly store: Pick<StoreSnapshots, 'list' | 'find' | 'info' | 'exportBundle'>,
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

  async remove(id: string): Promise<void> {
    if (this.store.find(id)) {
      throw new ImgportError('BAD_REQUEST', `snapshot ${id} is in the deduplicated store: remove store snapshots with a retention policy (imgport store prune) or unpin and prune`, { where: id });
    }
    await this.bundles.remove(id);
  }

  /** The bundle that brings the image back to snapshot `id`. */
  async revertBundle(id: string): Promise<RevertBundle> {
    if (!this.store.find(id)) return this.bundles.revertBundle(id);
    await mkdir(this.scratchDir, { recursive: true, mode: 0o750 });
    const r = await this.store.exportBundle(id, { destination: join(this.scratchDir, `revert-${randomUUID()}.tgz`) });
    return { path: r.path, sha256: r.sha256, bytes: r.bytes, release: () => rm(r.path, { force: true }) };
  }
}
