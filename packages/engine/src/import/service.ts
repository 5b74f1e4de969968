import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createReadStream, existsSync, lstatSync, mkdirSync, readFileSync, rmdirSync, statSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { openBundle, prestartWriterThread, type OpenedBundle } from '@imgport/archive';
import { parseLitefileCsv } from '@imgport/format';
import { ImgportError, silentLogger, toImgportError, type Logger } from '@imgport/runtime';
import type { ImageRecord, Row } from '@imgport/tables';
import { workDir } from '../layout.js';
import type { EngineDeps, ImportOptions, ImportResult, JobProgress, SnapshotInfo } from '../types.js';
import { checkPlan } from './check.js';
import { backgroundWriteback, type Writeback } from './durable.js';
import {
  cleanStaging,
  commit,
  createStaging,
  ensureNoPending,
  failpoint,
  journalDir,
  missingParents,
  newJournalId,
  readKitsBefore,
  readReceipt,
  recover,
  type Journal,
  type JournalMove,
  type RecoverContext,
  type RecoverReport,
} from './journal.js';
import { lockImage } from './lock.js';
import { currentOwner } from './owner.js';
import { planImport, type ImportPlan } from './plan.js';
import { openSource, type DownloadOptions } from './source.js';
import { signatureGate, type SignatureReport } from '../trust/signatures.js';
import { writeProvenance } from '../trust/provenance.js';
import { emptyTrash, moveToTrash } from './trash.js';

const execFileP = promisify(execFile);

/** A lease on one image shared by every host (the workers' Redis image lock). */
export interface ImageLease {
  readonly token: string;
  release(): Promise<void>;
}

export interface ImageLeases {
  /** Waits for the image (until the signal aborts). */
  acquire(image: string, signal?: AbortSignal): Promise<ImageLease>;
  /** The image's lease when it is free now, else undefined. */
  tryAcquire(image: string): Promise<ImageLease | undefined>;
  /** The token of whoever holds the image's lease. */
  holder(image: string): Promise<string | undefined>;
}

export interface ImportDeps extends EngineDeps {
  /** Takes the snapshot of an image that --force replaces. */
  snapshots?: { create(image: string, opts?: { label?: string }): Promise<SnapshotInfo> };
  /**
   * Service mode: a lease per image in Redis, so workers on every host exclude each other and can
   * tell a dead worker's journal from a live one. The lock file in the install root is taken in
   * both modes, under the lease when there is one.
   */
  leases?: ImageLeases;
  /** Timeouts and allowed URL prefixes for URL sources. */
  download?: DownloadOptions;
}

/** One import in progress: where it stages, how it reports. */
interface Run {
  started: number;
  stream: Readable;
  /** The bundle's path when it is a local file. */
  file?: string;
  report: (phase: JobProgress['phase'], done: number, pct?: number) => void;
  id: string;
  txDir: string;
  /** Syncs the staging area in the background while it fills, and at the commit. */
  writeback?: Writeback;
}

interface Opened {
  bundle: OpenedBundle;
  signature?: SignatureReport;
}

interface HeldImage {
  lease?: string;
  release(): Promise<void>;
}

/**
 * Import a bundle: open → stage and verify → plan → lock → recover this image → check conflicts →
 * snapshot → commit. Nothing outside the staging area changes before the commit, and the commit is
 * journaled; a failed commit rolls back before the lock is released.
 */
export class ImportService {
  private readonly work: string;
  private readonly log: Logger;
  private recovered = false;

  constructor(private readonly deps: ImportDeps) {
    this.work = workDir(deps.installRoot);
    this.log = deps.log ?? silentLogger;
  }

  /** Rolls back or forward what killed imports left behind, each under its image lock; empties the trash. */
  async recover(): Promise<Array<{ image: string; outcome: string }>> {
    this.recovered = true;
    const report = await recover(this.recoverContext());
    await emptyTrash(this.work);
    removeIfEmpty(join(this.work, 'tx'), join(this.work, 'locks'), join(this.work, 'journal'), join(this.work, 'trash'), this.work);
    return report.recovered.map((r) => ({ image: r.image, outcome: r.outcome }));
  }

