/**
 * Progress for exports and snapshots: a phase change or a forced report always goes out,
 * otherwise at most one every 250 ms (the packers report every chunk; the job layer wants a
 * few updates a second at most).
 */
import type { JobProgress, JobProgressFn } from '../types.js';

export type Reporter = (phase: JobProgress['phase'], bytesDone: number, bytesTotal: number, force?: boolean) => void;

const INTERVAL_MS = 250;

export function throttled(onProgress?: JobProgressFn): Reporter {
  if (!onProgress) return () => undefined;
  let last = 0;
  let lastPhase: JobProgress['phase'] | undefined;
  return (phase, bytesDone, bytesTotal, force = false) => {
    const now = Date.now();
    if (!force && phase === lastPhase && now - last < INTERVAL_MS) return;
    last = now;
    lastPhase = phase;
    const percent = bytesTotal > 0 ? Math.min(100, Math.floor((bytesDone / bytesTotal) * 100)) : phase === 'done' ? 100 : 0;
    onProgress({ phase, percent, bytesDone, bytesTotal });
  };
}
