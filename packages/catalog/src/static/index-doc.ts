/**
 * The static catalog: an `index.json` any web server (or a directory) can hold, listing bundles,
 * with a `version` that only grows and an `expires` time, signed by a detached
 * `index.json.sig` (sshsig, namespace imgport-catalog). Pure: the document and its rules.
 */
import { z } from 'zod';
import { ImgportError } from '@imgport/runtime';

export const CATALOG_NAMESPACE = 'imgport-catalog';
export const INDEX_NAME = 'index.json';
export const INDEX_SIG = 'index.json.sig';
export const INDEX_MAX_BYTES = 16 * 1024 * 1024;

const entry = z.object({
  name: z.string().regex(/^[A-Za-z0-9._+-]{1,128}$/),
  stamp: z.string().regex(/^\d{8}T\d{6}Z$/, 'must be a UTC stamp YYYYMMDDTHHMMSSZ'),
  osvers: z.string().min(1).max(128),
  arch: z.string().min(1).max(64),
  method: z.enum(['install', 'netboot', 'statelite']),
  profile: z.string().max(128).optional(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  url: z.string().min(1).max(4096),
  /** The key that signed the bundle's SHA256SUMS, when it is signed. */
  signer: z.object({ fingerprint: z.string(), principal: z.string().nullable().optional() }).nullable(),
  /** A detached sshsig over the whole bundle file (xcatexport --detached-sig), when there is one. */
  signature: z.string().max(4096).optional(),
});

const doc = z.object({
  imgportCatalog: z.literal(1),
  version: z.number().int().positive(),
  generated: z.string(),
  expires: z.string(),
  entries: z.array(entry).max(100_000),
});

export type CatalogEntry = z.infer<typeof entry>;
export type CatalogDoc = z.infer<typeof doc>;

export function parseCatalog(bytes: Buffer, where: string): CatalogDoc {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ImgportError('BUNDLE_INVALID', `${where} is not JSON`, { where });
  }
  const parsed = doc.safeParse(raw);
  if (!parsed.success) {
    const bad = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'document'}: ${i.message}`).join('; ');
    throw new ImgportError('BUNDLE_INVALID', `${where} is not an imgport catalog: ${bad}`, { where });
  }
  if (!Number.isFinite(Date.parse(parsed.data.expires))) throw new ImgportError('BUNDLE_INVALID', `${where}: expires ${JSON.stringify(parsed.data.expires)} is not a time`, { where });
  return parsed.data;
}

export function serializeCatalog(d: CatalogDoc): Buffer {
  return Buffer.from(`${JSON.stringify(d, null, 2)}\n`);
}

/** What a client remembers of a source: the highest version seen, and its digest. */
export interface SeenState {
  version: number;
  sha256: string;
}

/**
 * Refuses an expired index, one older than what was seen from the same source, and a different
 * index under a version already seen (a replayed or forged one).
 */
export function checkFreshness(d: CatalogDoc, digest: string, seen: SeenState | undefined, where: string, now = Date.now()): void {
  if (Date.parse(d.expires) <= now) {
    throw new ImgportError('CATALOG_STALE', `${where} expired at ${d.expires}: its publisher must rebuild it (imgport catalog build) before it is used`, { where });
  }
  if (!seen) return;
  if (d.version < seen.version) {
    throw new ImgportError('CATALOG_STALE', `${where} is version ${d.version}, older than version ${seen.version} already seen from this source: refused as a rollback`, { where });
  }
  if (d.version === seen.version && digest !== seen.sha256) {
    throw new ImgportError('CATALOG_STALE', `${where} is version ${d.version} again but with other content than the version ${seen.version} seen before: refused`, { where });
  }
}

/** `name` or `name@stamp`: the newest stamp of that name, or that exact one. */
export function selectEntry(d: CatalogDoc, selector: string, where: string): CatalogEntry {
  const [name, stamp] = selector.split('@', 2) as [string, string | undefined];
  const found = d.entries.filter((e) => e.name === name && (stamp === undefined || e.stamp === stamp)).sort((a, b) => b.stamp.localeCompare(a.stamp));
  if (!found[0]) {
    const names = [...new Set(d.entries.map((e) => e.name))].slice(0, 20).join(', ');
    throw new ImgportError('NOT_FOUND', `${where} has no entry ${selector}${names ? ` (it lists ${names})` : ' (it is empty)'}`, { where });
  }
  return found[0];
}

/** UTC stamp of a time, as snapshots name themselves. */
export function stampOf(t: Date): string {
  return t.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