  /** The full recovery report: what was recovered, set aside, or left to a live owner. */
  async recoverReport(): Promise<RecoverReport> {
    this.recovered = true;
    const report = await recover(this.recoverContext());
    await emptyTrash(this.work);
    return report;
  }

  private recoverContext(image?: string): RecoverContext {
    const leases = this.deps.leases;
    return {
      work: this.work,
      tables: this.deps.tables,
      installRoot: this.deps.installRoot,
      allow: this.deps.allow ?? [],
      log: this.log,
      ...(image !== undefined ? { image, withLock: async (_img: string, fn: () => Promise<void>) => (await fn(), 'done' as const) } : { withLock: (img: string, fn: () => Promise<void>) => this.withImageIfFree(img, fn) }),
      ...(leases ? { leaseHeld: async (img: string, lease: string) => (await leases.holder(img)) === lease } : {}),
    };
  }

  private async withImageIfFree(image: string, fn: () => Promise<void>): Promise<'done' | 'busy'> {
    let held: HeldImage;
    try {
      held = await this.hold(image, { wait: false });
    } catch (err) {
      if (err instanceof ImgportError && err.code === 'LOCKED') return 'busy';
      throw err;
    }
    try {
      await fn();
      return 'done';
    } finally {
      await held.release();
    }
  }

  /** The Redis lease (service mode) and then the lock file (every mode). */
  private async hold(image: string, opts: { wait: boolean; signal?: AbortSignal }): Promise<HeldImage> {
    const leases = this.deps.leases;
    let lease: ImageLease | undefined;
    if (leases) {
      lease = opts.wait ? await leases.acquire(image, opts.signal) : await leases.tryAcquire(image);
      if (!lease) throw new ImgportError('LOCKED', `image ${image} is being changed by another job`);
    }
    try {
      const unlock = await lockImage(this.work, image, {
        log: this.log,
        ...(lease ? { lease: lease.token } : {}),
        ...(leases ? { leaseHeld: async (img: string, token: string) => (await leases.holder(img)) === token } : {}),
      });
      return {
        ...(lease ? { lease: lease.token } : {}),
        release: async () => {
          unlock();
          await lease?.release();
        },
      };
    } catch (err) {
      await lease?.release();
      throw err;
    }
  }

  /** open → plan → check → prepare → commit → result; a dry run stops after the check. */
  async run(source: string | Readable, opts: ImportOptions = {}): Promise<ImportResult> {
    if (!this.recovered) await this.recover();
    const done = opts.jobId && !opts.dryRun ? this.committedBefore(opts.jobId) : undefined;
    if (done) return done;
    // A root image is written by a worker thread: it boots while the bundle is opened.
    prestartWriterThread();
    const run = await this.start(source, opts);
    try {
      const opened = await this.open(run, opts);
      const plan = await this.plan(opened.bundle, opts);
      await checkPlan(plan, { installRoot: this.deps.installRoot, allow: this.deps.allow ?? [], tables: this.deps.tables });
      if (opts.dryRun) {
        await this.conflicts(plan, await this.deps.tables.getImage(plan.name), opts.force === true);
        return this.result(run, opened, plan, true, plan.moves.map((m) => m.to));
      }
      return await this.commitUnderLock(run, opened, plan, opts);
    } catch (err) {
      throw classify(err, run.txDir);
    } finally {
      await run.writeback?.stop();
      this.finish(run);
      await emptyTrash(this.work);
      removeIfEmpty(join(this.work, 'tx'), join(this.work, 'locks'), join(this.work, 'journal'), join(this.work, 'trash'), this.work);
    }
  }

  /** The source stream, a progress reporter, and this import's journal id and staging area. */
  private async start(source: string | Readable, opts: ImportOptions): Promise<Run> {
    const started = Date.now();
    const input = typeof source === 'string' ? await openSource(source, opts.signal, this.deps.download) : { stream: source, size: opts.sizeHint };
    const total = opts.sizeHint ?? input.size ?? 0;
    const report = (phase: JobProgress['phase'], done: number, pct?: number) =>
      opts.onProgress?.({ phase, percent: pct ?? (total > 0 ? Math.min(99, Math.floor((done / total) * 95)) : 0), bytesDone: done, bytesTotal: total });
    const id = newJournalId();
    const txDir = createStaging(this.work, id, opts.jobId);
    // An earlier run of this job that another worker left (it died staging): this one replaces it.
    if (opts.jobId) cleanStaging(this.work, this.log, { jobId: opts.jobId, except: id });
    return { started, stream: input.stream, ...('file' in input && input.file ? { file: input.file } : {}), report, id, txDir };
  }

