/**
 * POST /v1/imports: a bundle uploaded as the body (options in the query string), or JSON naming
 * a file on shared storage or an http(s) URL.
 */
import { rm } from 'node:fs/promises';
import type { Express, Request, Response } from 'express';
import { ImgportError } from '@imgport/runtime';
import { importJobId, newJobId, type ImportPayload } from '@imgport/jobs';
import { accepted, submitJob, type Ctx } from '../context.js';
import { parse } from '../errors.js';
import { importJson, importQuery } from '@imgport/contract';
import { resolveSource } from '../sources.js';
import { checkDeclaredLength, spoolUpload } from '../spool.js';

export const BUNDLE_TYPES = ['application/octet-stream', 'application/gzip', 'application/x-gzip', 'application/x-tar', 'application/x-xz'];

/** Options without an undefined member: payloads are compared and hashed as JSON. */
function options(o: Omit<ImportPayload, 'source'>): Omit<ImportPayload, 'source'> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

async function fromUpload(ctx: Ctx, req: Request, res: Response): Promise<void> {
  const opts = options(parse(importQuery, req.query, 'query'));
  const limit = ctx.deps.config.limits.maxBundleBytes;
  checkDeclaredLength(req.headers['content-length'], limit);
  const spooled = await spoolUpload(req, ctx.spool, limit, (n) => ctx.metrics.uploadedBytes.inc(n));
  req.log.info({ sha256: spooled.sha256, bytes: spooled.size, created: spooled.created }, 'bundle spooled');
  const payload: ImportPayload = { source: { kind: 'spool', path: spooled.path, sha256: spooled.sha256, size: spooled.size }, ...opts };
  const job = await submitJob(ctx, 'import', payload, importJobId(payload)).catch(async (err: unknown) => {
    await rm(spooled.path, { force: true });
    throw err;
  });
  // The same bytes and options while that job is unfinished: it has its own spool file already.
  if (job.existing) await rm(spooled.path, { force: true });
  accepted(res, job.id);
}

async function fromJson(ctx: Ctx, req: Request, res: Response): Promise<void> {
  if (Object.keys(req.query).length > 0) {
    throw new ImgportError('BAD_REQUEST', 'query: with a JSON body, give the options in the body, not the query string');
  }
  const { source, ...rest } = parse(importJson, req.body, 'body');
  const payload: ImportPayload = { source: await resolveSource(source, ctx.deps.config.sourceDirs, ctx.deps.config.urlAllow), ...options(rest) };
  // A file on shared storage is identified by path, size and mtime: a retried POST finds its
  // job. A URL's content can change behind the same name, so each URL request is a new job.
  const id = payload.source.kind === 'path' ? importJobId(payload) : newJobId('imp');
  const job = await submitJob(ctx, 'import', payload, id);
  accepted(res, job.id);
}

export function registerImports(app: Express, ctx: Ctx): void {
  app.post('/v1/imports', async (req, res) => {
    if (req.is('application/json')) return fromJson(ctx, req, res);
    if (req.is(BUNDLE_TYPES)) return fromUpload(ctx, req, res);
    throw new ImgportError(
      'BAD_REQUEST',
      `Content-Type ${req.get('content-type') ?? '(none)'}: send the bundle as ${BUNDLE_TYPES.slice(0, 3).join(', ')} or JSON {"source": ...}`,
    );
  });
}
