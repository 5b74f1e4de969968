/**
 * The only code that writes an extracted tree. Fed one entry at a time (begin → write* →
 * endEntry, with `await drain()` between input chunks, then finish or abort), it decides here
 * and has a worker thread (or two) do the filesystem calls, synchronously and in order (tree-ops.ts):
 * few syscalls per entry, no thread-pool round trips, the inflate and parsing in this thread
 * overlap with the writes, and this thread's event loop stays free (PERFORMANCE.md).
 *
 * Safety (SPEC §9): every member path goes through checkEntryPath; a parent directory is
 * trusted only if this writer created it or lstat showed a real directory, so nothing is ever
 * written through a symlink, not even one this archive made; files are created with
 * O_EXCL|O_NOFOLLOW; hardlinks may only point at earlier regular files of this archive. This
 * writer keeps what it made (directories, and the type of everything else) in memory, so the
 * disk is only asked about paths it did not make: none, in a fresh destination.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImgportError } from '@imgport/runtime';
import { checkEntryPath, checkLinkTarget } from './entry-path.js';
import { ExpandMeter, type ExpandBudget } from './expand-meter.js';
import { KnownDirs } from './known-dirs.js';
import type { DirMeta } from './known-dirs.js';
import { DropNotes } from './tree-fs.js';
import { Meta, Op, OpQueue, sharedCounters } from './tree-ops.js';
/** Starts the next tree writer's thread ahead, to boot while the caller does other work. */
export { prestartWriterThread } from './tree-ops.js';
import type { XattrSetter } from './tree-fs.js';
import { DEFAULT_LIMITS } from './types.js';
import type { ExpandReport, Limits, ProgressFn, TreeEntry } from './types.js';

export interface TreeWriterOptions {
  limits?: Partial<Limits>;
  /** Leading directory of every member, removed ('rootimg/'). */
  stripPrefix?: string;
  /** Whether ownership, devices are kept; defaults to "running as uid 0". Tests inject false. */
  isRoot?: boolean;
  /**
   * Gives the setter (loadXattr), asked when the first entry with xattrs comes: most root images
   * have none, and loading fs-xattr costs an ES module's load. Without one, or when it gives
   * none, xattrs are reported as dropped.
   */
  xattr?: () => XattrSetter | undefined;
  /** Compressed bytes inflated so far (a lower bound), for the maxRatio check. */
  compressedBytes?: () => number;
  /** Compressed bytes read so far, for progress (compressedBytes when absent). */
  readBytes?: () => number;
  onProgress?: ProgressFn;
  /** The whole bundle's budget, shared with its other members. */
  budget?: ExpandBudget;
  /**
   * Worker threads doing the filesystem calls: 1 (default) or 2. With two, directories are
   * shared out in turn, and the fences between them cost more than the second thread gained on
   * the machines measured (2 cores, root filesystems of ~7 000 to ~47 000 entries).
   */
  threads?: 1 | 2;
}

interface OpenFile {
  q: OpQueue;
  rel: string;
  entry: TreeEntry;
  written: number;
}

/** What an xattr is waiting for: the batch that creates its file to be done. */
interface PendingXattrs {
  w: number;
  seq: number;
  full: string;
  rel: string;
  entry: TreeEntry;
}

