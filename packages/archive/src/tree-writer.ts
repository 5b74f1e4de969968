/**
 * The only code that writes an extracted tree. Fed one entry at a time (begin → write* →
 * endEntry, then finish or abort), it uses synchronous fs calls because they are the fastest
 * way here (PERFORMANCE.md): few syscalls per entry, no thread-pool round trips.
 *
 * Safety (SPEC §9): every member path goes through checkEntryPath; a parent directory is
 * trusted only if this writer created it or lstat showed a real directory, so nothing is ever
 * written through a symlink, not even one this archive made; files are created with
 * O_EXCL|O_NOFOLLOW; hardlinks may only point at earlier regular files of this archive.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImgportError } from '@imgport/runtime';
import { checkEntryPath, checkLinkTarget } from './entry-path.js';
import { ExpandMeter, type ExpandBudget } from './expand-meter.js';
import { KnownDirs } from './known-dirs.js';
import type { DirMeta } from './known-dirs.js';
import { DropNotes, mknodSync } from './tree-fs.js';
import type { XattrSetter } from './tree-fs.js';
import { DEFAULT_LIMITS } from './types.js';
import type { ExpandReport, Limits, ProgressFn, TreeEntry } from './types.js';

export interface TreeWriterOptions {
  limits?: Partial<Limits>;
  /** Leading directory of every member, removed ('rootimg/'). */
  stripPrefix?: string;
  /** Whether ownership, devices are kept; defaults to "running as uid 0". Tests inject false. */
  isRoot?: boolean;
  /** From loadXattr(); without it xattrs are reported as dropped. */
  xattr?: XattrSetter;
  /** Compressed bytes consumed so far, for the maxRatio check. */
  compressedBytes?: () => number;
  onProgress?: ProgressFn;
  /** The whole bundle's budget, shared with its other members. */
  budget?: ExpandBudget;
}

interface OpenFile {
  fd: number;
  rel: string;
  entry: TreeEntry;
  written: number;
}

const O_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

export class TreeWriter {
  private readonly root: string;
  private readonly limits: Limits;
  private readonly isRoot: boolean;
  private readonly uid = process.getuid?.() ?? -1;
  private readonly gid = process.getgid?.() ?? -1;
  // process.umask() without an argument only reads it (a documentation-only deprecation).
  private readonly umask = process.umask();
  private readonly dirs: KnownDirs;
  /** Regular files this archive wrote: the only valid hardlink targets. */
  private readonly files = new Set<string>();
  private readonly notes = new DropNotes();
  private readonly report: ExpandReport = { entries: 0, bytes: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, devices: 0, fifos: 0, dropped: [] };
  private readonly meter: ExpandMeter;
  private cur: OpenFile | null = null;
  /** Entries whose owner could not be kept (not root). */
  private ownershipDropped = 0;

  constructor(
    destDir: string,
    private readonly opts: TreeWriterOptions = {},
  ) {
    this.root = path.resolve(destDir);
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.isRoot = opts.isRoot ?? this.uid === 0;
    this.meter = new ExpandMeter(this.limits, opts.compressedBytes, opts.onProgress, opts.budget);
    this.dirs = new KnownDirs(this.root, this.umask);
  }

  /** Checks a member path without writing anything (used to reject deferred entries early). */
  checkPath(raw: string): string {
    return checkEntryPath(raw, { maxPathLength: this.limits.maxPathLength, stripPrefix: this.opts.stripPrefix });
  }

  /** Records something the archive holds that this expansion does not keep. */
  drop(reason: string): void {
    this.notes.add(reason);
  }

