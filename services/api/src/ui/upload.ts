/**
 * The import form's upload: multipart/form-data streamed through busboy straight into the spool
 * (never buffered). The CSRF field and the options come before the file in the form, so they
 * are checked before a byte of the bundle is kept; the file is the last part.
 */
import { rm } from 'node:fs/promises';
import type { Request } from 'express';
import busboy from 'busboy';
import { ImgportError } from '@imgport/runtime';
import { importJobId, type ImportPayload } from '@imgport/jobs';
import { submitJob, type Ctx } from '../context.js';
import { parse } from '../errors.js';
import { importQuery } from '@imgport/contract';
import { spoolUpload } from '../spool.js';
import { csrfError, sameSecret } from './session.js';

const OPTION_FIELDS = ['name', 'profile', 'force', 'dryRun'] as const;

function optionsOf(fields: Record<string, string>): Omit<ImportPayload, 'source'> {
  const given: Record<string, string> = {};
  for (const k of OPTION_FIELDS) if (fields[k] !== undefined && fields[k] !== '') given[k] = fields[k];
  const o = parse(importQuery, given, 'body');
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== false));
}

/** Spools the upload and submits its import; returns the job id. */
export function importUpload(ctx: Ctx, req: Request, csrf: string): Promise<string> {
  if (!req.is('multipart/form-data')) {
    return Promise.reject(new ImgportError('BAD_REQUEST', 'the import form is sent as multipart/form-data with the bundle in the "bundle" field'));
  }
  return new Promise<string>((resolve, reject) => {
    const fields: Record<string, string> = {};
    let sawFile = false;
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 16, fieldSize: 8192, parts: 32 } });
    } catch (err) {
      reject(new ImgportError('BAD_REQUEST', `body: ${(err as Error).message}`));
      return;
    }
    const fail = (err: unknown) => {
      req.unpipe(bb);
      reject(err);
    };
    bb.on('field', (name, value) => {
      fields[name] = value;
    });
    bb.on('file', (field, stream, info) => {
      sawFile = true;
      if (!sameSecret(fields._csrf ?? '', csrf)) {
        stream.resume();
        return fail(csrfError());
      }
      if (field !== 'bundle' || !info.filename) {
        stream.resume();
        return fail(new ImgportError('BAD_REQUEST', 'choose a bundle file in the "bundle" field'));
      }
      let opts: Omit<ImportPayload, 'source'>;
      try {
        opts = optionsOf(fields);
      } catch (err) {
        stream.resume();
        return fail(err);
      }
      const limit = ctx.deps.config.limits.maxBundleBytes;
      spoolUpload(stream, ctx.spool, limit, (n) => ctx.metrics.uploadedBytes.inc(n))
        .then(async (spooled) => {
          req.log.info({ sha256: spooled.sha256, bytes: spooled.size, file: info.filename }, 'console: bundle spooled');
          const payload: ImportPayload = { source: { kind: 'spool', path: spooled.path, sha256: spooled.sha256, size: spooled.size }, ...opts };
          const job = await submitJob(ctx, 'import', payload, importJobId(payload)).catch(async (err: unknown) => {
            if (spooled.created) await rm(spooled.path, { force: true });
            throw err;
          });
          resolve(job.id);
        })
        .catch((err: unknown) => {
          stream.resume();
          fail(err);
        });
    });
    bb.on('error', (err) => fail(new ImgportError('BAD_REQUEST', `body: ${(err as Error).message}`)));
    bb.on('close', () => {
      if (!sawFile) fail(new ImgportError('BAD_REQUEST', 'choose a bundle file in the "bundle" field'));
    });
    req.pipe(bb);
  });
}
