/**
 * Turns cpio newc parser events into tree-writer entries. The one thing that needs state is
 * hardlinks: newc has no link entries. Files with nlink > 1 share (dev, ino); GNU cpio writes
 * size 0 for all but the last, which carries the data (other writers put it on the first).
 * Empty ones seen before the data are deferred and linked once it arrives; empty ones seen
 * after it are linked at once; any still deferred at the end become one empty file and links
 * to it, as GNU cpio -i does.
 */
import { ImgportError } from '@imgport/runtime';
import type { CpioEntry, CpioEvents } from '@imgport/format';
import type { TreeWriter } from './tree-writer.js';
import type { TreeEntry } from './types.js';

export class CpioToTree implements CpioEvents {
  /** Entries with nlink > 1 and no data yet, by dev:ino. */
  private readonly deferred = new Map<string, TreeEntry[]>();
  /** The archive path that carried each inode's data. */
  private readonly dataPath = new Map<string, string>();
  private deferredCount = 0;
  /** Whether the current entry's data goes to the writer (false: skipped or deferred). */
  private passing = false;
  /** After the current entry's data: link the deferred entries of this inode. */
  private linkAfter: string | undefined;

  constructor(
    private readonly writer: TreeWriter,
    private readonly maxEntries: number,
  ) {}

  entry(e: CpioEntry): void {
    this.passing = false;
    if (e.type === 'socket') return this.writer.drop('sockets skipped');
    const h = e.header;
    const t: TreeEntry = {
      path: e.name,
      type: e.type,
      mode: h.mode & 0o7777,
      uid: h.uid,
      gid: h.gid,
      mtime: h.mtime,
      size: e.type === 'file' ? h.filesize : 0,
    };
    if (e.linkname !== undefined) t.linkname = e.linkname;
    if (e.type === 'chardev' || e.type === 'blockdev') {
      t.devmajor = h.rdevmajor;
      t.devminor = h.rdevminor;
    }
    if (e.type === 'file' && h.nlink > 1) return this.linked(t, `${h.devmajor}:${h.devminor}:${h.ino}`);
    this.writer.begin(t);
    this.passing = true;
  }

  data(chunk: Buffer): void {
    if (this.passing) this.writer.write(chunk);
  }

  entryEnd(): void {
    if (this.passing) this.writer.endEntry();
    this.passing = false;
    const key = this.linkAfter;
    if (key === undefined) return;
    this.linkAfter = undefined;
    const target = this.dataPath.get(key)!;
    for (const t of this.deferred.get(key) ?? []) this.hardlink(t, target);
    this.deferredCount -= this.deferred.get(key)?.length ?? 0;
    this.deferred.delete(key);
  }

  end(): void {}

  /** After the trailer: inodes whose data never came become an empty file plus links. */
  finish(): void {
    for (const group of this.deferred.values()) {
      const [first, ...rest] = group;
      this.writer.begin(first!);
      this.writer.endEntry();
      for (const t of rest) this.hardlink(t, first!.path);
    }
    this.deferred.clear();
  }

  private linked(t: TreeEntry, key: string): void {
    const target = this.dataPath.get(key);
    if (target !== undefined) {
      // Data already written for this inode: link (a repeated copy of the data is skipped).
      return this.hardlink(t, target);
    }
    if (t.size === 0) {
      this.writer.checkPath(t.path);
      // Deferred entries are held in memory: bound them like entries on disk.
      if (++this.deferredCount > this.maxEntries) {
        throw new ImgportError('LIMIT_EXCEEDED', `maxEntries: more than ${this.maxEntries} deferred hardlinks (at "${t.path}")`, { where: t.path });
      }
      const list = this.deferred.get(key);
      if (list) list.push(t);
      else this.deferred.set(key, [t]);
      return;
    }
    this.dataPath.set(key, t.path);
    this.writer.begin(t);
    this.passing = true;
    if (this.deferred.has(key)) this.linkAfter = key;
  }

  private hardlink(t: TreeEntry, target: string): void {
    this.writer.begin({ ...t, type: 'hardlink', size: 0, linkname: target });
    this.writer.endEntry();
  }
}
