/**
 * Export: the image's bundle to IMGPORT_DATA/exports/<job id>.tgz (the API serves it at
 * GET /v1/jobs/<id>/bundle), with the image locked for the whole job so no import changes it
 * half way through.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ExportService, type ExportOptions } from '@imgport/engine';
import { engineDeps, type JobHandler } from '../context.js';
import { withImageLock } from '../image-lock.js';

export function exportPath(dataDir: string, jobId: string): string {
  return join(dataDir, 'exports', `${jobId}.tgz`);
}

export const exportHandler: JobHandler<'export'> = {
  async run(payload, ctx) {
    const destination = exportPath(ctx.deps.dataDir, String(ctx.job.id));
    await mkdir(join(ctx.deps.dataDir, 'exports'), { recursive: true });
    return withImageLock(ctx, payload.image, async () => {
      const res = await new ExportService(engineDeps(ctx.deps, ctx.log)).run(payload.image, {
        destination,
        signal: ctx.signal,
        onProgress: ctx.progress,
        ...(payload.extras ? { extras: payload.extras } : {}),
        ...(payload.format ? { format: payload.format } : {}),
        // The catalog's schema admits only the engine's list kinds.
        ...(payload.include ? { include: payload.include as ExportOptions['include'] } : {}),
      });
      return { ...res, bundle: res.path };
    });
  },
};
