import type { JobProgress } from '@imgport/engine';
import { formatBytes } from './units.js';

/** What the bar needs from a stream: process.stderr, or a fake one in tests. */
export interface BarStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): boolean;
}

export interface ProgressBar {
  update(p: JobProgress): void;
  /** Erases the bar; call before printing the summary or an error. */
  done(): void;
}

/** A terminal redraws fine at this rate; faster only costs CPU on big imports. */
const REDRAW_MS = 100;
const CLEAR_LINE = '\r\x1b[2K';

const noBar: ProgressBar = { update: () => {}, done: () => {} };

/**
 * A one-line progress bar on a TTY: phase, percent, bytes and rate, redrawn at most ten times a
 * second and erased at the end. Anything that is not a terminal (pipes, CI logs) gets nothing.
 */
export function createProgressBar(stream: BarStream, opts: { enabled: boolean; now?: () => number }): ProgressBar {
  if (!opts.enabled || !stream.isTTY) return noBar;
  const now = opts.now ?? Date.now;
  const started = now();
  let lastDraw = -Infinity;
  let drawn = false;
  return {
    update(p) {
      const t = now();
      if (t - lastDraw < REDRAW_MS) return;
      lastDraw = t;
      drawn = true;
      stream.write(CLEAR_LINE + renderBar(p, (t - started) / 1000, stream.columns || 80));
    },
    done() {
      if (drawn) stream.write(CLEAR_LINE);
      drawn = false;
    },
  };
}

/** `stage    [########------------]  40%  12.0 MiB / 30.0 MiB  4.0 MiB/s`, fitted to the width. */
export function renderBar(p: JobProgress, elapsedSec: number, columns: number): string {
  const pct = Math.max(0, Math.min(100, Math.round(p.percent)));
  const bytes = p.bytesTotal > 0 ? `${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}` : formatBytes(p.bytesDone);
  const rate = elapsedSec > 0 ? `${formatBytes(p.bytesDone / elapsedSec)}/s` : '';
  const tail = `${String(pct).padStart(3)}%  ${bytes}  ${rate}`.trimEnd();
  const head = p.phase.padEnd(8);
  // A fixed bar width (room kept for the longest tail) so the line does not jitter as numbers grow.
  const width = Math.min(30, columns - 56);
  if (width < 5) return `${head} ${tail}`.slice(0, Math.max(0, columns - 1));
  const full = Math.round((pct / 100) * width);
  return `${head} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${tail}`;
}
