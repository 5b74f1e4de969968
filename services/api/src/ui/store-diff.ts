/**
 * The console's diff view over the deduplicated store: a store snapshot compared with the one
 * before it. A pair the store cannot compare (an old .tgz snapshot) gives no diff, and the page
 * says so.
 */
import type { SnapshotInfo, StoreSnapshots } from '@imgport/engine';
import type { SnapshotDiff, SnapshotDiffPort } from './diff.js';

/** Paths listed per kind at the most: a page, not a dump (`imgport diff` gives them all). */
const LIMIT = 2000;

export function storeDiffPort(store: Pick<StoreSnapshots, 'diff'>): SnapshotDiffPort {
  return {
    async diff(previous: SnapshotInfo, current: SnapshotInfo): Promise<SnapshotDiff> {
      // The store throws for ids it does not hold; the page turns that into "not available".
      const result = await store.diff(previous.id, current.id, { limit: LIMIT });
      const of = (status: 'added' | 'removed' | 'changed') => result.changes.filter((c) => c.status === status).map((c) => c.path);
      return {
        added: of('added'),
        removed: of('removed'),
        changed: of('changed'),
        rows: result.rows.fields.map((f) => ({ column: `${f.table}.${f.column}`, before: f.from, after: f.to })),
      };
    },
  };
}
