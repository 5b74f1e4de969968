/**
 * Reading a static catalog: where its index.json lies (an http(s) URL, file:///dir, a
 * directory), its signature judged under the trust policy (namespace imgport-catalog), then
 * expiry and rollback checked against what this node last saw from the same source
 * (remembered under IMGPORT_DATA/catalogs/).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ImgportError } from '@imgport/runtime';
import type { Judge, SignatureVerdict } from '../trust-port.js';
import { fetchSmall, type FetchContext } from './download.js';
import { CATALOG_NAMESPACE, checkFreshness, INDEX_MAX_BYTES, INDEX_NAME, parseCatalog, type CatalogDoc, type CatalogEntry, type SeenState } from './index-doc.js';

export interface CatalogContext extends FetchContext {
  judge: Judge;
  /** Where the highest version seen per source is kept; none: no rollback check. */
  stateDir?: string;
  now?: () => number;
}

export interface LoadedCatalog {
  indexUrl: URL;
  doc: CatalogDoc;
  bytes: Buffer;
  sig?: Buffer;
  signature: SignatureVerdict;
}

/** Whether `source` names a catalog (and, after '#', an entry) rather than a bundle. */
export function isCatalogSource(source: string): boolean {
  const base = source.split('#', 1)[0]!;
  if (/^file:\/\//i.test(base)) return true;
  if (/^https?:\/\//i.test(base)) return source.includes('#') || /\/index\.json$/i.test(new URL(base).pathname);
  return false;
}

/** The index.json URL of a catalog source (the part before '#'). */
export function catalogLocation(source: string): URL {
  const base = source.split('#', 1)[0]!;
  let url: URL;
  if (/^(https?|file):\/\//i.test(base)) url = new URL(base);
  else if (isAbsolute(base) || base.startsWith('.')) url = pathToFileURL(resolve(base));
  else throw new ImgportError('BAD_REQUEST', `${JSON.stringify(source)} is not a catalog: give https://.../index.json, file:///dir or a directory`);
  if (url.protocol === 'file:') {
    const path = decodeURIComponent(url.pathname);
    if (existsSync(path) && statSync(path).isDirectory()) return pathToFileURL(join(path, INDEX_NAME));
    return url;
  }
  return /\.json$/i.test(url.pathname) ? url : new URL(`${url.pathname.replace(/\/?$/, '/')}${INDEX_NAME}${url.search}`, url);
}

export async function loadCatalog(source: string, ctx: CatalogContext): Promise<LoadedCatalog> {
  const indexUrl = catalogLocation(source);
  const where = redactUrl(indexUrl);
  const bytes = await fetchSmall(indexUrl, INDEX_MAX_BYTES, ctx);
  if (!bytes) throw new ImgportError('NOT_FOUND', `no catalog at ${where}`, { where });
  const sigUrl = new URL(`${indexUrl.pathname}.sig${indexUrl.search}`, indexUrl);
  const sig = await fetchSmall(sigUrl, 16 * 1024, ctx);
  const signature = ctx.judge(sig, bytes, { namespace: CATALOG_NAMESPACE, where: `${where}.sig`, what: `the catalog ${where}` });
  const doc = parseCatalog(bytes, where);
  const digest = createHash('sha256').update(bytes).digest('hex');
  const key = stateKey(indexUrl);
  const seen = ctx.stateDir ? readSeen(ctx.stateDir, key) : undefined;
  checkFreshness(doc, digest, seen, where, ctx.now ? ctx.now() : Date.now());
  if (ctx.stateDir && (!seen || doc.version > seen.version)) writeSeen(ctx.stateDir, key, { version: doc.version, sha256: digest }, where);
  return { indexUrl, doc, bytes, ...(sig ? { sig } : {}), signature };
}

/**
 * An entry's bundle URL, resolved against the index. A catalog fetched over the network may not
 * point at local files; file:// entries are for file:// catalogs only.
 */
export function entryUrl(cat: LoadedCatalog, entry: CatalogEntry): URL {
  let url: URL;
  try {
    url = new URL(entry.url, cat.indexUrl);
  } catch {
    throw new ImgportError('BUNDLE_INVALID', `catalog entry ${entry.name}@${entry.stamp}: bad url ${JSON.stringify(entry.url)}`);
  }
  const ok = cat.indexUrl.protocol === 'file:' ? ['file:', 'http:', 'https:'] : ['http:', 'https:'];
  if (!ok.includes(url.protocol)) throw new ImgportError('UNSAFE_PATH', `catalog entry ${entry.name}@${entry.stamp} points at ${url.protocol} (${redactUrl(url)}), which a ${cat.indexUrl.protocol} catalog may not name`);
  return url;
}

/** One key per catalog location (fragment and credentials never part of it). */
function stateKey(url: URL): string {
  return createHash('sha256').update(`${url.protocol}//${url.host}${url.pathname}`).digest('hex').slice(0, 32);
}

function readSeen(dir: string, key: string): SeenState | undefined {
  try {
    const s = JSON.parse(readFileSync(join(dir, `${key}.json`), 'utf8')) as Partial<SeenState>;
    return typeof s.version === 'number' && typeof s.sha256 === 'string' ? { version: s.version, sha256: s.sha256 } : undefined;
  } catch {
    return undefined;
  }
}

function writeSeen(dir: string, key: string, s: SeenState, source: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${key}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify({ ...s, source })}\n`);
  renameSync(tmp, join(dir, `${key}.json`));
}

export function redactUrl(url: URL): string {
  return url.protocol === 'file:' ? decodeURIComponent(url.pathname) : `${url.protocol}//${url.host}${url.pathname}`;
}
