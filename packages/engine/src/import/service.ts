import { randomBytes, createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { openBundle, type OpenedBundle } from '@imgport/archive';
import { parseLitefileCsv } from '@imgport/format';
import { ImgportError, silentLogger, type Logger } from '@imgport/runtime';
import type { ImageRecord, Row } from '@imgport/tables';
import { workDir } from '../layout.js';
import type { EngineDeps, ImportOptions, ImportResult, JobProgress, SnapshotInfo } from '../types.js';
import { checkPlan } from './check.js';
import { commit, missingParents, recover, type Journal } from './journal.js';
import { lockImage } from './lock.js';
import { planImport, type ImportPlan } from './plan.js';
import { openSource, type DownloadOptions } from './source.js';
import { signatureGate, type SignatureReport } from '../signatures.js';
import { writeProvenance } from '../provenance.js';

export interface ImportDeps extends EngineDeps {
  /** Takes the snapshot of an image that --force replaces. */
  snapshots?: { create(image: string, opts?: { label?: string }): Promise<SnapshotInfo> };
  /**
   * Excludes other changes to one image from the conflict check to the end of the commit.
   * Default: a lock file in the install root (one host); the workers pass a Redis lock.
   */
  lockImage?: (image: string, signal?: AbortSignal) => Promise<() => void | Promise<void>>;
  /** Timeouts and allowed URL prefixes for URL sources. */
  download?: DownloadOptions;
}

/**
 * Import a bundle: open → stage and verify → plan → check conflicts → snapshot → commit.
 * Nothing outside the staging area changes before the commit, and the commit is journaled.
 */
export class ImportService {
  private readonly work: string;
  private readonly log: Logger;
  private recovered = false;

  constructor(private readonly deps: ImportDeps) {
    this.work = workDir(deps.installRoot);
    this.log = deps.log ?? silentLogger;
  }

  /** Rolls back or forward what a killed import left behind. Runs once before the first import. */
  async recover(): Promise<Array<{ image: string; outcome: string }>> {
    this.recovered = true;
    const done = await recover(this.work, this.deps.tables);
    for (const d of done) this.log.warn({ image: d.image }, `interrupted import ${d.outcome}`);
    return done;
  }

  async run(source: string | Readable, opts: ImportOptions = {}): Promise<ImportResult> {
    const started = Date.now();
    if (!this.recovered) await this.recover();
    const input = typeof source === 'string' ? await openSource(source, opts.signal, this.deps.download) : { stream: source, size: opts.sizeHint };
    const total = opts.sizeHint ?? input.size ?? 0;
    const report = (phase: JobProgress['phase'], done: number, pct?: number) =>
      opts.onProgress?.({ phase, percent: pct ?? (total > 0 ? Math.min(99, Math.floor((done / total) * 95)) : 0), bytesDone: done, bytesTotal: total });

    const id = randomBytes(6).toString('hex');
    const txDir = join(this.work, 'tx', `${hostname()}~${process.pid}~${id}`);
    mkdirSync(txDir, { recursive: true });
    try {
      let signature: SignatureReport | undefined;
      const bundle = await openBundle(input.stream, join(txDir, 'bundle'), {
        ...(this.deps.trust ? { headGate: signatureGate(this.deps.trust, (r) => (signature = r)) } : {}),
        ...(this.deps.limits ? { limits: this.deps.limits } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (p) => report('stage', p.bytesIn),
      });
      report('plan', bundle.bytesIn, 96);
      const plan = planImport(bundle, {
        installRoot: this.deps.installRoot,
        fromRoot: opts.fromRoot ?? '/install',
        allow: this.deps.allow ?? [],
        litefile: litefileRows(bundle),
        ...(bundle.manifest.flavor === 'xcat' && bundle.manifest.litefile ? { sharedLitefile: await this.deps.tables.litefileRows(['ALL']) } : {}),
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.profile ? { profile: opts.profile } : {}),
      });
      await checkPlan(plan, { installRoot: this.deps.installRoot, allow: this.deps.allow ?? [], tables: this.deps.tables });
      const result = (paths: string[], snapshot?: SnapshotInfo): ImportResult => ({
        name: plan.name,
        method: plan.method,
        dryRun: opts.dryRun === true,
        paths,
        rows: plan.rows,
        warnings: [...(signature?.warnings ?? []), ...bundle.warnings, ...plan.warnings, ...mediaWarning(bundle, plan, this.deps.installRoot)],
        bytes: bundle.bytesIn,
        entries: bundle.files.size + (bundle.rootimg?.report.entries ?? 0),
        durationMs: Date.now() - started,
        ...(snapshot ? { snapshot } : {}),
        ...(signature ? { signature } : {}),
      });
      if (opts.dryRun) {
        const before = await this.deps.tables.getImage(plan.name);
        await this.conflicts(plan, before, opts.force === true);
        return result(plan.moves.map((m) => m.to));
      }
      const unlock = this.deps.lockImage ? await this.deps.lockImage(plan.name, opts.signal) : lockImage(this.work, plan.name);
      try {
        opts.signal?.throwIfAborted();
        const before = await this.deps.tables.getImage(plan.name);
        const journal = await this.journal(id, txDir, plan, before, opts.force === true);
        const snapshot = await this.snapshotOld(plan.name, before, opts.force === true, plan.warnings);
        opts.signal?.throwIfAborted();
        report('commit', bundle.bytesIn, 98);
        await commit(this.work, journal, this.deps.tables);
        if (signature) this.recordSigner(plan.name, signature, plan.warnings);
        report('done', bundle.bytesIn, 100);
        this.log.info({ image: plan.name, method: plan.method, signer: signature?.signer }, 'image imported');
        return result(journal.moves.map((m) => m.to), snapshot);
      } finally {
        await unlock();
      }
    } finally {
      input.stream.destroy();
      rmSync(txDir, { recursive: true, force: true });
      removeIfEmpty(join(this.work, 'tx'), join(this.work, 'locks'), join(this.work, 'journal'), this.work);
    }
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

  private async journal(id: string, txDir: string, plan: ImportPlan, before: ImageRecord, force: boolean): Promise<Journal> {
    const moves: Journal['moves'] = (await this.conflicts(plan, before, force)).map((mv, i) =>
      existsSync(mv.to) || isLink(mv.to) ? { ...mv, backup: join(txDir, 'old', String(i)) } : mv,
    );
    if (moves.some((m) => m.backup)) mkdirSync(join(txDir, 'old'));
    const createdDirs = [...new Set(moves.flatMap((m) => missingParents(m.to)))].sort((a, b) => a.length - b.length);
    return {
      id,
      host: hostname(),
      pid: process.pid,
      image: plan.name,
      state: 'prepared',
      txDir,
      moves,
      createdDirs,
      rowsBefore: before.osimage || before.linuximage ? before : null,
      rowsAfter: plan.rows,
      allow: [...(this.deps.allow ?? [])],
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

