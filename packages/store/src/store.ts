/**
 * The store: `<IMGPORT_DATA>/store/{objects,refs,leases,trash}`. Collection is safe while
 * snapshots run and takes no lock that writers wait on:
 *
 *   1. mark: digests of live leases, THEN of every ref (tree, rows, and every object a tree names);
 *   2. move unmarked objects older than the grace period to `trash/<run>/`;
 *   3. mark again (leases, then refs) and move back every trashed object now marked;
 *   4. delete the trash.
 *
 * A writer leases a digest before it checks the object, and releases its lease only after its
 * ref is written; so a digest it relies on is marked in step 1 or 3, or the writer's check came
 * after step 2 and it wrote the object again. Only one collection runs at a time (a `gc.lock`
 * file, taken with an exclusive create; a stale one of a dead process is taken over).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { currentOwner, describeOwner, ImgportError, isOwner, ownerState, processAlive, takeLockFile, type LockVerdict, type Owner } from '@imgport/runtime';
import { leasedDigests, takeLease, type Lease } from './lease.js';
import { isDigest, ObjectStore, sha256 } from './objects.js';
import { RefStore, type StoreRef } from './refs.js';
import { applyPatch, applyPatchLines, writePatch } from './patch.js';
import { digestsOf } from './scan.js';
import { parseTreeLine, readTree, readTreeLines, type TreeEntry } from './tree.js';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';

export interface GcOptions {
  /** Unreferenced objects younger than this stay (default 1 hour). */
  graceMs?: number;
  /** Another host's lease counts until this old (default 24 hours). */
  leaseStaleMs?: number;
  /** Called between steps (tests interleave writers here). */
  onStep?: (step: string) => Promise<void> | void;
}

export interface GcResult {
  marked: number;
  leases: number;
  removed: number;
  bytesFreed: number;
  restored: number;
}

export interface FsckResult {
  objects: number;
  corrupt: string[];
  missing: Array<{ ref: string; digest: string }>;
  repaired: boolean;
}

