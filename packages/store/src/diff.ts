/**
 * Diff of two trees by a streaming merge: both come in path order, so one pass with one entry
 * of each side in hand finds what was added, removed and changed, in flat memory.
 */
import { comparePaths, linePath, parseTreeLine, type TreeEntry } from './tree.js';

export type ChangeKind = 'type' | 'content' | 'mode' | 'owner' | 'xattrs' | 'link' | 'device' | 'hardlink' | 'mtime';

export interface TreeChange {
  path: string;
  status: 'added' | 'removed' | 'changed';
  /** For changed entries: what changed. */
  changes?: ChangeKind[];
  /** Short descriptions of the two sides (type, mode, owner, size, link target). */
  from?: EntrySummary;
  to?: EntrySummary;
}

export interface EntrySummary {
  type: string;
  mode: string;
  owner: string;
  size?: number;
  sha256?: string;
  target?: string;
  xattrs?: string[];
}

const TYPE_NAME: Record<string, string> = { f: 'file', d: 'dir', l: 'symlink', c: 'chardev', b: 'blockdev', p: 'fifo', s: 'socket' };

export function summarize(e: TreeEntry): EntrySummary {
  const out: EntrySummary = { type: TYPE_NAME[e.t] ?? e.t, mode: e.m.toString(8).padStart(4, '0'), owner: `${e.u}:${e.g}` };
  if (e.s !== undefined) out.size = e.s;
  if (e.h !== undefined) out.sha256 = e.h;
  if (e.l !== undefined) out.target = e.l;
  if (e.x) out.xattrs = Object.keys(e.x);
  return out;
}

function sameXattrs(a: TreeEntry['x'], b: TreeEntry['x']): boolean {
  const ka = a ? Object.keys(a) : [];
  const kb = b ? Object.keys(b) : [];
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (a![k] !== b?.[k]) return false;
  return true;
}

/** What differs between two entries of the same path (mtime only when nothing else does not count as content). */
export function entryChanges(a: TreeEntry, b: TreeEntry): ChangeKind[] {
  if (a.t !== b.t) return ['type'];
  const out: ChangeKind[] = [];
  if (a.t === 'f' && (a.h !== b.h || a.s !== b.s)) out.push('content');
  if (a.m !== b.m) out.push('mode');
  if (a.u !== b.u || a.g !== b.g) out.push('owner');
  if (!sameXattrs(a.x, b.x)) out.push('xattrs');
  if (a.l !== b.l) out.push('link');
  if (a.r !== b.r) out.push('device');
  if (a.k !== b.k) out.push('hardlink');
  if (a.mt !== b.mt && a.t !== 'd' && a.t !== 'l') out.push('mtime');
  return out;
}

export interface DiffOptions {
  /** Only paths equal to or below one of these (relative, '/'-separated). */
  paths?: readonly string[];
  /** Report mtime-only changes (default false: they are counted in stats only). */
  mtime?: boolean;
}

export interface DiffStats {
  added: number;
  removed: number;
  changed: number;
  mtimeOnly: number;
  bytesAdded: number;
  bytesRemoved: number;
  byKind: Partial<Record<ChangeKind, number>>;
}

function wanted(path: string, filters: readonly string[] | undefined): boolean {
  if (!filters || filters.length === 0) return true;
  return filters.some((f) => path === f || path.startsWith(`${f}/`) || f === '');
}

/** Yields changes in path order; `stats` is complete when the generator ends. */
/** The change between two entries of one path, counted in `stats`; none when only an ignored mtime differs. */
function changedEntry(x: TreeEntry, y: TreeEntry, stats: DiffStats, opts: DiffOptions): TreeChange | undefined {
  const changes = entryChanges(x, y);
  if (changes.length === 0) return undefined;
  if (changes.length === 1 && changes[0] === 'mtime' && !opts.mtime) {
    stats.mtimeOnly++;
    return undefined;
  }
  stats.changed++;
  for (const k of changes) stats.byKind[k] = (stats.byKind[k] ?? 0) + 1;
  if (changes.includes('content')) {
    stats.bytesRemoved += x.s ?? 0;
    stats.bytesAdded += y.s ?? 0;
  }
  return { path: x.p, status: 'changed', changes, from: summarize(x), to: summarize(y) };
}

