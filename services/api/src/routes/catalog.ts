/**
 * GET /v1/catalog/index.json (+ .sig) and /v1/catalog/bundles/<id>: this node's snapshot bundles
 * as a static catalog (issue 13), so one management node can host images for others
 * (`imgport pull https://mgmt01:8080/v1/catalog/index.json#<image>` with IMGPORT_CATALOG_TOKEN).
 * The index is rebuilt only when the snapshots change (its version then grows by one) or it
 * nears expiry, and kept with its signature, so the index and the .sig always belong together.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Express } from 'express';
import { serializeCatalog, stampOf, writeAtomic, CATALOG_NAMESPACE, type CatalogDoc, type CatalogEntry } from '@imgport/catalog';
import { loadSigningKey } from '@imgport/engine';
import { ImgportError } from '@imgport/runtime';
import type { Ctx } from '../context.js';

const WEEK = 7 * 86400_000;

export function registerCatalog(app: Express, ctx: Ctx): void {
  app.get('/v1/catalog/index.json', async (_req, res) => {
    const { bytes } = await current(ctx);
    res.type('application/json').send(bytes);
  });
  app.get('/v1/catalog/index.json.sig', async (_req, res) => {
    const { sig } = await current(ctx);
    if (!sig) throw new ImgportError('NOT_FOUND', 'the catalog is not signed: IMGPORT_SIGNING_KEY is not set on this server');
    res.type('text/plain').send(sig);
  });
  app.get('/v1/catalog/bundles/:id', async (req, res) => {
    const info = await ctx.deps.snapshots.get(String(req.params.id));
    if (!info.path || !existsSync(info.path)) throw new ImgportError('NOT_FOUND', `snapshot ${info.id} has no bundle file on this server`);
    // sendFile answers Range and If-Range (ETag, Last-Modified): downloads resume.
    res.sendFile(info.path, { dotfiles: 'allow', headers: { 'content-type': 'application/gzip' } });
  });
}

interface Served {
  bytes: Buffer;
  sig?: Buffer;
}

async function current(ctx: Ctx): Promise<Served> {
  const dir = join(ctx.deps.config.dataDir, 'catalog');
  const entries = await entriesOf(ctx);
  const digest = createHash('sha256').update(JSON.stringify(entries)).digest('hex');
  const state = readState(dir);
  const key = ctx.deps.config.signatures.signingKey;
  if (state && state.digest === digest && Date.parse(state.doc.expires) - Date.now() > 86400_000 && existsSync(join(dir, 'index.json')) && (!key || existsSync(join(dir, 'index.json.sig')))) {
    return { bytes: readFileSync(join(dir, 'index.json')), ...(key ? { sig: readFileSync(join(dir, 'index.json.sig')) } : {}) };
  }
  const now = new Date();
  const doc: CatalogDoc = { imgportCatalog: 1, version: (state?.doc.version ?? 0) + 1, generated: now.toISOString(), expires: new Date(now.getTime() + WEEK).toISOString(), entries };
  const bytes = serializeCatalog(doc);
  mkdirSync(dir, { recursive: true });
  const sig = key ? await loadSigningKey(key).signAs(CATALOG_NAMESPACE, bytes) : undefined;
  if (sig) writeAtomic(join(dir, 'index.json.sig'), sig);
  writeAtomic(join(dir, 'index.json'), bytes);
  writeAtomic(join(dir, 'state.json'), Buffer.from(JSON.stringify({ digest, doc: { version: doc.version, expires: doc.expires } })));
  return { bytes, ...(sig ? { sig } : {}) };
}

async function entriesOf(ctx: Ctx): Promise<CatalogEntry[]> {
  const out: CatalogEntry[] = [];
  const rows = new Map((await ctx.deps.tables.listImages()).map((i) => [String(i.osimage.imagename ?? ''), i.osimage]));
  for (const s of await ctx.deps.snapshots.list()) {
    const row = rows.get(s.image);
    if (!s.path || !/^[0-9a-f]{64}$/.test(s.sha256 ?? '') || !row || !existsSync(s.path)) continue;
    const method = String(row.provmethod ?? '');
    if (method !== 'install' && method !== 'netboot' && method !== 'statelite') continue;
    out.push({
      name: s.image,
      stamp: /^\d{8}T\d{6}Z$/.test(s.timestamp) ? s.timestamp : stampOf(new Date(s.createdAt)),
      osvers: String(row.osvers ?? 'unknown'),
      arch: String(row.osarch ?? 'unknown'),
      method,
      ...(row.profile ? { profile: String(row.profile) } : {}),
      size: s.bytes,
      sha256: s.sha256,
      url: `bundles/${encodeURIComponent(s.id)}`,
      signer: s.signer ? { fingerprint: s.signer.fingerprint } : null,
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.stamp.localeCompare(b.stamp));
}

function readState(dir: string): { digest: string; doc: { version: number; expires: string } } | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { digest: string; doc: { version: number; expires: string } };
  } catch {
    return undefined;
  }
}
