/**
 * `GET /v1/snapshots/<a>/diff/<b>`: what changed from store snapshot `a` to `b` (a snapshot id,
 * or `live` for the image as it is now), as the engine's plain diff document (what `imgport
 * diff --json` prints). `?path=` (repeatable) filters, `?stat=1` leaves the change list out,
 * `?limit=` caps it.
 */
import type { Express } from 'express';
import { StoreSnapshots } from '@imgport/engine';
import { ImgportError } from '@imgport/runtime';
import type { Ctx } from '../context.js';

export function registerSnapshotDiff(app: Express, ctx: Ctx): void {
  const { config, tables, log } = ctx.deps;
  const store = ctx.deps.store ?? new StoreSnapshots({ tables, installRoot: config.installRoot, dataDir: config.dataDir, allow: config.allow, log });
  app.get('/v1/snapshots/:a/diff/:b', async (req, res) => {
    const raw = req.query.path;
    const paths = raw === undefined ? undefined : (Array.isArray(raw) ? raw : [raw]).map(String);
    const limitText = typeof req.query.limit === 'string' ? req.query.limit : undefined;
    const limit = limitText === undefined ? undefined : Number(limitText);
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
      throw new ImgportError('BAD_REQUEST', `query.limit: expected a whole number, got ${JSON.stringify(limitText)}`, { where: 'query.limit' });
    }
    const stat = req.query.stat === '1' || req.query.stat === 'true';
    const result = await store.diff(req.params.a, req.params.b, { ...(paths ? { paths } : {}), ...(limit !== undefined ? { limit } : {}) });
    res.json(stat ? { ...result, changes: [] } : result);
  });
}