  begin(entry: TreeEntry): void {
    if (this.cur) throw new ImgportError('INTERNAL', `tree writer: begin("${entry.path}") while "${this.cur.rel}" is open`);
    this.meter.entry(entry.path);
    const rel = this.checkPath(entry.path);
    if (rel === '') {
      if (entry.type !== 'dir') throw new ImgportError('UNSAFE_PATH', `member "${entry.path}" names the target directory but is a ${entry.type}`, { where: entry.path });
      this.dirs.set('', { ...this.dirMeta(entry), current: -1 });
      return this.progress();
    }
    this.dirs.ensureParent(rel);
    const full = `${this.root}/${rel}`;
    switch (entry.type) {
      case 'file':
        return this.beginFile(rel, full, entry);
      case 'dir':
        return this.makeDir(rel, full, entry);
      case 'symlink':
        return this.makeSymlink(rel, full, entry);
      case 'hardlink':
        return this.makeHardlink(rel, full, entry);
      default:
        return this.makeNode(rel, full, entry);
    }
  }

  write(chunk: Buffer): void {
    const f = this.cur;
    if (!f) {
      if (chunk.length === 0) return;
      throw new ImgportError('INTERNAL', 'tree writer: data outside a regular file');
    }
    this.meter.bytesFor(chunk.length, f.rel);
    let off = 0;
    while (off < chunk.length) off += fs.writeSync(f.fd, chunk, off, chunk.length - off);
    f.written += chunk.length;
  }

  endEntry(): void {
    const f = this.cur;
    if (!f) return this.progress();
    this.cur = null;
    try {
      if (f.written !== f.entry.size) {
        throw new ImgportError('BUNDLE_INVALID', `"${f.entry.path}": ${f.written} bytes of data, header says ${f.entry.size}`, { where: f.entry.path });
      }
      this.finishFile(f);
    } finally {
      fs.closeSync(f.fd);
    }
    this.progress();
  }

  /** Applies directory metadata deepest first, so setting one's mtime is not undone by its children. */
  finish(): ExpandReport {
    if (this.cur) this.endEntry();
    for (const [rel, meta] of this.dirs.deepestFirst()) this.finishDir(rel === '' ? this.root : `${this.root}/${rel}`, meta);
    if (!this.isRoot && this.ownershipDropped > 0) this.report.dropped.push(`ownership not kept: not running as root (${this.ownershipDropped} entries)`);
    this.report.dropped.push(...this.notes.lines());
    this.meter.emit();
    return { ...this.report, entries: this.meter.entries, bytes: this.meter.bytes };
  }

  /** Closes what is open; the caller removes the partly written tree. */
  abort(): void {
    if (this.cur) {
      try {
        fs.closeSync(this.cur.fd);
      } catch {
        // already failing: the first error is the one that matters
      }
      this.cur = null;
    }
  }

  private beginFile(rel: string, full: string, entry: TreeEntry): void {
    this.meter.bytesFor(entry.size, rel, false); // the declared size alone can exceed the limit
    const fd = this.create(rel, () => fs.openSync(full, O_NEW, entry.mode & 0o777));
    this.cur = { fd, rel, entry, written: 0 };
    this.files.add(rel);
    this.report.files++;
  }

  private finishFile(f: OpenFile): void {
    const e = f.entry;
    // chown clears setuid/setgid and security.capability, so it comes first.
    if (this.ownerDiffers(e)) fs.fchownSync(f.fd, e.uid, e.gid);
    if (e.mode & 0o7000 || e.mode & 0o777 & this.umask) fs.fchmodSync(f.fd, e.mode & 0o7777);
    if (e.xattrs) this.setXattrs(`${this.root}/${f.rel}`, e);
    fs.futimesSync(f.fd, e.mtime, e.mtime);
  }

