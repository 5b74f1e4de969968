/**
 * Store snapshots (issue 12): an image captured into the content-addressed store, diffed and
 * reverted. A snapshot covers the image's roots (relative to the install root): for netboot and
 * statelite the rootimgdir's kernel, initrds, packed archives and rootimg/ tree; for install
 * images the template; and the list files the rows name. The packed archive is stored as a
 * file, FastCDC-chunked (it is not reproducible from the tree: xCAT's packimage wrote it), so a
 * re-pack costs its chunks from the first changed byte on; an archive left as it was costs
 * nothing. Reverting builds the target in a staging area of the install root and swaps it in
 * with the import's journaled commit.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { isBelow, isInside, LIST_KINDS, LIST_TABLE, validateImageName } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import type { ImageRecord, Row } from '@imgport/tables';
import {
  canonicalJson,
  diffRows,
  diffTreeLines,
  emptyDiffStats,
  readTreeLines,
  restoreTree,
  Scanner,
  sha256,
  Store,
  syncStore,
  toPrune,
  TreeCursor,
  TreeWriter,
  type DiffStats,
  type FieldChange,
  type GcResult,
  type Retention,
  type RowChange,
  type RowsDoc,
  type StoreRef,
  type TreeChange,
  type TreeEntry,
} from '@imgport/store';
import { commit, createStaging, journalDir, missingParents, newJournalId, type Journal } from '../import/journal.js';
import { currentOwner } from '../import/owner.js';
import { emptyTrash, moveToTrash } from '../import/trash.js';
import { lockImage } from '../import/lock.js';
import { ROOTIMG_ARCHIVES, workDir } from '../layout.js';
import { parseSnapshotId, utcStamp } from './bundle-files.js';
import { openTableStore } from '@imgport/tables';
import { ExportService } from '../export/service.js';
import type { EngineDeps, ExportOptions, ExportResult, JobProgressFn, SnapshotInfo } from '../types.js';

export interface StoreSnapshotOptions {
  label?: string;
  signal?: AbortSignal;
  onProgress?: JobProgressFn;
}

export interface DiffResult {
  from: string;
  to: string;
  stats: DiffStats;
  /** Up to `limit` changes in path order (`truncated` says when more were counted). */
  changes: TreeChange[];
  truncated: boolean;
  rows: { fields: FieldChange[]; rows: RowChange[] };
}

export interface DiffRequest {
  /** Paths relative to the image's rootimgdir (`rootimg/etc`) or absolute under the install root. */
  paths?: string[];
  mtime?: boolean;
  limit?: number;
  signal?: AbortSignal;
}

export interface RevertResult {
  image: string;
  to: string;
  /** The snapshot taken of the image as it was. */
  before?: string;
  entries: number;
  fromStore: number;
  reused: number;
  copied: number;
  bytesFromStore: number;
  removed: string[];
  notes: string[];
  durationMs: number;
}

const BOOT_FILES = ['kernel', 'initrd-stateless.gz', 'initrd-statelite.gz', 'initrd.gz', ...ROOTIMG_ARCHIVES, 'rootimgtree.gz', 'rootimg'];

export class StoreSnapshots {
  readonly store: Store;
  private readonly now: () => Date;
  private readonly work: string;

  constructor(private readonly deps: EngineDeps & { now?: () => Date }) {
    this.store = new Store(deps.dataDir);
    this.now = deps.now ?? (() => new Date());
    this.work = workDir(deps.installRoot);
  }

  /** Store refs, newest first (of one image when given). */
  list(image?: string): StoreRef[] {
    if (image !== undefined) validateImageName(image, 'image', 'BAD_REQUEST');
    return this.store.refs.list(image).reverse();
  }

  find(id: string): StoreRef | undefined {
    const { image, stamp } = parseSnapshotId(id);
    return this.store.refs.read(image, stamp);
  }

  get(id: string): StoreRef {
    const ref = this.find(id);
    if (!ref) throw new ImgportError('NOT_FOUND', `snapshot ${id} not found in the store`, { where: id });
    return ref;
  }

