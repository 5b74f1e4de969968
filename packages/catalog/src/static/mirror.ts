/**
 * `imgport catalog mirror <src> <dir>`: every bundle of a catalog copied into a directory (an
 * air-gapped site's USB disk or web root), each checked against the sha256 the signed index
 * lists, resumably. Upstream's index.json and its signature are kept byte for byte, so the
 * mirror verifies exactly as upstream did; with the site's own key, the mirror gets its own
 * index (own version and expiry) and upstream's is kept under upstream/.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ImgportError } from '@imgport/runtime';
import { entryUrl, loadCatalog, type CatalogContext } from './client.js';
import { downloadTo, fetchSmall } from './download.js';
import { hashFile, writeAtomic } from './build.js';
import { CATALOG_NAMESPACE, INDEX_NAME, INDEX_SIG, parseCatalog, serializeCatalog, type CatalogDoc, type CatalogEntry } from './index-doc.js';

export interface MirrorOptions {
  /** The site's key: the mirror's index is rewritten and signed with it. */
  sign?: (namespace: string, data: Buffer) => Promise<Buffer>;
  expiresDays?: number;
  onEntry?: (e: CatalogEntry, how: 'copied' | 'present', bytes: number) => void;
  onBytes?: (done: number, total: number) => void;
}

export interface MirrorResult {
  dir: string;
  version: number;
  entries: number;
  bytesFetched: number;
  signedBy: 'upstream' | 'site' | 'nobody';
}

export async function mirrorCatalog(source: string, dir: string, ctx: CatalogContext, o: MirrorOptions = {}): Promise<MirrorResult> {
  const cat = await loadCatalog(source, ctx);
  mkdirSync(dir, { recursive: true });
  const total = cat.doc.entries.reduce((n, e) => n + e.size, 0);
  let done = 0;
  let fetched = 0;
  const local: CatalogEntry[] = [];
  for (const e of cat.doc.entries) {
    const url = entryUrl(cat, e);
    const rel = localPath(e);
    const file = join(dir, ...rel.split('/'));
    mkdirSync(dirname(file), { recursive: true });
    if (existsSync(file) && (await hashFile(file)) === e.sha256) {
      o.onEntry?.(e, 'present', 0);
    } else {
      const base = done;
      const r = await downloadTo(url, `${file}.part`, e, existsSync(`${file}.part`), { ...ctx, onBytes: (n) => o.onBytes?.(base + n, total) }).catch((err: unknown) => {
        if (err instanceof ImgportError && err.code === 'CHECKSUM_MISMATCH') rmSync(`${file}.part`, { force: true });
        throw err;
      });
      renameSync(`${file}.part`, file);
      fetched += r.bytesFetched;
      o.onEntry?.(e, 'copied', r.bytesFetched);
    }
    if (e.signature) {
      const sig = await fetchSmall(new URL(e.signature, cat.indexUrl), 16 * 1024, ctx);
      if (sig) writeAtomic(`${file}.sig`, sig);
    }
    done += e.size;
    local.push({ ...e, url: rel.split('/').map(encodeURIComponent).join('/'), ...(e.signature ? { signature: `${rel.split('/').map(encodeURIComponent).join('/')}.sig` } : {}) });
  }
  const verbatim = cat.doc.entries.every((e, i) => e.url === local[i]!.url);
  if (!o.sign) {
    if (!verbatim) throw new ImgportError('UNSUPPORTED', `${source} names bundles by absolute URLs; a mirror keeping upstream's signed index cannot point at its own copies: mirror with --sign (the site's key)`);
    if (cat.sig) writeAtomic(join(dir, INDEX_SIG), cat.sig);
    writeAtomic(join(dir, INDEX_NAME), cat.bytes);
    return { dir, version: cat.doc.version, entries: local.length, bytesFetched: fetched, signedBy: cat.sig ? 'upstream' : 'nobody' };
  }
  mkdirSync(join(dir, 'upstream'), { recursive: true });
  writeAtomic(join(dir, 'upstream', INDEX_NAME), cat.bytes);
  if (cat.sig) writeAtomic(join(dir, 'upstream', INDEX_SIG), cat.sig);
  const previous = readPrevious(join(dir, INDEX_NAME));
  const now = new Date();
  const doc: CatalogDoc = {
    imgportCatalog: 1,
    version: Math.max((previous?.version ?? 0) + 1, cat.doc.version),
    generated: now.toISOString(),
    expires: new Date(now.getTime() + (o.expiresDays ?? 30) * 86400_000).toISOString(),
    entries: local,
  };
  const bytes = serializeCatalog(doc);
  writeAtomic(join(dir, INDEX_SIG), await o.sign(CATALOG_NAMESPACE, bytes));
  writeAtomic(join(dir, INDEX_NAME), bytes);
  return { dir, version: doc.version, entries: local.length, bytesFetched: fetched, signedBy: 'site' };
}

/** Where an entry lives in the mirror: its relative URL's path, else `<name>/<file>`. */
function localPath(e: CatalogEntry): string {
  const relative = !/^[a-z][a-z0-9+.-]*:/i.test(e.url) && !e.url.startsWith('/');
  const path = (relative ? e.url.split(/[?#]/, 1)[0]! : `${e.name}/${new URL(e.url).pathname.split('/').at(-1) ?? `${e.name}-${e.stamp}.tgz`}`).split('/').map(decodeURIComponent);
  if (path.some((c) => c === '' || c === '.' || c === '..' || /[\/\0]/.test(c))) throw new ImgportError('UNSAFE_PATH', `catalog entry ${e.name}@${e.stamp}: url ${JSON.stringify(e.url)} cannot be placed in a mirror`);
  return path.join('/');
}

function readPrevious(path: string): CatalogDoc | undefined {
  try {
    return parseCatalog(readFileSync(path), path);
  } catch {
    return undefined;
  }
}
