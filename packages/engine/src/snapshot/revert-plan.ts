/**
 * The differential revert's plan: one streaming merge of the live tree (the snapshot just taken
 * of it) and the target tree, both in path order, touching only what differs:
 *
 * - a file, symlink or device that differs in content or any metadata, or that only the target
 *   has, is staged from the store and moved in (the live one, if any, backed up);
 * - a path only the live tree has is taken away with a backup (only the top-most of a subtree);
 * - a directory only the target has is staged as a whole subtree and moved in once; a change of
 *   type is a move with a backup of what was there (a live subtree goes with it);
 * - a hardlink group of the target is staged anew, all of it, when any member differs;
 * - a directory both have whose own metadata differs, or whose entries changed (the renames bump
 *   its mtime), gets an attribute step (before and after), applied after the moves.
 *
 * Entries to stage come out of `staged()` in tree order, for restoreTree to write as the merge
 * runs; the journal's moves, removes and attribute steps are complete when it ends. Lines equal
 * on both sides (the common case) are passed over unparsed.
 */
import { lstatSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { comparePaths, LineCursor, prefetch, type TreeEntry } from '@imgport/store';
import type { AttrValues, JournalAttr, JournalMove, JournalRemove } from '../import/journal.js';

export interface PlanInput {
  /** The install root: tree paths are relative to it. */
  base: string;
  /** Where staged entries go (`<staging>/<path>`). */
  staging: string;
  /** Where backups go (`<backups>/<n>`). */
  backups: string;
  /** Raw tree lines of each side (Store.treeLines, or readTreeLines of a tree file). */
  live: AsyncIterable<string[]>;
  target: AsyncIterable<string[]>;
  /** Hardlinked entries (with `k`) of each side, by path (Store.hardlinks). */
  liveLinks: Map<string, TreeEntry>;
  targetLinks: Map<string, TreeEntry>;
}

interface OpenDir {
  p: string;
  live: TreeEntry;
  target: TreeEntry;
  dirty: boolean;
}

const below = (prefix: string | undefined, p: string) => prefix !== undefined && p.length > prefix.length && p.charCodeAt(prefix.length) === 47 && p.startsWith(prefix);

export class RevertPlan {
  readonly moves: JournalMove[] = [];
  readonly removes: JournalRemove[] = [];
  readonly attrs: JournalAttr[] = [];
  /** Top-most paths taken away, relative to the base. */
  readonly removed: string[] = [];
  /** Target entries left as they are in the live tree (directories whose metadata is set are not). */
  unchanged = 0;
  targetEntries = 0;
  /** Target entries not restored (sockets: a running service recreates them). */
  skipped = 0;
  private backupsUsed = 0;
  private readonly open: OpenDir[] = [];
  /** The live subtree being taken away, and the target subtree being staged whole. */
  private gone: string | undefined;
  private added: string | undefined;
  /** Target hardlink groups: leader → followers; and the groups staged anew. */
  private readonly groups = new Map<string, TreeEntry[]>();
  private readonly restaged = new Set<string>();
  /** Live chunked files replaced by a changed version, by path (patchSource). */
  private readonly chunked = new Map<string, TreeEntry>();

  constructor(private readonly o: PlanInput) {
    for (const e of o.targetLinks.values()) {
      const g = this.groups.get(e.k!) ?? [];
      g.push(e);
      this.groups.set(e.k!, g);
    }
  }

  async *staged(): AsyncGenerator<TreeEntry> {
    const cl = new LineCursor(prefetch(this.o.live), 'live tree');
    const ct = new LineCursor(prefetch(this.o.target), 'target tree');
    try {
      for (;;) {
        if (cl.needsFill) await cl.fill();
        if (ct.needsFill) await ct.fill();
        const ll = cl.line();
        const tl = ct.line();
        if (ll === undefined && tl === undefined) break;
        const cmp = ll === undefined ? 1 : tl === undefined ? -1 : comparePaths(cl.path(), ct.path());
        const p = cmp < 0 ? cl.path() : ct.path();
        this.closeDirs(p);
        if (cmp === 0 && sameLines(ll!, tl!) && this.plainlySame(p, tl!)) {
          this.targetEntries++;
          this.unchanged++;
          cl.skip();
          ct.skip();
          continue;
        }
        let e: TreeEntry | undefined;
        if (cmp < 0) this.liveOnly(cl.entry());
        else if (cmp > 0) e = this.targetOnly(ct.entry());
        else e = this.both(cl.entry(), ct.entry());
        if (cmp <= 0) cl.skip();
        if (cmp >= 0) ct.skip();
        if (e) yield e;
      }
      this.closeDirs(undefined);
    } finally {
      await cl.close();
      await ct.close();
    }
  }

  /**
   * An identical line (same content and metadata on both sides) needs no parsing,
   * unless it is a directory (kept open for its entries), a hardlink or a group's leader, or
   * lies in a subtree being staged or taken away.
   */
  private plainlySame(p: string, line: string): boolean {
    // The type follows the path (`{"p":"<path>","t":"d"`) when the path needed no escape.
    const dir = line.startsWith(p, 6) && line.charCodeAt(6 + p.length) === 34 ? line.charCodeAt(p.length + 13) === 100 : line.includes('"t":"d"');
    return !dir && !this.o.targetLinks.has(p) && !this.groups.has(p) && !below(this.added, p) && !below(this.gone, p);
  }

  private liveOnly(l: TreeEntry): void {
    if (below(this.gone, l.p)) return;
    this.takeAway(l);
  }

  private targetOnly(t: TreeEntry): TreeEntry | undefined {
    this.targetEntries++;
    if (t.t === 's') {
      this.skipped++;
      return undefined;
    }
    this.decideGroup(t, undefined);
    if (below(this.added, t.p)) return t;
    return this.put(t, undefined);
  }

  private both(l: TreeEntry, t: TreeEntry): TreeEntry | undefined {
    this.targetEntries++;
    this.decideGroup(t, l);
    if (below(this.added, t.p)) return t;
    if (t.t === 's' && l.t === 's') {
      this.unchanged++;
      return undefined;
    }
    if (t.t === 's') {
      this.skipped++;
      this.takeAway(l);
      return undefined;
    }
    if (l.t !== t.t) return this.put(t, l);
    if (t.t === 'd') {
      this.open.push({ p: t.p, live: l, target: t, dirty: !sameMeta(l, t) });
      return undefined;
    }
    const leader = this.leaderOf(t);
    if ((leader !== undefined && this.restaged.has(leader)) || !sameEntry(l, t)) return this.put(t, l);
    this.unchanged++;
    return undefined;
  }

  private leaderOf(t: TreeEntry): string | undefined {
    return t.k ?? (this.groups.has(t.p) ? t.p : undefined);
  }

  /** At a group's leader (its first path): the whole group is staged anew unless every member equals its live entry. */
  private decideGroup(t: TreeEntry, l: TreeEntry | undefined): void {
    const followers = t.k === undefined ? this.groups.get(t.p) : undefined;
    if (!followers) return;
    const clean = l !== undefined && sameEntry(l, t) && followers.every((f) => {
      const lf = this.o.liveLinks.get(f.p);
      return lf !== undefined && sameEntry(lf, f);
    });
    if (!clean) this.restaged.add(t.p);
  }

  /**
   * The live file a staged chunked file is patched from (restoreTree's patchFrom): only its
   * differing chunks are then read from the store. Still as the snapshot saw it, by its stat
   * cache, after the copy, as the snapshot itself judged it.
   */
  patchSource(t: TreeEntry): { path: string; chunks: Array<[string, number]>; unchanged: () => boolean } | undefined {
    const l = this.chunked.get(t.p);
    if (!l?.c) return undefined;
    this.chunked.delete(t.p);
    const path = join(this.o.base, l.p);
    const unchanged = () => {
      const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
      return st !== undefined && st.isFile() && st.nlink === 1n && Number(st.ino) === l.i && st.ctimeNs.toString() === l.ct && st.mtimeNs.toString() === l.mt && Number(st.size) === l.s;
    };
    return { path, chunks: l.c, unchanged };
  }

  /** Stages `t` and moves it in, backing up what is there (the live entry, or a path that appeared since the snapshot). */
  private put(t: TreeEntry, l: TreeEntry | undefined): TreeEntry {
    if (t.c && l?.t === 'f' && l.c && l.k === undefined) this.chunked.set(t.p, l);
    const to = join(this.o.base, t.p);
    const there = l !== undefined || lstatSync(to, { throwIfNoEntry: false }) !== undefined;
    this.moves.push({ from: join(this.o.staging, t.p), to, what: t.p, dir: t.t === 'd', ...(there ? { backup: this.backup() } : {}) });
    if (l?.t === 'd') this.gone = l.p;
    if (t.t === 'd') this.added = t.p;
    this.touch(t.p);
    return t;
  }

  private takeAway(l: TreeEntry): void {
    this.removes.push({ path: join(this.o.base, l.p), backup: this.backup(), what: l.p, dir: l.t === 'd' });
    this.removed.push(l.p);
    if (l.t === 'd') this.gone = l.p;
    this.touch(l.p);
  }

  private backup(): string {
    return join(this.o.backups, String(this.backupsUsed++));
  }

  /** The directory holding `p` (the innermost open one, when it is its parent) gets its metadata set again. */
  private touch(p: string): void {
    const top = this.open.at(-1);
    if (top && top.p === dirname(p)) top.dirty = true;
  }

  private closeDirs(p: string | undefined): void {
    for (let top = this.open.at(-1); top && (p === undefined || !below(top.p, p)); top = this.open.at(-1)) {
      this.open.pop();
      if (!top.dirty) this.unchanged++;
      else this.attrs.push({ path: join(this.o.base, top.p), before: attrsOf(top.live), after: attrsOf(top.target) });
    }
  }
}

/**
 * A raw line without its stat cache and with its mtime to the microsecond (as two parts, so
 * nothing is copied to compare them): every line a scan
 * writes has `"mt":"…","i":…,"ct":"…"` in that order, and an unescaped `,"mt":"` cannot occur
 * inside a JSON string. Lines equal so are equal entries (sameEntry), as when a file was
 * restored since the target was taken.
 */
function comparable(line: string): [string, string] {
  const mt = line.indexOf(',"mt":"');
  const mtEnd = mt < 0 ? -1 : line.indexOf('"', mt + 7);
  const ct = mtEnd < 0 || !line.startsWith('","i":', mtEnd) ? -1 : line.indexOf(',"ct":"', mtEnd);
  const ctEnd = ct < 0 ? -1 : line.indexOf('"', ct + 7);
  return ctEnd < 0 || mtEnd - mt < 11 ? [line, ''] : [line.slice(0, mtEnd - 3), line.slice(ctEnd + 1)];
}

function sameLines(a: string, b: string): boolean {
  if (a === b) return true;
  const [x, y] = [comparable(a), comparable(b)];
  return x[0] === y[0] && x[1] === y[1];
}

function attrsOf(e: TreeEntry): AttrValues {
  return { m: e.m, u: e.u, g: e.g, mt: e.mt, ...(e.x ? { x: e.x } : {}) };
}

function sameXattrs(a: TreeEntry['x'], b: TreeEntry['x']): boolean {
  const ka = a ? Object.keys(a) : [];
  if (ka.length !== (b ? Object.keys(b).length : 0)) return false;
  return ka.every((k) => a![k] === b![k]);
}

/** mtimes are set to the microsecond (restore.ts): an entry restored before equals its target to that precision. */
function sameMicrosecond(a: string, b: string): boolean {
  return a === b || (a.length > 3 && b.length > 3 && a.slice(0, -3) === b.slice(0, -3));
}

function sameMeta(a: TreeEntry, b: TreeEntry): boolean {
  return a.m === b.m && a.u === b.u && a.g === b.g && sameMicrosecond(a.mt, b.mt) && sameXattrs(a.x, b.x);
}

/** Equal in everything a snapshot records but the stat cache (inode, ctime). */
export function sameEntry(a: TreeEntry, b: TreeEntry): boolean {
  return a.t === b.t && sameMeta(a, b) && a.s === b.s && a.h === b.h && a.l === b.l && a.r === b.r && a.k === b.k;
}
