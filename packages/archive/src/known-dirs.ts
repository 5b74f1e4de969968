/**
 * The directories of a tree being written that are known to be real directories: made by this
 * writer, or seen by lstat to be directories (never symlinks). A member's parents are trusted
 * only through this cache, which is what keeps writes from going through a symlink, even one
 * the archive itself created (SPEC §9). Also keeps each directory's metadata until the end.
 */
import fs from 'node:fs';
import { ImgportError } from '@imgport/runtime';

export interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Mode the directory has now (created writable), to skip a chmod when it already fits; -1 unknown. */
  current: number;
  /** Created by us as a missing parent, no entry seen (yet). */
  implicit: boolean;
}

export class KnownDirs {
  /** Relative path ('' is the root) → metadata to apply at the end, or null for none. */
  private readonly dirs = new Map<string, DirMeta | null>([['', null]]);

  constructor(
    private readonly root: string,
    private readonly umask: number,
  ) {}

  /** undefined: not known to be a directory. */
  get(rel: string): DirMeta | null | undefined {
    return this.dirs.get(rel);
  }

  set(rel: string, meta: DirMeta | null): void {
    this.dirs.set(rel, meta);
  }

  /**
   * Makes sure every ancestor of `rel` is a real directory, creating missing ones (0700) with
   * `mkdir`. `nonDir` says what this writer made at a path that is not a directory; the disk is
   * asked (lstat) only about paths this writer did not make, which a fresh destination has none of.
   */
  ensureParent(rel: string, nonDir: (rel: string) => string | undefined, mkdir: (full: string, mode: number) => void, fresh: boolean): void {
    const slash = rel.lastIndexOf('/');
    if (slash < 0 || this.dirs.has(rel.slice(0, slash))) return;
    for (let at = 0, next = rel.indexOf('/'); next >= 0; at = next + 1, next = rel.indexOf('/', at)) {
      const dir = rel.slice(0, next);
      if (this.dirs.has(dir)) continue;
      const full = `${this.root}/${dir}`;
      const made = nonDir(dir);
      const st = made !== undefined || fresh ? undefined : fs.lstatSync(full, { throwIfNoEntry: false });
      if (made === undefined && st === undefined) {
        mkdir(full, 0o700);
        // mode fixed to 0755 at the end unless the directory's own entry comes later
        this.dirs.set(dir, { mode: 0o755, uid: -1, gid: -1, mtime: -1, current: 0o700 & ~this.umask, implicit: true });
      } else if (st?.isDirectory()) {
        this.dirs.set(dir, null);
      } else {
        const what = made === 'symlink' || st?.isSymbolicLink() ? 'a symlink' : 'not a directory';
        throw new ImgportError('UNSAFE_PATH', `member "${rel}": parent "${dir}" is ${what}; refusing to write through it`, { where: rel });
      }
    }
  }

  /** Directories with metadata to apply, children before parents. */
  deepestFirst(): Array<[string, DirMeta]> {
    const withMeta = [...this.dirs].filter((e): e is [string, DirMeta] => e[1] !== null);
    return withMeta.sort((a, b) => depth(b[0]) - depth(a[0]));
  }
}

function depth(rel: string): number {
  let n = rel === '' ? -1 : 0;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 47) n++;
  return n;
}
