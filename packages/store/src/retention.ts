/** Which snapshots a retention policy keeps: pinned ones always, the newest N, the newest of each of the last D days and W ISO weeks. */
import type { StoreRef } from './refs.js';

export interface Retention {
  keepLast?: number;
  daily?: number;
  weekly?: number;
}

function day(stamp: string): string {
  return stamp.slice(0, 8);
}

function isoWeek(stamp: string): string {
  const d = new Date(Date.UTC(Number(stamp.slice(0, 4)), Number(stamp.slice(4, 6)) - 1, Number(stamp.slice(6, 8))));
  const dow = (d.getUTCDay() + 6) % 7;
  d.setUTCDate(d.getUTCDate() - dow + 3);
  const year = d.getUTCFullYear();
  const first = new Date(Date.UTC(year, 0, 4));
  const week = 1 + Math.round((d.getTime() - first.getTime()) / 86400000 / 7 - ((first.getUTCDay() + 6) % 7) / 7 + 3 / 7);
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/** The refs of ONE image (any order) to remove under `policy`. */
export function toPrune(refs: readonly StoreRef[], policy: Retention): StoreRef[] {
  const newest = [...refs].sort((a, b) => (a.stamp < b.stamp ? 1 : a.stamp > b.stamp ? -1 : 0));
  const keep = new Set<string>();
  newest.slice(0, policy.keepLast ?? 0).forEach((r) => keep.add(r.id));
  for (const [n, bucket] of [
    [policy.daily ?? 0, day],
    [policy.weekly ?? 0, isoWeek],
  ] as const) {
    const seen = new Set<string>();
    for (const r of newest) {
      const b = bucket(r.stamp);
      if (seen.has(b)) continue;
      if (seen.size >= n) break;
      seen.add(b);
      keep.add(r.id);
    }
  }
  return newest.filter((r) => !r.pinned && !keep.has(r.id));
}
