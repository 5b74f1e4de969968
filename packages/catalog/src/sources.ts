/**
 * The sources pull and import accept beside files and plain URLs: `oci://host/repo:tag` and a
 * catalog entry (`https://site/index.json#name[@stamp]`, `file:///dir#name`, `/dir#name`). Each
 * opens as a verified stream (for an import, no copy staged) or lands in a file, resumably.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { BUNDLE_NAMESPACE } from '@imgport/trust';
import { ImgportError } from '@imgport/runtime';
import type { Credentials } from './oci/auth.js';
import { Registry } from './oci/registry.js';
import { isOciReference, parseOciReference, tagFor } from './oci/reference.js';
import { artifactStream, findSignature, pullToFile, resolveArtifact, type Artifact, type Progress } from './oci/pull.js';
import { entryUrl, loadCatalog, type CatalogContext } from './static/client.js';
import { downloadTo, verifiedStream } from './static/download.js';
import { selectEntry, type CatalogEntry } from './static/index-doc.js';
import type { SignatureVerdict } from './trust-port.js';

export interface SourceContext extends CatalogContext {
  /** Plain HTTP to every registry (--plain-http) ... */
  plainHttp?: boolean;
  /** ... or to these hosts only (IMGPORT_PLAIN_HTTP). */
  plainHosts?: readonly string[];
  credentials?: Credentials;
  onWarning?: (message: string) => void;
  onProgress?: Progress;
}

/** oci://…, or a catalog (URL, file:// or a directory) with '#<entry>' after it. */
export function isPullSource(source: string): boolean {
  return isOciReference(source) || (source.includes('#') && (/^(https?|file):\/\//i.test(source) || source.startsWith('/') || source.startsWith('.')));
}

export function registryFor(host: string, ctx: SourceContext): Registry {
  const plain = ctx.plainHttp === true || (ctx.plainHosts ?? []).includes(host);
  return new Registry(host, { ...(plain ? { plainHttp: true } : {}), ...(ctx.credentials ? { credentials: ctx.credentials } : {}), ...(ctx.http ? { http: ctx.http } : {}) });
}

export interface OpenedPull {
  stream: Readable;
  size: number;
  label: string;
  /** What the bundle will be called: the osimage name, else the entry's or tag's. */
  name: string;
  signature: SignatureVerdict | undefined;
}

/** Opens a pull source as the bundle's byte stream, its signature (manifest or index) judged first. */
export async function openPull(source: string, ctx: SourceContext): Promise<OpenedPull> {
  if (isOciReference(source)) {
    const a = await artifactOf(source, ctx);
    const signature = await judgeArtifact(a, source, ctx);
    return { stream: artifactStream(a, { ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}) }), size: a.size, label: source, name: a.image?.name ?? a.ref.repository.split('/').at(-1)!, signature };
  }
  const { url, entry, signature } = await catalogEntry(source, ctx);
  const stream = verifiedStream(url, entry, { ...ctx, onBytes: (n) => ctx.onProgress?.({ phase: 'downloading', bytesDone: n, bytesTotal: entry.size }) });
  return { stream, size: entry.size, label: source, name: entry.name, signature };
}

export interface PulledFile {
  file: string;
  name: string;
  bytesFetched: number;
  bytesResumed: number;
  signature: SignatureVerdict | undefined;
}

/**
 * Pulls into `dest` (a directory: `<name>.tar` for an artifact, the entry's file name for a
 * catalog). An interrupted pull of the same thing resumes from its `.part`; `verify` (the
 * bundle's signature and checksums) runs on the part before it is renamed into place.
 */
