/** Numbers as an operator reads them. */
import type { JobStatus } from '@imgport/jobs';

export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Time left at the average rate since the job was created; undefined while it cannot be told. */
export function eta(st: JobStatus): string | undefined {
  const { bytesDone, bytesTotal } = st.progress;
  if (st.state !== 'running' || !(bytesDone > 0) || !(bytesTotal > bytesDone)) return undefined;
  const spent = Date.parse(st.updatedAt) - Date.parse(st.createdAt);
  if (!(spent > 0)) return undefined;
  return duration(((bytesTotal - bytesDone) * spent) / bytesDone);
}

/** 20261126T061502Z → 2026-11-26 06:15:02 UTC */
export function stamp(s: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})/.exec(s);
  return m ? `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]} UTC` : s;
}

export function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}
