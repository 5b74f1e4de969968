import type { Express } from 'express';
import { ImgportError } from '@imgport/runtime';
import { accepted, submitJob, type Ctx } from '../context.js';
import { parse } from '../errors.js';
import { exportBody } from '@imgport/contract';

/** POST /v1/exports: the image must have both rows now, so a typo is a 404 rather than a failed job. */
export function registerExports(app: Express, ctx: Ctx): void {
  app.post('/v1/exports', async (req, res) => {
    const body = parse(exportBody, req.body, 'body');
    const rec = await ctx.deps.tables.getImage(body.image);
    if (!rec.osimage) throw new ImgportError('IMAGE_NOT_FOUND', `image ${body.image} not found in the osimage table`, { where: 'image' });
    if (!rec.linuximage) throw new ImgportError('IMAGE_NOT_FOUND', `image ${body.image} has no linuximage row`, { where: 'image' });
    const job = await submitJob(ctx, 'export', body);
    accepted(res, job.id);
  });
}
