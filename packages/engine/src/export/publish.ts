/**
 * Publishing an image or a snapshot: it is exported as an ordinary bundle (signed when a key is
 * configured), then pushed to an OCI registry as an artifact, or placed in a catalog directory
 * whose index.json is rebuilt (`file:///dir` or a plain directory: a USB disk, a web root).
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCatalog, isOciReference, parseOciReference, pushBundle, Registry, retrying, stampOf, type Credentials, type PushResult } from '@imgport/catalog';
import { ImgportError } from '@imgport/runtime';
import type { ExportService } from './service.js';
import { loadSigningKey } from '../trust/signing.js';
import type { SnapshotService } from '../snapshot/bundles.js';
import type { StoreSnapshots } from '../snapshot/store.js';
import type { EngineDeps, ExportResult, JobProgressFn } from '../types.js';

export interface PublishDeps extends Pick<EngineDeps, 'dataDir' | 'signingKey' | 'log'> {
  exports: ExportService;
  snapshots: SnapshotService;
  store: StoreSnapshots;
  /** Registry credentials (IMGPORT_REGISTRY_AUTH) and hosts spoken to over plain HTTP. */
  registry?: { credentials?: Credentials; plainHttp?: readonly string[] };
}

export interface PublishOptions {
  /** Sign with this key (default: the deps' signingKey); false: unsigned. */
  sign?: string | false;
  plainHttp?: boolean;
  mountFrom?: readonly string[];
  chunkBytes?: number;
  signal?: AbortSignal;
  onProgress?: JobProgressFn;
}

export interface PublishResult {
  source: string;
  destination: string;
  image: string;
  bundle: { bytes: number; sha256: string; signed: boolean };
  oci?: PushResult;
  catalog?: { dir: string; file: string; version: number; entries: number };
}

export class PublishService {
  constructor(private readonly deps: PublishDeps) {}

  async run(what: string, dest: string, o: PublishOptions = {}): Promise<PublishResult> {
    const keyPath = o.sign === false ? undefined : (o.sign ?? this.deps.signingKey);
    const scratch = join(this.deps.dataDir, 'tmp', `publish-${randomBytes(6).toString('hex')}`);
    mkdirSync(scratch, { recursive: true });
    try {
      const bundle = await this.bundleOf(what, scratch, keyPath, o);
      const base = { source: what, destination: dest, image: bundle.image, bundle: { bytes: bundle.bytes, sha256: bundle.sha256, signed: keyPath !== undefined } };
      if (isOciReference(dest)) return { ...base, oci: await this.push(bundle.path, dest, keyPath, o) };
      return { ...base, catalog: await this.place(bundle, dest, keyPath) };
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  /** A store snapshot is exported; a .tgz snapshot is used as it is; anything else is an image. */
  private async bundleOf(what: string, scratch: string, key: string | undefined, o: PublishOptions): Promise<ExportResult & { stamp?: string }> {
    const opts = { destination: join(scratch, 'bundle.tgz'), sign: key ?? (false as const), detachedSignature: key !== undefined, ...(o.signal ? { signal: o.signal } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}) };
    if (what.includes('@')) {
      const stamp = what.slice(what.indexOf('@') + 1);
      if (this.deps.store.find(what)) return { ...(await this.deps.store.exportBundle(what, opts)), stamp };
      const info = await this.deps.snapshots.get(what);
      return { image: info.image, method: 'netboot', format: 'native', path: info.path, bytes: info.bytes, sha256: info.sha256, members: [], warnings: [], durationMs: 0, stamp };
    }
    return this.deps.exports.run(what, opts);
  }

  private async push(file: string, dest: string, keyPath: string | undefined, o: PublishOptions): Promise<PushResult> {
    const ref = parseOciReference(dest);
    const plain = o.plainHttp === true || (this.deps.registry?.plainHttp ?? []).includes(ref.host);
    const creds = this.deps.registry?.credentials;
    const registry = new Registry(ref.host, { ...(plain ? { plainHttp: true } : {}), ...(creds ? { credentials: creds } : {}), ...(o.chunkBytes ? { chunkBytes: o.chunkBytes } : {}) });
    const key = keyPath ? loadSigningKey(keyPath) : undefined;
    const progress = o.onProgress;
    // A retry starts over; blobs already in the registry are found by HEAD and not sent again.
    return retrying(
      () =>
        pushBundle(file, registry, ref, {
          ...(o.mountFrom ? { mountFrom: o.mountFrom } : {}),
          ...(key ? { sign: (data: Buffer) => key.sign(data) } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
          ...(progress ? { onProgress: (p) => progress({ phase: p.phase === 'hashing' ? 'verify' : 'write', percent: p.bytesTotal ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }) } : {}),
          created: new Date().toISOString(),
        }),
      { attempts: 4, ...(o.signal ? { signal: o.signal } : {}), onRetry: (err, n) => this.deps.log?.warn({ err: err.message, attempt: n }, 'publish: retrying') },
    );
  }

  private async place(bundle: ExportResult & { stamp?: string }, dest: string, keyPath: string | undefined): Promise<NonNullable<PublishResult['catalog']>> {
    if (/^https?:\/\//i.test(dest)) throw new ImgportError('UNSUPPORTED', `${dest}: a web server cannot be published to; publish to a directory (file:///srv/www/catalog) it serves`);
    const dir = dest.startsWith('file://') ? fileURLToPath(dest) : resolve(dest);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    const stamp = bundle.stamp ?? stampOf(new Date());
    const sub = join(dir, bundle.image);
    mkdirSync(sub, { recursive: true });
    const file = join(sub, `${bundle.image}-${stamp}.tgz`);
    copyAtomic(bundle.path, file);
    if (existsSync(`${bundle.path}.sig`)) copyAtomic(`${bundle.path}.sig`, `${file}.sig`);
    const key = keyPath ? loadSigningKey(keyPath) : undefined;
    const doc = await buildCatalog(dir, { ...(key ? { sign: (ns: string, data: Buffer) => key.signAs(ns, data) } : {}), onWarning: (m) => this.deps.log?.warn(m) });
    return { dir, file: join(bundle.image, basename(file)), version: doc.version, entries: doc.entries.length };
  }
}

function copyAtomic(from: string, to: string): void {
  const tmp = `${to}.${process.pid}.tmp`;
  copyFileSync(from, tmp);
  renameSync(tmp, to);
}
