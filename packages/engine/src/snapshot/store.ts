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
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
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
  toPrune,
  TreeWriter,
  type DiffStats,
  type FieldChange,
  type GcResult,
  type Retention,
  type RowChange,
  type RowsDoc,
  type StoreRef,
  type TreeChange,
} from '@imgport/store';
import { emptyTrash } from '../import/trash.js';
import { ROOTIMG_ARCHIVES, workDir } from '../layout.js';
import { parseSnapshotId, utcStamp } from './bundle-files.js';
import { openTableStore } from '@imgport/tables';
import { ExportService } from '../export/service.js';
import { revertImage, type RevertOptions, type RevertResult } from './store-revert.js';
import { judgeRef, signRef } from './store-signing.js';
import type { SignatureReport } from '../trust/signatures.js';
import { loadSigningKey, type SigningKey } from '../trust/signing.js';
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

const BOOT_FILES = ['kernel', 'initrd-stateless.gz', 'initrd-statelite.gz', 'initrd.gz', ...ROOTIMG_ARCHIVES, 'rootimgtree.gz', 'rootimg'];

export class StoreSnapshots {
  readonly store: Store;
  private readonly now: () => Date;
  private readonly work: string;
  private cleaning: Promise<void> = Promise.resolve();
  private key: SigningKey | undefined;

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

  /** True once a store snapshot was taken here (import --force then snapshots into the store). */
  inUse(): boolean {
    return existsSync(this.store.refs.dir);
  }

  /** Removes one snapshot's ref (its objects go at the next collection); a pinned one is refused. */
  remove(id: string): void {
    const ref = this.get(id);
    if (ref.pinned) throw new ImgportError('CONFLICT', `snapshot ${id} is pinned; unpin it first (imgport store unpin ${id})`, { where: id });
    this.store.refs.remove(ref.image, ref.stamp);
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
    return this.capture(image, opts);
  }