  /**
   * A store snapshot as the job results and listings show snapshots: `path` is its ref file,
   * `bytes` the image's logical size, `sha256` its tree object.
   */
  info(ref: StoreRef): SnapshotInfo {
    return {
      id: ref.id,
      image: ref.image,
      timestamp: ref.stamp,
      ...(ref.label !== undefined ? { label: ref.label } : {}),
      path: this.store.refs.file(ref.image, ref.stamp),
      bytes: ref.stats.bytes,
      sha256: ref.tree,
      createdAt: ref.createdAt,
    };
  }

  setPinned(id: string, pinned: boolean): StoreRef {
    const ref = { ...this.get(id), pinned };
    this.store.refs.write(ref);
    return ref;
  }

  private async record(image: string): Promise<ImageRecord> {
    validateImageName(image, 'image', 'BAD_REQUEST');
    const rec = await this.deps.tables.getImage(image);
    if (!rec.osimage) throw new ImgportError('IMAGE_NOT_FOUND', `image ${image} not found in the osimage table`, { where: 'osimage.imagename' });
    return rec;
  }

  /** The roots an image's rows name, relative to the install root; paths outside it are skipped. */
  roots(rec: ImageRecord): string[] {
    const out: string[] = [];
    const add = (p: string | null | undefined) => {
      if (!p) return;
      const abs = resolve(this.deps.installRoot, p);
      if (!isBelow(resolve(this.deps.installRoot), abs)) return;
      const rel = relative(this.deps.installRoot, abs);
      if (rel.split('/')[0] === '.imgport') return;
      out.push(rel);
    };
    const li = rec.linuximage ?? {};
    const method = rec.osimage?.provmethod;
    if (method === 'install') add(li.template);
    else if (li.rootimgdir) for (const f of BOOT_FILES) add(join(li.rootimgdir, f));
    for (const kind of LIST_KINDS) {
      const row: Row = (LIST_TABLE[kind] === 'osimage' ? rec.osimage : li) ?? {};
      for (const f of (row[kind] ?? '').split(',')) add(f.trim());
    }
    return [...new Set(out)];
  }

  /** The rows document: the image's rows and the rows of the kits its kitcomponents name (recorded, never written back). */
  private async rowsDoc(rec: ImageRecord): Promise<RowsDoc> {
    const doc: RowsDoc = { osimage: rec.osimage!, linuximage: rec.linuximage ?? {}, litefile: rec.litefile };
    const comps = (rec.osimage?.kitcomponents ?? '').split(',').map((c) => c.trim()).filter((c) => c !== '');
    if (comps.length === 0) return doc;
    const kits: Record<string, Row[]> = { kit: [], kitrepo: [], kitcomponent: [] };
    const names = new Set<string>();
    for (const c of comps) for (const r of await this.deps.tables.kitRows('kitcomponent', 'kitcompname', c)) if (r.kitname) names.add(r.kitname);
    for (const k of [...names].sort()) {
      kits.kit!.push(...(await this.deps.tables.kitRows('kit', 'kitname', k)));
      kits.kitrepo!.push(...(await this.deps.tables.kitRows('kitrepo', 'kitname', k)));
      kits.kitcomponent!.push(...(await this.deps.tables.kitRows('kitcomponent', 'kitname', k)));
    }
    doc.kits = kits;
    return doc;
  }

  private tmpFile(what: string): string {
    const dir = join(this.store.root, 'tmp');
    mkdirSync(dir, { recursive: true });
    return join(dir, `${hostname()}~${process.pid}~${randomBytes(6).toString('hex')}.${what}`);
  }