export async function pullFile(source: string, dest: string, ctx: SourceContext & { verify?: (part: string) => Promise<void> }): Promise<PulledFile> {
  let out: { file: string; name: string; fetched: { bytesFetched: number; bytesResumed: number }; signature: SignatureVerdict | undefined };
  if (isOciReference(source)) {
    const a = await artifactOf(source, ctx);
    const signature = await judgeArtifact(a, source, ctx);
    const name = a.image?.name ?? tagFor(a.ref.repository.split('/').at(-1)!);
    const file = target(dest, `${name}.tar`);
    const resume = resumeState(file, { source, digest: a.digest });
    const fetched = await pullToFile(a, `${file}.part`, { resume, ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}) });
    out = { file, name, fetched, signature };
  } else {
    const { url, entry, signature } = await catalogEntry(source, ctx);
    const file = target(dest, decodeURIComponent(basename(url.pathname)) || `${entry.name}.tgz`);
    const state = `${file}.part.json`;
    const prior = readState(state);
    const resume = resumeState(file, { source, digest: entry.sha256 });
    const fetched = await downloadTo(url, `${file}.part`, entry, resume, {
      ...ctx,
      ...(prior?.validator ? { validator: prior.validator } : {}),
      onValidator: (v) => writeFileSync(state, JSON.stringify({ source, digest: entry.sha256, validator: v })),
      onBytes: (n) => ctx.onProgress?.({ phase: 'downloading', bytesDone: n, bytesTotal: entry.size }),
    }).catch((err: unknown) => {
      if (err instanceof ImgportError && err.code === 'CHECKSUM_MISMATCH') dropPart(file);
      throw err;
    });
    out = { file, name: entry.name, fetched, signature };
  }
  try {
    await ctx.verify?.(`${out.file}.part`);
  } catch (err) {
    dropPart(out.file);
    throw err;
  }
  renameSync(`${out.file}.part`, out.file);
  rmSync(`${out.file}.part.json`, { force: true });
  return { file: out.file, name: out.name, bytesFetched: out.fetched.bytesFetched, bytesResumed: out.fetched.bytesResumed, signature: out.signature };
}

async function artifactOf(source: string, ctx: SourceContext): Promise<Artifact> {
  const ref = parseOciReference(source);
  return resolveArtifact(registryFor(ref.host, ctx), ref);
}

/**
 * A signature referrer, when there is one, must verify and satisfy the policy. Without one the
 * bundle's own SHA256SUMS.sig, checked as it is read, is what the policy judges.
 */
async function judgeArtifact(a: Artifact, source: string, ctx: SourceContext): Promise<SignatureVerdict | undefined> {
  const sig = await findSignature(a);
  if (!sig) {
    ctx.onWarning?.(`${source} has no signature referrer; the bundle's own signature is checked as it is read`);
    return undefined;
  }
  const verdict = ctx.judge(sig, a.manifest, { namespace: BUNDLE_NAMESPACE, where: `${source} (signature referrer)`, what: `the artifact ${source}` });
  for (const w of verdict.warnings) ctx.onWarning?.(w);
  return verdict;
}

async function catalogEntry(source: string, ctx: SourceContext): Promise<{ url: URL; entry: CatalogEntry; signature: SignatureVerdict }> {
  const hash = source.indexOf('#');
  if (hash < 0) throw new ImgportError('BAD_REQUEST', `${source}: name the catalog entry after '#' (…/index.json#<name>[@<stamp>])`);
  const cat = await loadCatalog(source.slice(0, hash), ctx);
  for (const w of cat.signature.warnings) ctx.onWarning?.(w);
  const entry = selectEntry(cat.doc, decodeURIComponent(source.slice(hash + 1)), source.slice(0, hash));
  return { url: entryUrl(cat, entry), entry, signature: cat.signature };
}

function target(dest: string, name: string): string {
  return existsSync(dest) && !dest.endsWith('.tar') && !dest.endsWith('.tgz') ? join(dest, name) : dest;
}

/** Resume only a part of the very same thing; anything else starts over. */
function resumeState(file: string, id: { source: string; digest: string }): boolean {
  const state = `${file}.part.json`;
  const prior = readState(state);
  const same = prior?.digest === id.digest && existsSync(`${file}.part`);
  if (!same) writeFileSync(state, JSON.stringify(id));
  return same;
}

function readState(path: string): { source?: string; digest?: string; validator?: string } | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { digest?: string; validator?: string };
  } catch {
    return undefined;
  }
}

function dropPart(file: string): void {
  rmSync(`${file}.part`, { force: true });
  rmSync(`${file}.part.json`, { force: true });
}