  /** Open: the bundle streamed into staging, its signature checked at its head. */
  private async open(run: Run, opts: ImportOptions): Promise<Opened> {
    let signature: SignatureReport | undefined;
    const writeback = backgroundWriteback(run.txDir);
    run.writeback = writeback;
    const bundle = await openBundle(run.stream, join(run.txDir, 'bundle'), {
      ...(this.deps.trust ? { headGate: signatureGate(this.deps.trust, (r) => (signature = r)) } : {}),
      ...(this.deps.limits ? { limits: this.deps.limits } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(run.file ? { file: run.file } : {}),
      onProgress: (p) => run.report('stage', p.bytesIn),
    }).finally(() => writeback.pause());
    failpoint('import:staged');
    run.report('plan', bundle.bytesIn, 96);
    return { bundle, ...(signature ? { signature } : {}) };
  }

  private async plan(bundle: OpenedBundle, opts: ImportOptions): Promise<ImportPlan> {
    return planImport(bundle, {
      installRoot: this.deps.installRoot,
      fromRoot: opts.fromRoot ?? '/install',
      allow: this.deps.allow ?? [],
      litefile: litefileRows(bundle),
      ...(bundle.manifest.flavor === 'xcat' && bundle.manifest.litefile ? { sharedLitefile: await this.deps.tables.litefileRows(['ALL']) } : {}),
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.profile ? { profile: opts.profile } : {}),
    });
  }

  /** Under the image's lock: conflicts → prepare (journal, snapshot of the old image) → commit → result. */
  private async commitUnderLock(run: Run, opened: Opened, plan: ImportPlan, opts: ImportOptions): Promise<ImportResult> {
    const force = opts.force === true;
    const held = await this.hold(plan.name, { wait: true, ...(opts.signal ? { signal: opts.signal } : {}) });
    try {
      failpoint('import:locked');
      opts.signal?.throwIfAborted();
      // Under the lock: finish any earlier import of this image a dead (or failed) owner left.
      ensureNoPending(await recover(this.recoverContext(plan.name)), plan.name);
      const again = opts.jobId ? this.committedBefore(opts.jobId) : undefined;
      if (again) return again;
      const before = await this.deps.tables.getImage(plan.name);
      const moves = await this.conflicts(plan, before, force);
      const journal = await this.journal(run, moves, plan, before, held.lease, opts.jobId);
      const snapshot = await this.snapshotOld(plan.name, before, force, plan.warnings);
      opts.signal?.throwIfAborted();
      run.report('commit', opened.bundle.bytesIn, 98);
      const res = this.result(run, opened, plan, false, journal.moves.map((m) => m.to), snapshot);
      const writeback = run.writeback;
      await commit({ work: this.work, tables: this.deps.tables, log: this.log, allow: this.deps.allow ?? [], ...(writeback ? { sync: (paths: string[]) => writeback.syncNow(paths) } : {}) }, { ...journal, result: res });
      if (opened.signature) this.recordSigner(plan.name, opened.signature, res.warnings);
      run.report('done', opened.bundle.bytesIn, 100);
      this.log.info({ image: plan.name, method: plan.method, signer: opened.signature?.signer }, 'image imported');
      return res;
    } finally {
      await held.release();
    }
  }

  private result(run: Run, { bundle, signature }: Opened, plan: ImportPlan, dryRun: boolean, paths: string[], snapshot?: SnapshotInfo): ImportResult {
    return {
      name: plan.name,
      method: plan.method,
      dryRun,
      paths,
      rows: plan.rows,
      warnings: [...(signature?.warnings ?? []), ...bundle.warnings, ...plan.warnings, ...mediaWarning(bundle, plan, this.deps.installRoot)],
      bytes: bundle.bytesIn,
      entries: bundle.files.size + (bundle.rootimg?.report.entries ?? 0),
      durationMs: Date.now() - run.started,
      ...(snapshot ? { snapshot } : {}),
      ...(signature ? { signature } : {}),
    };
  }