  /** Captures the image as it is now, hashing only what changed since its newest snapshot. */
  async create(image: string, opts: StoreSnapshotOptions = {}): Promise<StoreRef> {
    const rec = await this.record(image);
    const roots = this.roots(rec);
    const parent = this.store.refs.list(image).at(-1);
    const lease = this.store.lease();
    const treeFile = this.tmpFile('tree.gz');
    try {
      const out = new TreeWriter(treeFile);
      let stats;
      try {
        const scanner = new Scanner({
          base: this.deps.installRoot,
          roots,
          out,
          objects: this.store.objects,
          lease,
          ...(parent ? { parent: this.store.tree(parent) } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(opts.onProgress
            ? { onProgress: (files: number, bytes: number) => opts.onProgress!({ phase: 'snapshot', percent: 0, bytesDone: bytes, bytesTotal: 0 }) }
            : {}),
        });
        stats = await scanner.run();
      } finally {
        await out.close();
      }
      const saved = await this.store.saveTree(treeFile, parent, stats.entries, lease);
      const tree = saved.tree;
      const base = saved.base;
      stats.added += saved.added;
      const rowsData = Buffer.from(canonicalJson(await this.rowsDoc(rec)));
      const rows = sha256(rowsData);
      lease.add([rows]);
      stats.added += this.store.objects.putBuffer(rowsData, rows).added;
      syncStore(this.store.root);
      const ref: StoreRef = {
        version: 1,
        id: '',
        image,
        stamp: '',
        ...(opts.label !== undefined ? { label: opts.label } : {}),
        ...(parent ? { parent: parent.id } : {}),
        signer: null,
        pinned: false,
        createdAt: this.now().toISOString(),
        tree,
        ...(base ? { base } : {}),
        rows,
        roots,
        stats,
      };
      return this.claim(ref);
    } finally {
      lease.release();
      rmSync(treeFile, { force: true });
    }
  }

  /** Writes the ref under the first free stamp of this second (`-1`, `-2`… after the first). */
  private claim(ref: StoreRef): StoreRef {
    const base = utcStamp(this.now());
    const dir = join(this.store.refs.dir, ref.image);
    mkdirSync(dir, { recursive: true });
    for (let n = 0; n < 1000; n++) {
      const stamp = n === 0 ? base : `${base}-${n}`;
      try {
        writeFileSync(join(dir, `${stamp}.claim`), '', { flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw err;
      }
      if (this.store.refs.exists(ref.image, stamp)) continue;
      const done = { ...ref, id: `${ref.image}@${stamp}`, stamp };
      this.store.refs.write(done);
      rmSync(join(dir, `${stamp}.claim`), { force: true });
      return done;
    }
    throw new ImgportError('LOCKED', `too many snapshots of ${ref.image} in the second ${base}`);
  }

  /** A tree of the live image (hashing only what changed since `parent`), in a temp file the caller removes. */
  private async liveTree(image: string, parent: StoreRef | undefined, signal?: AbortSignal): Promise<{ file: string; rows: RowsDoc }> {
    const rec = await this.record(image);
    const file = this.tmpFile('live.gz');
    const out = new TreeWriter(file);
    try {
      await new Scanner({
        base: this.deps.installRoot,
        roots: this.roots(rec),
        out,
        ...(parent ? { parent: this.store.tree(parent) } : {}),
        ...(signal ? { signal } : {}),
      }).run();
    } finally {
      await out.close();
    }
    return { file, rows: await this.rowsDoc(rec) };
  }

  /**
   * What changed from snapshot `a` to `b` (a snapshot id, or `live` — the image as it is now,
   * the default).
   */
  async diff(a: string, b = 'live', req: DiffRequest = {}): Promise<DiffResult> {
    const from = this.get(a);
    const temp: string[] = [];
    try {
      let right: AsyncIterable<string[]>;
      let rowsB: RowsDoc;
      let to: string;
      if (b === 'live') {
        const live = await this.liveTree(from.image, this.store.refs.list(from.image).at(-1), req.signal);
        temp.push(live.file);
        right = readTreeLines(live.file);
        rowsB = live.rows;
        to = `${from.image} (live)`;
      } else {
        const ref = this.get(b);
        right = this.store.treeLines(ref);
        rowsB = this.store.rows(ref) as RowsDoc;
        to = ref.id;
      }
      const stats = emptyDiffStats();
      const limit = req.limit ?? 10000;
      const changes: TreeChange[] = [];
      const paths = req.paths?.map((p) => this.filterPath(from, p));
      for await (const c of diffTreeLines(this.store.treeLines(from), right, stats, { ...(paths ? { paths } : {}), ...(req.mtime ? { mtime: true } : {}) })) {
        if (changes.length < limit) changes.push(c);
      }
      return {
        from: from.id,
        to,
        stats,
        changes,
        truncated: stats.added + stats.removed + stats.changed > changes.length,
        rows: diffRows(this.store.rows(from) as RowsDoc, rowsB),
      };
    } finally {
      for (const f of temp) rmSync(f, { force: true });
    }
  }

  private filterPath(ref: StoreRef, p: string): string {
    if (isAbsolute(p)) {
      if (!isInside(resolve(this.deps.installRoot), p)) throw new ImgportError('BAD_REQUEST', `path filter ${p} is not under the install root ${this.deps.installRoot}`, { where: 'path' });
      return relative(this.deps.installRoot, p);
    }
    const clean = p.replace(/^\.\/+/, '').replace(/\/+$/, '');
    const rootimg = ref.roots.find((r) => r.endsWith('/rootimg'));
    const dir = rootimg ? rootimg.slice(0, -'/rootimg'.length) : '';
    return dir && !clean.startsWith(`${dir}/`) ? `${dir}/${clean}` : clean;
  }

  /**
   * Brings the image back to snapshot `id`: the image as it is is snapshotted first; the target
   * is built in a staging area (files whose content and metadata equal the live ones are linked
   * from the live tree, never from the store, the rest written from the store's objects), then
   * the roots are swapped in and the rows written in one journaled commit.
   */
  async revert(id: string, opts: { signal?: AbortSignal; lockImage?: (image: string) => Promise<() => void | Promise<void>> } = {}): Promise<RevertResult> {
    const started = Date.now();
    const target = this.get(id);
    const image = target.image;
    // The file lock is taken in every mode (a worker's Redis lease comes on top of it).
    const leased = opts.lockImage ? await opts.lockImage(image) : undefined;
    const unlockFile = await lockImage(this.work, image, this.deps.log ? { log: this.deps.log } : {});
    const unlock = async () => {
      unlockFile();
      await leased?.();
    };
    const txId = newJournalId();
    const txDir = createStaging(this.work, txId);
    try {
      const recNow = await this.deps.tables.getImage(image);
      const before = recNow.osimage ? await this.create(image, { label: `before revert to ${target.stamp}` }) : undefined;
      const staging = join(txDir, 'new');
      mkdirSync(staging, { recursive: true });
      const live = before ? new TreeCursor(this.store.tree(before)[Symbol.asyncIterator]()) : undefined;
      const liveEntries = new Map<string, TreeEntry>();
      const base = this.deps.installRoot;
      const withLive = async function* (it: AsyncIterable<TreeEntry>): AsyncGenerator<TreeEntry> {
        for await (const e of it) {
          const l = live ? await live.seek(e.p) : undefined;
          if (l) liveEntries.set(e.p, l);
          yield e;
        }
      };
      let reused = 0;
      const st = await restoreTree(withLive(this.store.tree(target)), {
        objects: this.store.objects,
        dest: (p) => join(staging, p),
        link: (e) => {
          const l = liveEntries.get(e.p);
          liveEntries.delete(e.p);
          if (!l || !sameFile(l, e)) return undefined;
          const abs = join(base, e.p);
          const now = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
          if (!now || now.nlink !== 1n || Number(now.ino) !== l.i || now.ctimeNs.toString() !== l.ct) return undefined;
          reused++;
          return abs;
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      await live?.close();
      opts.signal?.throwIfAborted();
      const roots = [...new Set([...target.roots, ...(before?.roots ?? [])])];
      const moves: Journal['moves'] = [];
      const removed: string[] = [];
      for (const r of roots) {
        const from = join(staging, r);
        const to = join(base, r);
        const staged = lstatSync(from, { throwIfNoEntry: false });
        const there = lstatSync(to, { throwIfNoEntry: false });
        if (staged) moves.push({ from, to, what: r, dir: staged.isDirectory(), ...(there ? { backup: join(txDir, 'old', String(moves.length)) } : {}) });
        else if (there) removed.push(r);
      }
      if (moves.some((m) => m.backup)) mkdirSync(join(txDir, 'old'), { recursive: true });
      const rows = this.store.rows(target) as RowsDoc;
      const journal: Journal = {
        v: 2,
        id: txId,
        owner: currentOwner(),
        image,
        state: 'prepared',
        txDir,
        moves,
        createdDirs: [...new Set(moves.flatMap((m) => missingParents(m.to)))].sort((a, b) => a.length - b.length),
        outside: [],
        rowsBefore: recNow.osimage || recNow.linuximage ? recNow : null,
        rowsAfter: { osimage: rows.osimage ?? {}, linuximage: rows.linuximage ?? {}, litefile: rows.litefile ?? [] },
      };
      await commit({ work: this.work, tables: this.deps.tables, allow: this.deps.allow ?? [], ...(this.deps.log ? { log: this.deps.log } : {}) }, journal);
      // Files the target does not have (an archive packed since): gone with the image they belonged
      // to, through the trash like every replaced tree.
      for (const r of removed) moveToTrash(this.work, join(base, r), `${txId}-removed-${removed.indexOf(r)}`);
      return {
        image,
        to: target.id,
        ...(before ? { before: before.id } : {}),
        entries: st.entries,
        fromStore: st.fromStore,
        reused,
        copied: st.copied,
        bytesFromStore: st.bytesFromStore,
        removed,
        notes: st.notes,
        durationMs: Date.now() - started,
      };
    } finally {
      // A journal left by a rollback that could not finish keeps its staging area (its backups).
      if (!existsSync(join(journalDir(this.work), `${txId}.json`))) moveToTrash(this.work, txDir, txId);
      await unlock();
      await emptyTrash(this.work);
    }
  }

  /**
   * Exports store snapshot `id` as an ordinary bundle (native or xcat): the snapshot is rebuilt
   * in a scratch install root with its rows in a scratch SQLite table store (path columns moved
   * along), and the export runs there as it would on the live image.
   */
  async exportBundle(id: string, opts: ExportOptions = {}): Promise<ExportResult> {
    const ref = this.get(id);
    const scratch = this.tmpFile('export');
    const root = join(scratch, 'install');
    mkdirSync(root, { recursive: true });
    const tables = await openTableStore(`sqlite:${join(scratch, 'db')}`, { create: true });
    try {
      await restoreTree(this.store.tree(ref), { objects: this.store.objects, dest: (p) => join(root, p), ...(opts.signal ? { signal: opts.signal } : {}) });
      const doc = this.store.rows(ref) as RowsDoc;
      const move = (row: Row | undefined): Row => {
        const out: Row = {};
        for (const [k, v] of Object.entries(row ?? {})) {
          out[k] = typeof v === 'string' ? v.split(',').map((x) => (x === this.deps.installRoot || x.startsWith(`${this.deps.installRoot}/`) ? root + x.slice(this.deps.installRoot.length) : x)).join(',') : v;
        }
        return out;
      };
      await tables.writeImage(ref.image, { osimage: move(doc.osimage), linuximage: move(doc.linuximage), litefile: doc.litefile ?? [] });
      return await new ExportService({ tables, installRoot: root, dataDir: this.deps.dataDir, ...(this.deps.log ? { log: this.deps.log } : {}) }).run(ref.image, opts);
    } finally {
      await tables.close();
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  /** Applies a retention policy to each image's store snapshots (pinned ones always stay), then collects. */
  async prune(policy: Retention, image?: string, gc: { graceMs?: number } = {}): Promise<{ removed: string[]; gc: GcResult }> {
    const removed: string[] = [];
    for (const img of image === undefined ? this.store.refs.images() : [validateImageName(image, 'image', 'BAD_REQUEST')]) {
      for (const r of toPrune(this.store.refs.list(img), policy)) {
        this.store.refs.remove(r.image, r.stamp);
        removed.push(r.id);
      }
    }
    return { removed, gc: await this.store.gc(gc) };
  }
}

function sameFile(a: TreeEntry, b: TreeEntry): boolean {
  return (
    a.t === 'f' &&
    b.t === 'f' &&
    a.h === b.h &&
    a.s === b.s &&
    a.m === b.m &&
    a.u === b.u &&
    a.g === b.g &&
    a.mt === b.mt &&
    a.k === undefined &&
    b.k === undefined &&
    canonicalJson(a.x ?? {}) === canonicalJson(b.x ?? {})
  );
}