export class Store {
  readonly root: string;
  readonly objects: ObjectStore;
  readonly refs: RefStore;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'store');
    this.objects = new ObjectStore(this.root);
    this.refs = new RefStore(this.root);
  }

  lease(): Lease {
    return takeLease(this.root);
  }

  private treeObject(ref: StoreRef, digest: string): Readable {
    return this.objects.openVerified(digest, `snapshot ${ref.id}: its tree`);
  }

  /**
   * Stores a finished full tree file as a snapshot's tree: against the parent's full tree (its
   * base, or its own tree) only the entries that differ, unless they are a quarter or more of
   * `entries`. The base is leased before it is checked, like every object a writer relies on.
   */
  async saveTree(treeFile: string, parent: StoreRef | undefined, entries: number, lease: Lease): Promise<{ tree: string; base?: string; added: number }> {
    const base = parent ? (parent.base ?? parent.tree) : undefined;
    let data = readFileSync(treeFile);
    let patched = false;
    if (parent && base) {
      lease.add([base]);
      if (this.objects.has(base)) {
        const patchFile = `${treeFile}.patch`;
        try {
          const full: StoreRef = { ...parent, tree: base };
          delete full.base;
          const n = await writePatch(this.treeLines(full), readTreeLines(treeFile), patchFile);
          if (n * 4 < entries) {
            data = readFileSync(patchFile);
            patched = true;
          }
        } finally {
          rmSync(patchFile, { force: true });
        }
      }
    }
    // Stored whole: compressed as well as a tree is (the temporary file may have been written quickly).
    if (!patched) data = gzipSync(gunzipSync(data), { level: 6 });
    const tree = sha256(data);
    lease.add([tree]);
    const added = this.objects.putBuffer(data, tree).added;
    return patched && base ? { tree, base, added } : { tree, added };
  }

  /**
   * The parent's tree objects, for a snapshot whose tree is the parent's line for line (an
   * unchanged image): leased, then checked; undefined when one is gone (saveTree then stores it).
   */
  sameTree(parent: StoreRef, lease: Lease): { tree: string; base?: string; added: number } | undefined {
    const digests = parent.base ? [parent.tree, parent.base] : [parent.tree];
    lease.add(digests);
    if (!digests.every((d) => this.objects.has(d))) return undefined;
    return parent.base ? { tree: parent.tree, base: parent.base, added: 0 } : { tree: parent.tree, added: 0 };
  }

  /** The tree entries of a ref, streamed from its tree object (and base tree, for a patch). */
  tree(ref: StoreRef): AsyncGenerator<TreeEntry> {
    const own = readTree(this.treeObject(ref, ref.tree), ref.id);
    return ref.base ? applyPatch(readTree(this.treeObject(ref, ref.base), ref.id), own) : own;
  }

  /** The raw lines of a ref's full tree, in batches (for diffTreeLines and patches). */
  async *treeLines(ref: StoreRef): AsyncGenerator<string[]> {
    if (!ref.base) {
      yield* readTreeLines(this.treeObject(ref, ref.tree));
      return;
    }
    yield* applyPatchLines(readTreeLines(this.treeObject(ref, ref.base)), readTreeLines(this.treeObject(ref, ref.tree)));
  }

  /**
   * The hardlinked entries of a ref's tree (those naming their first path in `k`), by path. Only
   * lines holding a `"k":"` key are parsed (a path or target holding it is JSON-escaped), and a
   * patch's lines, which are few; nothing is read for a ref whose scan counted no hardlink.
   */
  async hardlinks(ref: StoreRef): Promise<Map<string, TreeEntry>> {
    const out = new Map<string, TreeEntry>();
    if (ref.stats.links === 0) return out;
    const own = ref.base ?? ref.tree;
    let n = 0;
    for await (const lines of readTreeLines(this.treeObject(ref, own))) {
      for (const line of lines) {
        n++;
        if (!line.includes('"k":"')) continue;
        const e = parseTreeLine(line, undefined, ref.id, n);
        out.set(e.p, e);
      }
    }
    if (!ref.base) return out;
    n = 0;
    for await (const lines of readTreeLines(this.treeObject(ref, ref.tree))) {
      for (const line of lines) {
        n++;
        if (line === '') continue;
        const e = parseTreeLine(line, undefined, ref.id, n);
        if ((e.t as string) === '-' || e.k === undefined) out.delete(e.p);
        else out.set(e.p, e);
      }
    }
    return out;
  }

  rows(ref: StoreRef): unknown {
    return JSON.parse(this.objects.read(ref.rows).toString('utf8'));
  }

  /** Every digest a ref needs. */
  async refDigests(ref: StoreRef, into: Set<string>): Promise<void> {
    into.add(ref.tree);
    into.add(ref.rows);
    if (ref.base) into.add(ref.base);
    let n = 0;
    for await (const e of this.tree(ref)) {
      for (const d of digestsOf(e)) into.add(d);
      if (++n % 4096 === 0) await yieldNow();
    }
  }

  private async mark(staleMs: number): Promise<{ set: Set<string>; leases: number }> {
    const set = new Set<string>();
    // Leases before refs: a lease released after this read belongs to a ref the next read sees.
    const leases = leasedDigests(this.root, staleMs, set);
    for (const ref of this.refs.list()) {
      try {
        await this.refDigests(ref, set);
      } catch (err) {
        // A ref whose tree is gone cannot protect anything more; fsck reports it.
        if (!(err instanceof ImgportError && err.code === 'FILE_MISSING')) throw err;
        set.add(ref.tree);
        set.add(ref.rows);
        if (ref.base) set.add(ref.base);
      }
    }
    return { set, leases };
  }

  /** Object files as [digest, file name, dir]. */
  private *objectFiles(): Generator<{ digest: string; file: string; name: string; sub: string }> {
    let subs: string[];
    try {
      subs = readdirSync(this.objects.dir).sort();
    } catch {
      return;
    }
    for (const sub of subs) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      for (const name of readdirSync(join(this.objects.dir, sub))) {
        const digest = sub + name.replace(/\.z$/, '');
        yield { digest, file: join(this.objects.dir, sub, name), name, sub };
      }
    }
  }

  async gc(opts: GcOptions = {}): Promise<GcResult> {
    const grace = opts.graceMs ?? 60 * 60 * 1000;
    const stale = opts.leaseStaleMs ?? 24 * 60 * 60 * 1000;
    const unlock = await this.gcLock();
    const run = join(this.root, 'trash', `${hostname()}~${process.pid}~${randomBytes(4).toString('hex')}`);
    const res: GcResult = { marked: 0, leases: 0, removed: 0, bytesFreed: 0, restored: 0 };
    try {
      const first = await this.mark(stale);
      res.marked = first.set.size;
      res.leases = first.leases;
      await opts.onStep?.('marked');
      mkdirSync(run, { recursive: true });
      const trashed: Array<{ digest: string; from: string; at: string; bytes: number }> = [];
      const now = Date.now();
      for (const o of this.objectFiles()) {
        let st;
        try {
          st = statSync(o.file);
        } catch {
          continue;
        }
        if (o.name.endsWith('.tmp')) {
          if (now - st.mtimeMs > grace) rmSync(o.file, { force: true });
          continue;
        }
        if (!isDigest(o.digest) || first.set.has(o.digest) || now - st.mtimeMs < grace) continue;
        const at = join(run, `${o.sub}${o.name}`);
        try {
          renameSync(o.file, at);
        } catch {
          continue;
        }
        trashed.push({ digest: o.digest, from: o.file, at, bytes: st.size });
        if (trashed.length % 256 === 0) await yieldNow();
      }
      await opts.onStep?.('trashed');
      const second = await this.mark(stale);
      await opts.onStep?.('remarked');
      for (const t of trashed) {
        if (second.set.has(t.digest)) {
          if (!this.objects.has(t.digest)) renameSync(t.at, t.from);
          res.restored++;
        } else {
          res.removed++;
          res.bytesFreed += t.bytes;
        }
      }
      rmSync(run, { recursive: true, force: true });
      return res;
    } finally {
      unlock();
    }
  }

  /**
   * The collection lock (`gc.lock`): one collection at a time per store. A lock of a collector
   * that is gone is broken by one process at a time (see `takeLockFile`); one that is no record
   * at all (an earlier version wrote it in two steps and may have died between them) is removed.
   */
  private async gcLock(): Promise<() => void> {
    const file = join(this.root, 'gc.lock');
    mkdirSync(this.root, { recursive: true });
    const got = await takeLockFile(file, { text: JSON.stringify({ owner: currentOwner() }), judge: judgeGcLock });
    if (got.taken) return got.release;
    const owner = gcLockOwner(got.holder);
    throw new ImgportError('LOCKED', `a store collection is running (${file}, ${owner ? describeOwner(owner) : 'owner unknown'}); try again when it ends`);
  }

  /** Re-hashes every object; checks every ref's objects are present. `repair` moves corrupt objects to `corrupt/`. */
  async fsck(repair = false): Promise<FsckResult> {
    const res: FsckResult = { objects: 0, corrupt: [], missing: [], repaired: repair };
    const seen = new Set<string>();
    for (const o of this.objectFiles()) {
      if (o.name.endsWith('.tmp')) continue;
      res.objects++;
      let ok = false;
      try {
        const data = this.objects.read(o.digest);
        ok = sha256(data) === o.digest;
      } catch {
        ok = false;
      }
      if (!ok) {
        res.corrupt.push(o.digest);
        if (repair) {
          mkdirSync(join(this.root, 'corrupt'), { recursive: true });
          renameSync(o.file, join(this.root, 'corrupt', `${o.sub}${o.name}`));
        }
      } else seen.add(o.digest);
      if (res.objects % 256 === 0) await yieldNow();
    }
    for (const ref of this.refs.list()) {
      const need = new Set<string>();
      try {
        await this.refDigests(ref, need);
      } catch {
        need.add(ref.tree);
      }
      for (const d of need) if (!seen.has(d) && !this.objects.has(d)) res.missing.push({ ref: ref.id, digest: d });
    }
    return res;
  }
}

function gcLockOwner(text: string): Owner | undefined {
  try {
    const owner = (JSON.parse(text) as { owner?: unknown }).owner;
    return isOwner(owner) ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** A collector's lock is stale once its owner is gone; a lock of an earlier version names only host and pid. */
function judgeGcLock(text: string): LockVerdict {
  let holder: { owner?: unknown; host?: unknown; pid?: unknown };
  try {
    holder = JSON.parse(text) as typeof holder;
  } catch {
    return 'invalid';
  }
  if (typeof holder !== 'object' || holder === null) return 'invalid';
  if (isOwner(holder.owner)) return ownerState(holder.owner) === 'dead' ? 'stale' : 'held';
  if (typeof holder.host === 'string' && typeof holder.pid === 'number') return holder.host === hostname() && !processAlive(holder.pid) ? 'stale' : 'held';
  return 'invalid';
}
