/**
 * What the snapshot page needs to show a diff between a snapshot and the one before it. A store
 * that can compare snapshots plugs in through AppDeps.snapshotDiff; without one (or when it has
 * nothing for a pair) the page says "diff not available".
 */
import type { SnapshotInfo } from '@imgport/engine';

export interface SnapshotDiff {
  /** Files under the image's directories, by path. */
  added: string[];
  removed: string[];
  changed: string[];
  /** Table rows whose columns changed: `table.column`, old and new value. */
  rows?: Array<{ column: string; before: string | null; after: string | null }>;
}

export interface SnapshotDiffPort {
  /** The difference from `previous` to `current`, or undefined when it cannot be told. */
  diff(previous: SnapshotInfo, current: SnapshotInfo): Promise<SnapshotDiff | undefined>;
}