  /** The source is closed; a journal left by a rollback that could not finish keeps its staging area (its backups). */
  private finish(run: Run): void {
    run.stream.destroy();
    if (!existsSync(join(journalDir(this.work), `${run.id}.json`))) moveToTrash(this.work, run.txDir, run.id);
  }

  /** The result of this job's import when it committed already (a retry after its worker died). */
  private committedBefore(jobId: string): ImportResult | undefined {
    const r = readReceipt(this.work, jobId);
    if (!r || typeof r.result !== 'object' || r.result === null) return undefined;
    this.log.warn({ image: r.image, jobId }, 'this job committed its import already (its worker stopped before reporting it): returning that result');
    return r.result as ImportResult;
  }

  /** The signer kept in imgport's bookkeeping; the image is in place already, so a failure only warns. */
  private recordSigner(image: string, signature: SignatureReport, warnings: string[]): void {
    try {
      writeProvenance(this.deps.dataDir, image, signature);
    } catch (err) {
      warnings.push(`the signer of ${image} was not recorded: ${(err as Error).message}`);
    }
  }

  /** IMAGE_EXISTS without force; a destination with other content is a CONFLICT without force. */
  private async conflicts(plan: ImportPlan, before: ImageRecord, force: boolean): Promise<ImportPlan['moves']> {
    if ((before.osimage || before.linuximage) && !force) {
      throw new ImgportError('IMAGE_EXISTS', `image ${plan.name} already exists; use --force to replace it (a snapshot of it is taken first)`);
    }
    const moves: ImportPlan['moves'] = [];
    for (const mv of plan.moves) {
      if (!existsSync(mv.to) && !isLink(mv.to)) {
        moves.push(mv);
        continue;
      }
      if (!force && !mv.dir && mv.sha256 && (await sameFile(mv.to, mv.sha256))) continue;
      if (!force) {
        throw new ImgportError('CONFLICT', `${mv.to} (${mv.what}) already exists with other content; use --force to replace it`, { where: mv.to });
      }
      moves.push(mv);
    }
    return moves;
  }

  /** Prepare: every move staged beside its destination, and the journal that commits or undoes them. */
  private async journal(run: Run, planned: ImportPlan['moves'], plan: ImportPlan, before: ImageRecord, lease: string | undefined, jobId: string | undefined): Promise<Journal> {
    const { id, txDir } = run;
    const outside: string[] = [];
    const txDev = statSync(txDir).dev;
    const moves: JournalMove[] = [];
    let i = 0;
    for (const mv of planned) {
      moves.push(await stageMove(mv, i++, { id, txDir, txDev, outside }));
    }
    const createdDirs = [...new Set(moves.flatMap((m) => missingParents(m.to)))].sort((a, b) => a.length - b.length);
    return {
      v: 2,
      id,
      owner: currentOwner(),
      ...(lease ? { lease } : {}),
      ...(jobId ? { jobId } : {}),
      image: plan.name,
      state: 'prepared',
      txDir,
      moves,
      createdDirs,
      outside,
      rowsBefore: before.osimage || before.linuximage ? before : null,
      rowsAfter: plan.rows,
      ...(await readKitsBefore(this.deps.tables, plan.rows.kits)),
    };
  }

  private async snapshotOld(name: string, before: ImageRecord, force: boolean, warnings: string[]): Promise<SnapshotInfo | undefined> {
    if (!force || !before.osimage || !before.linuximage || !this.deps.snapshots) return undefined;
    try {
      return await this.deps.snapshots.create(name, { label: 'before import --force' });
    } catch (err) {
      // A broken image is a common reason to replace it: say so, and go on.
      if (err instanceof ImgportError && (err.code === 'FILE_MISSING' || err.code === 'IMAGE_NOT_FOUND')) {
        warnings.push(`no snapshot of the replaced image ${name}: ${err.message}`);
        return undefined;
      }
      throw err;
    }
  }
}