export class TreeWriter {
  private readonly root: string;
  private readonly limits: Limits;
  private readonly isRoot: boolean;
  private readonly uid = process.getuid?.() ?? -1;
  private readonly gid = process.getgid?.() ?? -1;
  // process.umask() without an argument only reads it (a documentation-only deprecation).
  private readonly umask = process.umask();
  private readonly dirs: KnownDirs;
  /**
   * Everything this writer made that is not a directory: for a regular file (the only valid
   * hardlink targets) the place where it was closed (>= 0; OPEN while it is being written),
   * else SYMLINK or OTHER. One map, as it holds a path per entry.
   */
  private readonly files = new Map<string, number>();
  /** Whether the destination was empty: then everything in it is known here. */
  private readonly fresh: boolean;
  /**
   * With two workers, each directory belongs to one (in turn), which makes it and everything in
   * it; a Fence makes a worker wait for the other where it needs what the other made (a parent
   * directory, a hardlink's target). Places are encoded as worker + 2 × batch.
   */
  private readonly qs: OpQueue[];
  /** The queue the current entry's calls go to. */
  private ops: OpQueue;
  private readonly owner = new Map<string, number>([['', 0]]);
  private readonly made = new Map<string, number>();
  /** Where a file was last linked from (a hardlink to it): replacing it waits for that link. */
  private readonly linkedAt = new Map<string, number>();
  private turn = 0;
  /** Extended attributes set (in this thread) once the worker has made their file. */
  private readonly xattrQueue: PendingXattrs[] = [];
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
    this.meter = new ExpandMeter(this.limits, opts.compressedBytes, opts.onProgress, opts.budget, opts.readBytes);
    this.dirs = new KnownDirs(this.root, this.umask);
    this.fresh = fs.readdirSync(this.root).length === 0;
    const shared = sharedCounters();
    this.qs = Array.from({ length: opts.threads ?? 1 }, (_, w) => new OpQueue(w, shared, (seq) => this.xattrsUpTo(w, seq)));
    this.ops = this.qs[0]!;
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
    this.dirs.ensureParent(rel, (p) => kindOf(this.files.get(p)), (full, mode) => this.mkdirOp(full, mode), this.fresh);
    this.ops = this.qs[this.owner.get(parentOf(rel)) ?? 0]!;
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
    f.q.data(chunk);
    f.written += chunk.length;
  }

  /** Between input chunks: hands the queued calls over and waits while too many are in flight. */
  async drain(): Promise<void> {
    await Promise.all(this.qs.map((q) => q.drain()));
  }

  endEntry(): void {
    const f = this.cur;
    if (!f) return this.progress();
    this.cur = null;
    if (f.written !== f.entry.size) {
      throw new ImgportError('BUNDLE_INVALID', `"${f.entry.path}": ${f.written} bytes of data, header says ${f.entry.size}`, { where: f.entry.path });
    }
    this.finishFile(f);
    this.progress();
  }

  /** Applies directory metadata deepest first, so setting one's mtime is not undone by its children. */
  async finish(): Promise<ExpandReport> {
    if (this.cur) this.endEntry();
    // Directory metadata last, once both workers have made everything inside.
    if (this.qs.length > 1) await Promise.all(this.qs.map((q) => q.settle()));
    this.ops = this.qs[0]!;
    for (const [rel, meta] of this.dirs.deepestFirst()) this.finishDir(rel === '' ? this.root : `${this.root}/${rel}`, meta);
    await Promise.all(this.qs.map((q) => q.finish()));
    for (let w = 0; w < this.qs.length; w++) this.xattrsUpTo(w, Infinity);
    if (!this.isRoot && this.ownershipDropped > 0) this.report.dropped.push(`ownership not kept: not running as root (${this.ownershipDropped} entries)`);
    this.report.dropped.push(...this.notes.lines());
    this.meter.emit();
    return { ...this.report, entries: this.meter.entries, bytes: this.meter.bytes };
  }

  /** Stops the worker (once this resolves, nothing more is written); the caller removes the partly written tree. */
  async abort(): Promise<void> {
    this.cur = null;
    this.xattrQueue.length = 0;
    await Promise.all(this.qs.map((q) => q.abort()));
  }

  private beginFile(rel: string, full: string, entry: TreeEntry): void {
    this.meter.bytesFor(entry.size, rel, false); // the declared size alone can exceed the limit
    this.create(rel, 'file');
    this.ops.begin(24 + full.length * 3);
    this.ops.op(Op.Open).str(full).u32(entry.mode & 0o777).f64(entry.size);
    this.cur = { q: this.ops, rel, entry, written: 0 };
    this.report.files++;
  }

  private finishFile(f: OpenFile): void {
    const e = f.entry;
    // The worker chowns first: chown clears setuid/setgid and security.capability.
    let flags = 0;
    if (this.ownerDiffers(e)) flags |= Meta.Chown;
    if (e.mode & 0o7000 || e.mode & 0o777 & this.umask) flags |= Meta.Chmod;
    f.q.begin(32);
    f.q.op(Op.Close).u8(flags).u32(e.uid).u32(e.gid).u32(e.mode & 0o7777).f64(e.mtime);
    if (this.files.get(f.rel) === OPEN) this.files.set(f.rel, f.q.index + 2 * f.q.seq);
    this.ops = f.q;
    if (e.xattrs) this.queueXattrs(`${this.root}/${f.rel}`, f.rel, e);
  }

  private makeDir(rel: string, full: string, entry: TreeEntry): void {
    const known = this.dirs.get(rel);
    const created = (entry.mode & 0o777) | 0o700; // writable for us until finish
    // -1: a directory we did not create, whose mode we do not know
    let current = known ? known.current : -1;
    if (known === undefined) {
      const st = this.files.has(rel) || this.fresh ? undefined : fs.lstatSync(full, { throwIfNoEntry: false });
      if (this.files.has(rel) || (st && !st.isDirectory())) {
        throw new ImgportError('UNSAFE_PATH', `directory "${entry.path}" would replace a non-directory`, { where: entry.path });
      }
      if (!st) {
        this.mkdirOp(full, created);
        current = created & ~this.umask;
      }
    }
    this.dirs.set(rel, { ...this.dirMeta(entry), current });
    // After the batch that made it; a directory this writer did not make exists already.
    if (entry.xattrs) this.queueXattrs(full, rel, entry, this.made.get(rel) ?? 0);
    this.report.dirs++;
    this.progress();
  }

  private makeSymlink(rel: string, full: string, entry: TreeEntry): void {
    const target = entry.linkname ?? '';
    checkLinkTarget(target, entry.path);
    // Kept verbatim, absolute or not: it is never followed by this writer.
    this.create(rel, 'symlink');
    this.ops.begin(32 + (full.length + target.length) * 3);
    this.ops.op(Op.Symlink).str(full).str(target).u8(this.ownerDiffers(entry) ? Meta.Chown : 0).u32(entry.uid).u32(entry.gid).f64(entry.mtime);
    if (entry.xattrs) this.notes.add('xattrs on symlinks not kept');
    this.report.symlinks++;
    this.progress();
  }

  private makeHardlink(rel: string, full: string, entry: TreeEntry): void {
    const target = this.checkPath(entry.linkname ?? '');
    if (!((this.files.get(target) ?? OTHER) >= 0) || target === rel) {
      throw new ImgportError('UNSAFE_PATH', `hardlink "${entry.path}" → "${entry.linkname}": target is not an earlier regular file of this archive`, { where: entry.path });
    }
    this.create(rel, 'file');
    this.after(this.files.get(target)!);
    const from = `${this.root}/${target}`;
    this.ops.begin(16 + (from.length + full.length) * 3);
    this.ops.op(Op.Link).str(from).str(full);
    this.files.set(rel, this.ops.index + 2 * this.ops.seq);
    if (this.qs.length > 1) this.linkedAt.set(target, this.ops.index + 2 * this.ops.seq);
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
    const kind = fifo ? 2 : entry.type === 'chardev' ? 0 : 1; // c, b, p in the worker
    this.create(rel, entry.type);
    let flags = 0;
    if (this.ownerDiffers(entry)) flags |= Meta.Chown;
    if (entry.mode & 0o7000) flags |= Meta.Chmod;
    this.ops.begin(48 + full.length * 3);
    this.ops.op(Op.Mknod).str(full).u8(kind).u32(entry.mode & 0o7777).u32(entry.devmajor ?? 0).u32(entry.devminor ?? 0);
    this.ops.u8(flags).u32(entry.uid).u32(entry.gid).f64(entry.mtime);
    if (entry.xattrs) this.queueXattrs(full, rel, entry);
    if (fifo) this.report.fifos++;
    else this.report.devices++;
    this.progress();
  }

  /**
   * Before an exclusive create at `rel`: if something is in the way, it is replaced when it is
   * not a directory (a directory is never silently replaced by something else).
   */
  private create(rel: string, type: string): void {
    const full = `${this.root}/${rel}`;
    if (this.dirs.get(rel) !== undefined) throw new ImgportError('UNSAFE_PATH', `member "${rel}" would replace a directory`, { where: rel });
    let exists = this.files.has(rel);
    if (!exists && !this.fresh) {
      const st = fs.lstatSync(full, { throwIfNoEntry: false });
      if (st?.isDirectory()) throw new ImgportError('UNSAFE_PATH', `member "${rel}" would replace a directory`, { where: rel });
      exists = st !== undefined;
    }
    if (exists) {
      // A hardlink to it queued on the other worker must be made before it goes.
      this.after(this.linkedAt.get(rel));
      this.linkedAt.delete(rel);
      this.ops.begin(8 + full.length * 3);
      this.ops.op(Op.Unlink).str(full);
      // Attributes meant for what is replaced must not land on its successor.
      for (const x of this.xattrQueue) if (x.rel === rel) x.rel = '';
    }
    // What was replaced is no hardlink target any more: this entry's kind overwrites it.
    this.files.set(rel, type === 'file' ? OPEN : type === 'symlink' ? SYMLINK : OTHER);
  }

  /** Makes a directory on the worker whose turn it is; that worker then owns what goes inside. */
  private mkdirOp(full: string, mode: number): void {
    const rel = full.slice(this.root.length + 1);
    const w = this.turn++ % this.qs.length;
    this.ops = this.qs[w]!;
    this.after(this.made.get(parentOf(rel)));
    this.ops.begin(12 + full.length * 3);
    this.ops.op(Op.Mkdir).str(full).u32(mode);
    this.owner.set(rel, w);
    this.made.set(rel, w + 2 * this.ops.seq);
  }

  /** Makes the current queue wait for a place of the other queue, unless it is done already. */
  private after(place: number | undefined): void {
    if (place === undefined || place < 0) return;
    const w = place & 1;
    const seq = place >>> 1;
    const other = this.qs[w]!;
    if (other === this.ops || other.done >= seq) return;
    if (other.seq === seq) other.flush();
    this.ops.fence(w, seq);
  }

  private finishDir(full: string, meta: DirMeta): void {
    let flags = 0;
    if (!meta.implicit && this.ownerDiffers(meta)) flags |= Meta.Chown;
    if (meta.current !== meta.mode) flags |= Meta.Chmod;
    if (!meta.implicit) flags |= Meta.Times;
    if (flags === 0) return;
    this.ops.begin(32 + full.length * 3);
    this.ops.op(Op.DirMeta).str(full).u8(flags).u32(Math.max(meta.uid, 0)).u32(Math.max(meta.gid, 0)).u32(meta.mode).f64(meta.mtime);
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

  /** opts.xattr's answer, once asked (null: not yet). */
  private xattrSetter: XattrSetter | undefined | null = null;
  private setter(): XattrSetter | undefined {
    if (this.xattrSetter === null) this.xattrSetter = this.opts.xattr?.();
    return this.xattrSetter;
  }

  /** The xattrs are set here once the batch that made the file is done (xattrsUpTo). */
  private queueXattrs(full: string, rel: string, e: TreeEntry, place = this.ops.index + 2 * this.ops.seq): void {
    if (!this.setter()) {
      this.notes.add('xattrs dropped: fs-xattr is not available', Object.keys(e.xattrs ?? {}).length);
      return;
    }
    this.xattrQueue.push({ w: place & 1, seq: place >>> 1, full, rel, entry: e });
  }

  /** Worker `w` has done its batch `seq`: set the xattrs waiting for it. */
  private xattrsUpTo(w: number, seq: number): void {
    if (this.xattrQueue.length === 0) return;
    const ready = this.xattrQueue.filter((x) => x.w === w && x.seq <= seq);
    if (ready.length === 0) return;
    this.xattrQueue.splice(0, this.xattrQueue.length, ...this.xattrQueue.filter((x) => !(x.w === w && x.seq <= seq)));
    for (const x of ready) if (x.rel !== '') this.setXattrs(x.full, x.entry);
  }

  private setXattrs(full: string, e: TreeEntry): void {
    for (const [name, value] of Object.entries(e.xattrs ?? {})) {
      try {
        this.setter()!(full, name, value);
      } catch (err) {
        this.notes.add(`xattr ${name} not kept: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }

  private progress(): void {
    this.meter.tick();
  }
}

const OPEN = -1;
const SYMLINK = -2;
const OTHER = -3;

function kindOf(code: number | undefined): string | undefined {
  return code === undefined ? undefined : code === SYMLINK ? 'symlink' : 'not a directory';
}

/** The parent of a relative path ('' for a top-level one). */
function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}
