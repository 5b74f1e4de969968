/**
 * Snapshots: bulk creation as one parent job, the snapshot store (list, delete) and revert —
 * an import of the snapshot's bundle with force, under the image's own name.
 */
import type { Express } from 'express';
import { ImgportError } from '@imgport/runtime';
import { newJobId } from '@imgport/jobs';
import type { SnapshotInfo } from '@imgport/engine';
import type { ImageFilter, TableStore } from '@imgport/tables';
import type { z } from 'zod';
import { accepted, submitJob, type Ctx } from '../context.js';
import { parse } from '../errors.js';
import { snapshotBody, snapshotsQuery } from '@imgport/contract';
import { spoolFile } from '../spool.js';

type SnapshotRequest = z.output<typeof snapshotBody>;

/** The images a request names, checked against the tables; never empty. */
export async function resolveImages(tables: TableStore, body: SnapshotRequest): Promise<string[]> {
  const given = [body.images, body.selector, body.all].filter((x) => x !== undefined).length;
  if (given !== 1) throw new ImgportError('BAD_REQUEST', 'body: give exactly one of "images", "selector" or "all"');
  if (body.images) {
    const known = new Set((await tables.listImages()).map((i) => i.osimage.imagename));
    const wanted = [...new Set(body.images)];
    const unknown = wanted.filter((n) => !known.has(n));
    if (unknown.length) throw new ImgportError('IMAGE_NOT_FOUND', `no such image: ${unknown.join(', ')}`, { where: 'images' });
    return wanted;
  }
  const filter: ImageFilter = body.selector ?? {};
  const names = (await tables.listImages(filter)).map((i) => i.osimage.imagename).filter((n): n is string => !!n);
  if (names.length === 0) {
    const what = body.all ? 'there are no images in the osimage table' : `no image matches the selector ${JSON.stringify(filter)}`;
    throw new ImgportError('IMAGE_NOT_FOUND', what, { where: 'selector' });
  }
  return names;
}

/**
 * A revert is an import of the snapshot's bundle with force, under the image's own name. The
 * bundle goes to the worker through the spool (a hard link): the worker reads `path` sources
 * only from IMGPORT_SOURCE_DIRS, and snapshots live under IMGPORT_DATA.
 */
export async function submitRevert(ctx: Ctx, info: SnapshotInfo): Promise<{ id: string }> {
  const b = await ctx.deps.snapshots.revertBundle(info.id);
  try {
    const bundle = await spoolFile(b.path, ctx.spool, b.sha256, b.bytes);
    const source = { kind: 'spool' as const, path: bundle.path, sha256: bundle.sha256, size: bundle.size };
    // A fresh id: reverting to the same snapshot again later is a new revert, not a retry that
    // should find the first one (the queue would otherwise derive the id from the bundle).
    return await submitJob(ctx, 'import', { source, force: true, name: info.image }, newJobId('imp'));
  } finally {
    await b.release();
  }
}

export function registerSnapshots(app: Express, ctx: Ctx): void {
  const { snapshots } = ctx.deps;

  app.post('/v1/snapshots', async (req, res) => {
    const body = parse(snapshotBody, req.body, 'body');
    const images = await resolveImages(ctx.deps.tables, body);
    const job = await ctx.queue.submitSnapshots({ images, ...(body.label === undefined ? {} : { label: body.label }) });
    if (!job.existing) ctx.metrics.jobsSubmitted.inc({ type: 'snapshot' });
    accepted(res, job.id);
  });

  app.get('/v1/snapshots', async (req, res) => {
    const { image } = parse(snapshotsQuery, req.query, 'query');
    res.json({ snapshots: await snapshots.list(image) });
  });

  app.post('/v1/snapshots/:id/revert', async (req, res) => {
    const info = await snapshots.get(req.params.id);
    accepted(res, (await submitRevert(ctx, info)).id);
  });

  app.delete('/v1/snapshots/:id', async (req, res) => {
    const info = await snapshots.get(req.params.id);
    await snapshots.remove(info.id);
    res.json({ deleted: info });
  });
}
