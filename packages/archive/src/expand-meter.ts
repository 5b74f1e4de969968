/**
 * Counts what an expansion has done against its limits and reports progress. A limit is
 * checked before the work it would allow, so a bomb stops before its bytes reach the disk.
 */
import { ImgportError } from '@imgport/runtime';
import type { Limits, ProgressFn } from './types.js';

/** maxRatio is only judged after this much output: small archives compress wildly. */
const RATIO_GRACE = 64 * 1024 * 1024;
const PROGRESS_ENTRIES = 256;
const PROGRESS_BYTES = 8 * 1024 * 1024;

/**
 * One budget for everything a single untrusted input writes: the outer bundle's members and the
 * root image expanded from one of them share it, so neither can spend what the other left. The
 * ratio is judged against the bytes read from the input as received (compressed).
 */
export class ExpandBudget {
  bytes = 0;
  private readonly read: LowerBound;

  constructor(
    private readonly limits: Pick<Limits, 'maxExpandedBytes' | 'maxRatio'>,
    /** Bytes read from the outer input so far. */
    inputBytes: () => number,
    /** What the input is, for messages: 'the bundle'. */
    private readonly what = 'the bundle',
  ) {
    this.read = new LowerBound(inputBytes);
  }

  /** Counts `n` more bytes written for `name`; throws LIMIT_EXCEEDED before they reach the disk. */
  charge(n: number, name: string): void {
    const bytes = this.bytes + n;
    if (bytes > this.limits.maxExpandedBytes) {
      throw new ImgportError(
        'LIMIT_EXCEEDED',
        `maxExpandedBytes: ${this.what} would write more than ${this.limits.maxExpandedBytes} bytes in all (at "${name}"); raise IMGPORT_MAX_EXPANDED_BYTES if it is genuine`,
        { where: name },
      );
    }
    if (bytes > RATIO_GRACE && bytes / this.read.known > this.limits.maxRatio) {
      // Asked only when the last answer would fail the check (see LowerBound).
      const read = this.read.refresh();
      const ratio = bytes / read;
      if (ratio > this.limits.maxRatio) {
        throw new ImgportError(
          'LIMIT_EXCEEDED',
          `maxRatio: ${this.what} expands ${ratio.toFixed(0)}-fold (${bytes} bytes written from ${read} read, at "${name}"), more than ${this.limits.maxRatio}: a compression bomb or a broken file`,
          { where: name },
        );
      }
    }
    this.bytes = bytes;
  }
}

export class ExpandMeter {
  entries = 0;
  bytes = 0;
  private last = { entries: 0, bytes: 0 };
  private readonly compressed: LowerBound | undefined;

  constructor(
    private readonly limits: Limits,
    /** Compressed bytes inflated so far (a lower bound), for maxRatio. */
    compressedBytes?: () => number,
    private readonly onProgress?: ProgressFn,
    /** The budget of the whole input this expansion is part of (the bundle), if any. */
    private readonly budget?: ExpandBudget,
    /** Compressed bytes read so far, for progress (compressedBytes when absent). */
    private readonly readBytes = compressedBytes,
  ) {
    this.compressed = compressedBytes ? new LowerBound(compressedBytes) : undefined;
  }

  /** One more entry (named for the error). */
  entry(name: string): void {
    if (++this.entries > this.limits.maxEntries) {
      throw new ImgportError('LIMIT_EXCEEDED', `maxEntries: more than ${this.limits.maxEntries} entries (at "${name}")`, { where: name });
    }
  }

  /** Checks that `n` more bytes may be written for `name`; `commit` also counts them. */
  bytesFor(n: number, name: string, commit = true): void {
    const bytes = this.bytes + n;
    if (bytes > this.limits.maxExpandedBytes) {
      throw new ImgportError('LIMIT_EXCEEDED', `maxExpandedBytes: expanding "${name}" would exceed ${this.limits.maxExpandedBytes} bytes`, { where: name });
    }
    if (!commit) return;
    if (bytes > RATIO_GRACE && this.compressed && bytes / this.compressed.known > this.limits.maxRatio) {
      const ratio = bytes / this.compressed.refresh();
      if (ratio > this.limits.maxRatio) {
        throw new ImgportError('LIMIT_EXCEEDED', `maxRatio: expansion ratio ${ratio.toFixed(0)} exceeds ${this.limits.maxRatio} (at "${name}")`, { where: name });
      }
    }
    this.budget?.charge(n, name);
    this.bytes = bytes;
    if (bytes - this.last.bytes >= PROGRESS_BYTES) this.emit();
  }

  /** Called after each entry: reports about every 256 entries. */
  tick(): void {
    if (this.entries - this.last.entries >= PROGRESS_ENTRIES) this.emit();
  }

  emit(): void {
    this.last = { entries: this.entries, bytes: this.bytes };
    this.onProgress?.({ bytesIn: this.readBytes?.() ?? 0, bytesOut: this.bytes, entries: this.entries });
  }
}

/**
 * A count that only grows (bytes read or inflated so far), asked again only when the caller
 * needs a fresher answer. Dividing by an older answer gives a larger ratio, so a check that
 * passes with it passes with the current one too; only a failing check asks (for a program's
 * input the answer comes from /proc, and asking it for every chunk took a twentieth of the
 * main thread's time).
 */
class LowerBound {
  /** The last answer (at least 1, a divisor). */
  known = 1;

  constructor(private readonly ask: () => number) {}

  refresh(): number {
    this.known = Math.max(this.known, this.ask());
    return this.known;
  }
}
