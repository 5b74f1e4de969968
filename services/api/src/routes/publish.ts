/**
 * POST /v1/publish: a publish job (issue 13). The server pushes with its own credentials, so an
 * oci:// destination must lie under IMGPORT_URL_ALLOW and a directory inside IMGPORT_SOURCE_DIRS.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';
import { z } from 'zod';
import { ImgportError, urlAllowed } from '@imgport/runtime';
import { accepted, submitJob, type Ctx } from '../context.js';
import { parse } from '../errors.js';
import { isInside } from '../sources.js';

export const publishBody = z.strictObject({
  image: z.string().min(1).max(128),
  snapshot: z.string().min(1).max(200).optional(),
  destination: z.string().min(1).max(4096),
});

export function registerPublish(app: Express, ctx: Ctx): void {
  app.post('/v1/publish', async (req, res) => {
    const body = parse(publishBody, req.body, 'body');
    const cfg = ctx.deps.config;
    let destination = body.destination;
    if (/^oci:\/\//i.test(destination)) {
      if (!urlAllowed(destination, cfg.urlAllow)) throw new ImgportError('BAD_REQUEST', `body.destination: ${destination} is not under an allowed prefix (IMGPORT_URL_ALLOW)`, { where: 'destination' });
    } else {
      const dir = resolve(destination.startsWith('file://') ? fileURLToPath(destination) : destination);
      if (!cfg.sourceDirs.some((d) => isInside(resolve(d), dir))) {
        throw new ImgportError('BAD_REQUEST', `body.destination: ${destination} is neither an oci:// reference nor a directory inside IMGPORT_SOURCE_DIRS`, { where: 'destination' });
      }
      destination = dir;
    }
    const rec = await ctx.deps.tables.getImage(body.image);
    if (!rec.osimage && !body.snapshot) throw new ImgportError('IMAGE_NOT_FOUND', `image ${body.image} not found in the osimage table`, { where: 'image' });
    const job = await submitJob(ctx, 'publish', { image: body.image, ...(body.snapshot ? { snapshot: body.snapshot } : {}), destination });
    accepted(res, job.id);
  });
}