export async function* diffTrees(a: AsyncIterable<TreeEntry>, b: AsyncIterable<TreeEntry>, stats: DiffStats, opts: DiffOptions = {}): AsyncGenerator<TreeChange> {
  const ia = a[Symbol.asyncIterator]();
  const ib = b[Symbol.asyncIterator]();
  let ea = await ia.next();
  let eb = await ib.next();
  try {
    while (!ea.done || !eb.done) {
      const cmp = ea.done ? 1 : eb.done ? -1 : comparePaths(ea.value.p, eb.value.p);
      if (cmp < 0) {
        const e = ea.value as TreeEntry;
        ea = await ia.next();
        if (!wanted(e.p, opts.paths)) continue;
        stats.removed++;
        stats.bytesRemoved += e.s ?? 0;
        yield { path: e.p, status: 'removed', from: summarize(e) };
      } else if (cmp > 0) {
        const e = eb.value as TreeEntry;
        eb = await ib.next();
        if (!wanted(e.p, opts.paths)) continue;
        stats.added++;
        stats.bytesAdded += e.s ?? 0;
        yield { path: e.p, status: 'added', to: summarize(e) };
      } else {
        const x = ea.value as TreeEntry;
        const y = eb.value as TreeEntry;
        ea = await ia.next();
        eb = await ib.next();
        if (!wanted(x.p, opts.paths)) continue;
        const change = changedEntry(x, y, stats, opts);
        if (change) yield change;
      }
    }
  } finally {
    await ia.return?.(undefined);
    await ib.return?.(undefined);
  }
}

export function emptyDiffStats(): DiffStats {
  return { added: 0, removed: 0, changed: 0, mtimeOnly: 0, bytesAdded: 0, bytesRemoved: 0, byKind: {} };
}

/** A cursor over a tree's raw lines: awaits once per batch, parses a line only when asked. */
export class LineCursor {
  private batch: string[] = [];
  private i = 0;
  private n = 0;
  private done = false;
  private parsed: TreeEntry | undefined;
  private last: string | undefined;
  private readonly it: AsyncIterator<string[]>;

  constructor(
    src: AsyncIterable<string[]>,
    private readonly where: string,
  ) {
    this.it = src[Symbol.asyncIterator]();
  }

  /** Makes line() valid: call (and await) when it says so. */
  get needsFill(): boolean {
    return !this.done && this.i >= this.batch.length;
  }

  async fill(): Promise<void> {
    while (!this.done && this.i >= this.batch.length) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        this.batch = r.value;
        this.i = 0;
      }
    }
  }

  line(): string | undefined {
    while (this.i < this.batch.length && this.batch[this.i] === '') {
      this.i++;
      this.n++;
    }
    return this.i < this.batch.length ? this.batch[this.i] : undefined;
  }

  /** The current line's path, parsed only when it holds an escape. */
  path(): string {
    return this.parsed?.p ?? linePath(this.line()!) ?? this.entry().p;
  }

  entry(): TreeEntry {
    if (!this.parsed) this.parsed = parseTreeLine(this.line()!, this.last, this.where, this.n + 1);
    return this.parsed;
  }

  skip(): void {
    if (this.parsed) this.last = this.parsed.p;
    this.parsed = undefined;
    this.i++;
    this.n++;
  }

  async close(): Promise<void> {
    await this.it.return?.(undefined);
  }
}

/**
 * diffTrees over raw tree lines: a line identical on both sides (same path, content, metadata
 * and stat cache: the common case between two snapshots of one image) is passed over without
 * being parsed. Same results as diffTrees.
 */
export async function* diffTreeLines(a: AsyncIterable<string[]>, b: AsyncIterable<string[]>, stats: DiffStats, opts: DiffOptions = {}): AsyncGenerator<TreeChange> {
  const ca = new LineCursor(a, 'a');
  const cb = new LineCursor(b, 'b');
  try {
    for (;;) {
      if (ca.needsFill) await ca.fill();
      if (cb.needsFill) await cb.fill();
      let la = ca.line();
      let lb = cb.line();
      // The identical stretch, without parsing (refills only at batch ends).
      while (la !== undefined && la === lb) {
        ca.skip();
        cb.skip();
        if (ca.needsFill || cb.needsFill) break;
        la = ca.line();
        lb = cb.line();
      }
      if (ca.needsFill || cb.needsFill) {
        await ca.fill();
        await cb.fill();
        la = ca.line();
        lb = cb.line();
        if (la !== undefined && la === lb) continue;
      }
      if (la === undefined && lb === undefined) break;
      const cmp = la === undefined ? 1 : lb === undefined ? -1 : comparePaths(ca.path(), cb.path());
      if (cmp < 0) {
        const e = ca.entry();
        ca.skip();
        if (!wanted(e.p, opts.paths)) continue;
        stats.removed++;
        stats.bytesRemoved += e.s ?? 0;
        yield { path: e.p, status: 'removed', from: summarize(e) };
      } else if (cmp > 0) {
        const e = cb.entry();
        cb.skip();
        if (!wanted(e.p, opts.paths)) continue;
        stats.added++;
        stats.bytesAdded += e.s ?? 0;
        yield { path: e.p, status: 'added', to: summarize(e) };
      } else {
        const x = ca.entry();
        const y = cb.entry();
        ca.skip();
        cb.skip();
        if (!wanted(x.p, opts.paths)) continue;
        const change = changedEntry(x, y, stats, opts);
        if (change) yield change;
      }
    }
  } finally {
    await ca.close();
    await cb.close();
  }
}