  private makeDir(rel: string, full: string, entry: TreeEntry): void {
    const known = this.dirs.get(rel);
    const created = (entry.mode & 0o777) | 0o700; // writable for us until finish
    // -1: a directory we did not create, whose mode we do not know
    let current = known ? known.current : -1;
    if (known === undefined) {
      try {
        fs.mkdirSync(full, created);
        current = created & ~this.umask;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!fs.lstatSync(full).isDirectory()) {
          throw new ImgportError('UNSAFE_PATH', `directory "${entry.path}" would replace a non-directory`, { where: entry.path });
        }
      }
    }
    this.dirs.set(rel, { ...this.dirMeta(entry), current });
    if (entry.xattrs) this.setXattrs(full, entry);
    this.report.dirs++;
    this.progress();
  }

  private makeSymlink(rel: string, full: string, entry: TreeEntry): void {
    const target = entry.linkname ?? '';
    checkLinkTarget(target, entry.path);
    // Kept verbatim, absolute or not: it is never followed by this writer.
    this.create(rel, () => fs.symlinkSync(target, full));
    if (this.ownerDiffers(entry)) fs.lchownSync(full, entry.uid, entry.gid);
    fs.lutimesSync(full, entry.mtime, entry.mtime);
    if (entry.xattrs) this.notes.add('xattrs on symlinks not kept');
    this.report.symlinks++;
    this.progress();
  }

  private makeHardlink(rel: string, full: string, entry: TreeEntry): void {
    const target = this.checkPath(entry.linkname ?? '');
    if (!this.files.has(target) || target === rel) {
      throw new ImgportError('UNSAFE_PATH', `hardlink "${entry.path}" → "${entry.linkname}": target is not an earlier regular file of this archive`, { where: entry.path });
    }
    this.create(rel, () => fs.linkSync(`${this.root}/${target}`, full));
    this.files.add(rel);
    this.report.hardlinks++;
    this.progress();
  }

  private makeNode(rel: string, full: string, entry: TreeEntry): void {
    const fifo = entry.type === 'fifo';
    // FIFOs need no privilege; device nodes do.
    if (!fifo && !this.isRoot) {
      this.notes.add('device nodes skipped: not running as root');
      return this.progress();
    }
    const kind = fifo ? 'p' : entry.type === 'chardev' ? 'c' : 'b';
    this.create(rel, () => mknodSync(full, kind, entry.mode, entry.devmajor, entry.devminor));
    if (this.ownerDiffers(entry)) fs.lchownSync(full, entry.uid, entry.gid);
    // mknod(1) takes permission bits only; the node was just made by us, so chmod is safe.
    if (entry.mode & 0o7000) fs.chmodSync(full, entry.mode & 0o7777);
    if (entry.xattrs) this.setXattrs(full, entry);
    fs.lutimesSync(full, entry.mtime, entry.mtime);
    if (fifo) this.report.fifos++;
    else this.report.devices++;
    this.progress();
  }

  /**
   * Runs an exclusive create; if something is in the way, replaces it when it is not a
   * directory (a directory is never silently replaced by something else).
   */
  private create<T>(rel: string, make: () => T): T {
    try {
      return make();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const full = `${this.root}/${rel}`;
      if (fs.lstatSync(full).isDirectory()) throw new ImgportError('UNSAFE_PATH', `member "${rel}" would replace a directory`, { where: rel });
      fs.unlinkSync(full);
      this.files.delete(rel);
      return make();
    }
  }

  private finishDir(full: string, meta: DirMeta): void {
    if (!meta.implicit && this.ownerDiffers(meta)) fs.chownSync(full, meta.uid, meta.gid);
    if (meta.current !== meta.mode) fs.chmodSync(full, meta.mode);
    if (!meta.implicit) fs.utimesSync(full, meta.mtime, meta.mtime);
  }

  private dirMeta(e: TreeEntry): Omit<DirMeta, 'current'> {
    return { mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: e.mtime, implicit: false };
  }

  private ownerDiffers(e: { uid: number; gid: number }): boolean {
    if (e.uid === this.uid && e.gid === this.gid) return false;
    if (this.isRoot) return true;
    this.ownershipDropped++;
    return false;
  }

  private setXattrs(full: string, e: TreeEntry): void {
    for (const [name, value] of Object.entries(e.xattrs ?? {})) {
      if (!this.opts.xattr) {
        this.notes.add('xattrs dropped: fs-xattr is not available');
        continue;
      }
      try {
        this.opts.xattr(full, name, value);
      } catch (err) {
        this.notes.add(`xattr ${name} not kept: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }

  private progress(): void {
    this.meter.tick();
  }
}
