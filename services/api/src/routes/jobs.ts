/** Job status, listing, cancellation and an export's bundle. Event streams are in events.ts. */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Express, Request } from 'express';
import { ImgportError } from '@imgport/runtime';
import type { JobStatus } from '@imgport/jobs';
import type { Ctx } from '../context.js';
import { parse } from '../errors.js';
import { jobId, jobsQuery } from '@imgport/contract';
import { isInside } from '../sources.js';

/** The job named in the path; a malformed id names no job, so it is a 404 like an unknown one. */
export async function findJob(ctx: Ctx, req: Request<{ id: string }>): Promise<JobStatus> {
  const id = req.params.id;
  const st = jobId.safeParse(id).success ? await ctx.queue.status(id) : undefined;
  if (!st) throw new ImgportError('NOT_FOUND', `job ${id} not found`, { where: 'job' });
  return st;
}

function nextPage(req: Request, offset: number, total: number): string | null {
  if (offset >= total) return null;
  const q = new URLSearchParams(req.query as Record<string, string>);
  q.set('offset', String(offset));
  return `/v1/jobs?${q.toString()}`;
}

export function registerJobs(app: Express, ctx: Ctx): void {
  app.get('/v1/jobs', async (req, res) => {
    const q = parse(jobsQuery, req.query, 'query');
    const { jobs, total } = await ctx.queue.list(q);
    res.json({ jobs, total, limit: q.limit, offset: q.offset, next: nextPage(req, q.offset + jobs.length, total) });
  });

  app.get('/v1/jobs/:id', async (req, res) => {
    res.json(await findJob(ctx, req));
  });

  app.delete('/v1/jobs/:id', async (req, res) => {
    const st = await findJob(ctx, req);
    res.json(await ctx.queue.cancel(st.id));
  });

  app.get('/v1/jobs/:id/bundle', async (req, res) => {
    const st = await findJob(ctx, req);
    const { path, image } = exportedBundle(ctx, st);
    const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new ImgportError('NOT_FOUND', `the bundle of export job ${st.id} is no longer on the server`);
      throw err;
    });
    const size = (await fh.stat()).size;
    res.set({
      'Content-Type': 'application/gzip',
      'Content-Length': String(size),
      'Content-Disposition': `attachment; filename="${image}.tgz"`,
    });
    if (req.method === 'HEAD') {
      await fh.close();
      res.end();
      return;
    }
    await pipeline(fh.createReadStream(), res).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
      req.log.info({ job: st.id }, 'bundle download aborted by the client');
    });
  });
}

/** An export that succeeded, with its file inside IMGPORT_DATA (the result comes from Redis). */
function exportedBundle(ctx: Ctx, st: JobStatus): { path: string; image: string } {
  if (st.type !== 'export') throw new ImgportError('NOT_FOUND', `job ${st.id} is not an export (its type is ${st.type}): it has no bundle`);
  if (st.state !== 'succeeded') throw new ImgportError('CONFLICT', `export job ${st.id} is ${st.state}: its bundle is there once it has succeeded`);
  const result = (st.result ?? {}) as { bundle?: unknown; path?: unknown; image?: unknown };
  const file = result.bundle ?? result.path;
  const path = typeof file === 'string' ? resolve(file) : undefined;
  if (!path || !isInside(resolve(ctx.deps.config.dataDir), path)) {
    throw new ImgportError('NOT_FOUND', `export job ${st.id} has no bundle under IMGPORT_DATA`);
  }
  const name = typeof result.image === 'string' ? result.image : (st.image ?? 'bundle');
  // The name goes into a header: keep it to the image-name alphabet.
  return { path, image: name.replace(/[^A-Za-z0-9._+-]/g, '_') };
}
