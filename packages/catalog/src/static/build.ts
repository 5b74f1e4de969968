/**
 * `imgport catalog build <dir>`: an index.json of every bundle under a directory (a web root,
 * a USB disk), its version one above the index it replaces, signed when a key is given.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { ImgportError } from '@imgport/runtime';
import { decodeSshSig, fingerprint } from '@imgport/trust';
import { summarizeBundle, type Decompress } from '../bundle-file.js';
import { CATALOG_NAMESPACE, INDEX_NAME, INDEX_SIG, parseCatalog, serializeCatalog, stampOf, type CatalogDoc, type CatalogEntry } from './index-doc.js';

export interface BuildOptions {
  /** Signs index.json (an sshsig under namespace imgport-catalog). */
  sign?: (namespace: string, data: Buffer) => Promise<Buffer>;
  expiresDays?: number;
  /** At least this version (it is in any case one above the index replaced). */
  version?: number;
  decompress?: Decompress;
  now?: Date;
  onWarning?: (message: string) => void;
}

const BUNDLE = /\.(tgz|tar\.gz|tar|tar\.xz|txz)$/;

export async function buildCatalog(dir: string, o: BuildOptions = {}): Promise<CatalogDoc> {
  const now = o.now ?? new Date();
  const previous = readPrevious(dir);
  const entries: CatalogEntry[] = [];
  for (const file of bundleFiles(dir)) {
    try {
      entries.push(await entryOf(dir, file, o.decompress));
    } catch (err) {
      if (!(err instanceof ImgportError)) throw err;
      o.onWarning?.(`${relative(dir, file)} is left out: ${err.message}`);
    }
  }
  entries.sort((a, b) => a.name.localeCompare(b.name) || a.stamp.localeCompare(b.stamp));
  const version = Math.max((previous?.version ?? 0) + 1, o.version ?? 0);
  const doc: CatalogDoc = {
    imgportCatalog: 1,
    version,
    generated: now.toISOString(),
    expires: new Date(now.getTime() + (o.expiresDays ?? 30) * 86400_000).toISOString(),
    entries,
  };
  const bytes = serializeCatalog(doc);
  const sig = o.sign ? await o.sign(CATALOG_NAMESPACE, bytes) : undefined;
  // The signature lands first: a reader between the two renames sees the old index refused, never a new one unsigned.
  if (sig) writeAtomic(join(dir, INDEX_SIG), sig);
  else rmSync(join(dir, INDEX_SIG), { force: true });
  writeAtomic(join(dir, INDEX_NAME), bytes);
  return doc;
}

async function entryOf(dir: string, file: string, decompress?: Decompress): Promise<CatalogEntry> {
  const summary = await summarizeBundle(file, decompress);
  const st = statSync(file);
  const sha256 = await hashFile(file);
  const stamp = /(\d{8}T\d{6}Z)/.exec(file)?.[1] ?? stampOf(st.mtime);
  let signer: CatalogEntry['signer'] = null;
  if (summary.signature) {
    try {
      signer = { fingerprint: fingerprint(decodeSshSig(summary.signature.toString('utf8')).publicKey) };
    } catch {
      throw new ImgportError('SIGNATURE_INVALID', 'its SHA256SUMS.sig is not an sshsig');
    }
  }
  const rel = relative(dir, file).split(sep);
  const detached = statSync(`${file}.sig`, { throwIfNoEntry: false })?.isFile();
  const url = rel.map(encodeURIComponent).join('/');
  return {
    name: summary.image.name,
    stamp,
    osvers: summary.image.osvers,
    arch: summary.image.arch,
    method: summary.image.provmethod as CatalogEntry['method'],
    ...(summary.image.profile ? { profile: summary.image.profile } : {}),
    size: st.size,
    sha256,
    url,
    signer,
    ...(detached ? { signature: `${url}.sig` } : {}),
  };
}

function bundleFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && BUNDLE.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

function readPrevious(dir: string): CatalogDoc | undefined {
  try {
    return parseCatalog(readFileSync(join(dir, INDEX_NAME)), join(dir, INDEX_NAME));
  } catch {
    return undefined;
  }
}

export async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(c as Buffer);
  return h.digest('hex');
}

export function writeAtomic(path: string, data: Buffer): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
