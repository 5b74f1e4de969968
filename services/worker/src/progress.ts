/**
 * Progress at most about once a second (BullMQ's guidance; each report is a Redis write and a
 * database update). The newest value wins; one write at a time; a pending value is written when
 * the second is over.
 */
import type { JobProgress } from '@imgport/engine';

export class ProgressReporter {
  private last = 0;
  private pending: JobProgress | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private stopped = false;

  constructor(
    private readonly write: (p: JobProgress) => Promise<void>,
    private readonly onError: (err: unknown) => void,
    private readonly intervalMs = 1000,
  ) {}

  report(p: JobProgress): void {
    if (this.stopped) return;
    this.pending = p;
    this.schedule();
  }

  /** Drops what is pending: the job's final state carries its own progress. */
  stop(): void {
    this.stopped = true;
    this.pending = undefined;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer || this.writing) return;
    const wait = Math.max(0, this.last + this.intervalMs - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = undefined;
    const p = this.pending;
    if (!p || this.stopped) return;
    this.pending = undefined;
    this.writing = true;
    this.last = Date.now();
    this.write(p)
      .catch(this.onError)
      .finally(() => {
        this.writing = false;
        if (this.pending) this.schedule();
      });
  }
}
