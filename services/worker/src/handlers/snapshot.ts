/**
 * The parent of a bulk snapshot. BullMQ runs it once every child has ended (its children are
 * added with ignoreDependencyOnFailure, so a failed child does not block it): it collects the
 * children's snapshots and failures. It fails only when no image could be snapshotted.
 */
import type { SnapshotInfo } from '@imgport/engine';
import { childJobId, parseFailedReason, type ResultOf } from '@imgport/jobs';
import { ImgportError, type ErrorCode } from '@imgport/runtime';
import type { JobHandler } from '../context.js';

type Failure = ResultOf['snapshot']['failed'][number];

export const snapshotHandler: JobHandler<'snapshot'> = {
  async run(payload, ctx) {
    const values = byJobId(await ctx.job.getChildrenValues<SnapshotInfo>());
    const failures = byJobId(await ctx.job.getIgnoredChildrenFailures());
    const snapshots: SnapshotInfo[] = [];
    const failed: Failure[] = [];
    payload.images.forEach((image, i) => {
      const id = childJobId(String(ctx.job.id), i);
      const value = values.get(id);
      const reason = failures.get(id);
      if (value) snapshots.push(value);
      else failed.push({ image, error: reason === undefined ? { code: 'CANCELLED', message: 'cancelled before it ran' } : parseFailedReason(reason) });
    });
    if (failed.length > 0) ctx.log.warn({ failed }, `${failed.length} of ${payload.images.length} snapshots failed`);
    if (snapshots.length === 0 && failed[0]) {
      const list = failed.map((f) => `${f.image}: ${f.error.code}: ${f.error.message}`).join('; ');
      throw new ImgportError(failed[0].error.code as ErrorCode, `every snapshot failed: ${list}`);
    }
    return { snapshots, failed };
  },
};

/** BullMQ keys children by `<prefix>:<queue>:<job id>`; ids have no `:`. */
function byJobId<T>(byKey: Record<string, T>): Map<string, T> {
  return new Map(Object.entries(byKey).map(([key, v]) => [key.slice(key.lastIndexOf(':') + 1), v]));
}