  /**
   * create(), handing the full tree it wrote (gzip level 0: quick to read again) to `keep`,
   * which removes it when done: a revert merges it with its target without reading the store.
   */
  private async capture(image: string, opts: StoreSnapshotOptions, keep?: (treeFile: string) => void): Promise<StoreRef> {
    const rec = await this.record(image);
    const roots = this.roots(rec);
    const parent = this.store.refs.list(image).at(-1);
    const lease = this.store.lease();
    const treeFile = this.tmpFile('tree.gz');
    let kept = false;
    try {
      // Written uncompressed (a temporary file): most trees are stored as a patch of their
      // parent's, a whole one is compressed then (saveTree).
      const out = new TreeWriter(treeFile, 0);
      let stats;
      let same = false;
      try {
        const scanner = new Scanner({
          base: this.deps.installRoot,
          roots,
          out,
          objects: this.store.objects,
          lease,
          ...(parent ? { parent: this.store.treeLines(parent), parentAlive: () => this.store.refs.exists(parent.image, parent.stamp) } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(opts.onProgress
            ? { onProgress: (files: number, bytes: number) => opts.onProgress!({ phase: 'snapshot', percent: 0, bytesDone: bytes, bytesTotal: 0 }) }
            : {}),
        });
        stats = await scanner.run();
        same = scanner.sameAsParent;
      } finally {
        await out.close();
      }
      const saved = (same && parent && this.store.sameTree(parent, lease)) || (await this.store.saveTree(treeFile, parent, stats.entries, lease));
      const tree = saved.tree;
      const base = saved.base;
      stats.added += saved.added;
      const rowsData = Buffer.from(canonicalJson(await this.rowsDoc(rec)));
      const rows = sha256(rowsData);
      lease.add([rows]);
      stats.added += this.store.objects.putBuffer(rowsData, rows).added;
      this.store.objects.flush();
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
      const claimed = await this.claim(ref);
      if (keep) {
        keep(treeFile);
        kept = true;
      }
      return claimed;
    } finally {
      lease.release();
      if (!kept) rmSync(treeFile, { force: true });
    }
  }

  /**
   * Writes the ref under the first free stamp of this second (`-1`, `-2`… after the first),
   * signed with the site key when one is configured.
   */
  private async claim(ref: StoreRef): Promise<StoreRef> {
    const base = utcStamp(this.now());
    const dir = join(this.store.refs.dir, ref.image);
    mkdirSync(dir, { recursive: true });
    for (let n = 0; n < 1000; n++) {
      const stamp = n === 0 ? base : `${base}-${n}`;
      const claim = join(dir, `${stamp}.claim`);
      try {
        writeFileSync(claim, '', { flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw err;
      }
      try {
        if (this.store.refs.exists(ref.image, stamp)) continue;
        const named = { ...ref, id: `${ref.image}@${stamp}`, stamp };
        const key = this.signingKey();
        const done = key ? await signRef(named, key) : named;
        this.store.refs.write(done);
        return done;
      } finally {
        rmSync(claim, { force: true });
      }
    }
    throw new ImgportError('LOCKED', `too many snapshots of ${ref.image} in the second ${base}`);
  }

  private signingKey(): SigningKey | undefined {
    if (!this.deps.signingKey) return undefined;
    this.key ??= loadSigningKey(this.deps.signingKey);
    return this.key;
  }

  /**
   * The trust policy's verdict on a snapshot about to be restored (a revert, an export): none
   * when no policy is configured; throws when the policy refuses it.
   */
  judge(ref: StoreRef): SignatureReport | undefined {
    return this.deps.trust ? judgeRef(ref, this.deps.trust, this.store.refs.file(ref.image, ref.stamp)) : undefined;
  }

  /** A tree of the live image (hashing only what changed since `parent`), in a temp file the caller removes. */
  private async liveTree(image: string, parent: StoreRef | undefined, signal?: AbortSignal): Promise<{ file: string; rows: RowsDoc }> {
    const rec = await this.record(image);
    const file = this.tmpFile('live.gz');
    const out = new TreeWriter(file, 1);
    try {
      await new Scanner({
        base: this.deps.installRoot,
        roots: this.roots(rec),
        out,
        ...(parent ? { parent: this.store.treeLines(parent) } : {}),
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
   * Brings the image back to snapshot `id` (store-revert.ts), its signature judged first under
   * the trust policy. The tree it replaced is deleted in the background once the lock is
   * released: `settled()` waits for that.
   */
  async revert(id: string, opts: RevertOptions = {}): Promise<RevertResult> {
    const target = this.get(id);
    const signature = this.judge(target);
    try {
      const res = await revertImage(
        {
          deps: this.deps,
          store: this.store,
          work: this.work,
          snapshotLive: async (image, label) => {
            if (!(await this.deps.tables.getImage(image)).osimage) return undefined;
            let treeFile = '';
            const ref = await this.capture(image, { label }, (f) => (treeFile = f));
            return { ref, treeFile };
          },
        },
        target,
        opts,
      );
      return { ...res, notes: [...(signature?.warnings ?? []), ...res.notes] };
    } finally {
      this.cleanUp();
    }
  }

  /** Deletes the trash (replaced trees) off the caller's path; one deletion at a time. */
  private cleanUp(): void {
    this.cleaning = this.cleaning.then(() => emptyTrash(this.work));
  }

  /** Resolves once the trees earlier reverts replaced are deleted. */
  settled(): Promise<void> {
    return this.cleaning;
  }

  /**
   * Exports store snapshot `id` as an ordinary bundle (native or xcat): the snapshot is rebuilt
   * in a scratch install root with its rows in a scratch SQLite table store (path columns moved
   * along), and the export runs there as it would on the live image.
   */
  async exportBundle(id: string, opts: ExportOptions = {}): Promise<ExportResult> {
    const ref = this.get(id);
    // A signed bundle made of a snapshot vouches for it: the snapshot's own signature first.
    const signature = this.judge(ref);
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
      const res = await new ExportService({
        tables,
        installRoot: root,
        dataDir: this.deps.dataDir,
        ...(this.deps.signingKey ? { signingKey: this.deps.signingKey } : {}),
        ...(this.deps.log ? { log: this.deps.log } : {}),
      }).run(ref.image, opts);
      return { ...res, warnings: [...(signature?.warnings ?? []), ...res.warnings] };
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