/** imgport's work area is left only while it holds something (a journal, a running import). */
function removeIfEmpty(...dirs: string[]): void {
  for (const d of dirs) {
    try {
      rmdirSync(d);
    } catch {
      // Not empty or already gone: both fine.
    }
  }
}

/**
 * Where one move's backup goes, and, for a destination on another filesystem than the staging
 * area (an allowed directory on another mount), a copy of the staged file made there first, so the
 * commit stays a rename (the copy is synced before the journal, like the staging area).
 */
async function stageMove(mv: ImportPlan['moves'][number], i: number, t: { id: string; txDir: string; txDev: number; outside: string[] }): Promise<JournalMove> {
  const replaces = existsSync(mv.to) || isLink(mv.to);
  const anchor = nearestExisting(dirname(mv.to));
  if (statSync(anchor).dev === t.txDev) {
    if (!replaces) return mv;
    mkdirSync(join(t.txDir, 'old'), { recursive: true });
    return { ...mv, backup: join(t.txDir, 'old', String(i)) };
  }
  const copy = join(anchor, `.imgport-${t.id}-${i}`);
  t.outside.push(copy);
  // cp -a keeps modes, owners, links and special files of a tree; arguments only, no shell.
  await execFileP('cp', ['-a', '--no-target-directory', '--', mv.from, copy]);
  if (!replaces) return { ...mv, from: copy };
  const backup = join(dirname(mv.to), `.imgport-${t.id}-old-${i}`);
  t.outside.push(backup);
  return { ...mv, from: copy, backup };
}

function nearestExisting(p: string): string {
  let d = p;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  return d;
}

/**
 * What failed, said plainly: a full disk is DISK_FULL naming the filesystem (whatever stream
 * error it surfaced as, e.g. "Premature close"); anything else as the error says.
 */
function classify(err: unknown, txDir: string): ImgportError {
  const e = err instanceof ImgportError ? err : toImgportError(err);
  if (e.code === 'CANCELLED' || (e.code === 'DISK_FULL' && e.where)) return e;
  if (e.code === 'DISK_FULL') {
    return new ImgportError('DISK_FULL', `disk full at ${txDir} (the install root's filesystem): free space there and try again`, { cause: err, where: txDir });
  }
  const enospc = findErrno(err, 'ENOSPC');
  if (enospc) return new ImgportError('DISK_FULL', `disk full at ${enospc.path ?? txDir}: free space there and try again`, { cause: err, where: enospc.path ?? txDir });
  if (e.code === 'INTERNAL' || e.code === 'IO_ERROR') {
    try {
      const fs = statfsSync(existsSync(txDir) ? txDir : dirname(txDir));
      if (fs.bavail * fs.bsize < 1024 * 1024) return new ImgportError('DISK_FULL', `disk full at ${txDir} (${e.message}): free space there and try again`, { cause: err, where: txDir });
    } catch {
      // Cannot tell: keep the error as it is.
    }
  }
  return e;
}

function findErrno(err: unknown, code: string): NodeJS.ErrnoException | undefined {
  for (let e = err as NodeJS.ErrnoException | undefined, n = 0; e && n < 8; e = (e as { cause?: NodeJS.ErrnoException }).cause, n++) {
    if (e.code === code) return e;
  }
  return undefined;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Compares an existing file with a staged one by hash, streaming (the event loop stays free). */
async function sameFile(path: string, sha256: string): Promise<boolean> {
  if (!lstatSync(path).isFile()) return false;
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex') === sha256;
}

function litefileRows(bundle: OpenedBundle): Row[] {
  const ref = bundle.manifest.litefile;
  if (!ref) return [];
  const staged = bundle.files.get(ref.member);
  if (!staged) return [];
  return parseLitefileCsv(readFileSync(staged.path, 'utf8')).map((r) => ({ ...r }));
}

/** `media required` on an install image: the OS media must have been copied (copycds). */
function mediaWarning(bundle: OpenedBundle, plan: ImportPlan, installRoot: string): string[] {
  if (bundle.manifest.media !== 'required' || existsSync(join(installRoot, plan.os, plan.arch))) return [];
  return [`the OS media for ${plan.os} ${plan.arch} is not in ${join(installRoot, plan.os, plan.arch)}: run copycds before nodeset`];
}

