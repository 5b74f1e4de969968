/**
 * The web console under /ui: server-rendered pages over the same context as the API routes,
 * signed in with an API token (session cookie, CSRF token per session). Every page works
 * without JavaScript; htmx (from node_modules) adds live job updates and upload progress.
 */
import { createReadStream } from 'node:fs';
import { readFileSync } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import express, { Router, type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { ImgportError } from '@imgport/runtime';
import type { SnapshotInfo } from '@imgport/engine';
import type { JobState } from '@imgport/jobs';
import type { Row } from '@imgport/tables';
import { submitJob, type Ctx } from '../context.js';
import { asImgportError, parse } from '../errors.js';
import { imageReadiness } from '@imgport/engine';
import { resolveImages, submitRevert } from '../routes/snapshots.js';
import { exportBody, jobId, snapshotBody } from '@imgport/contract';
import type { SnapshotDiffPort } from './diff.js';
import type { Html } from './html.js';
import { CsrfError, csrfError, sameSecret, Sessions, type Session } from './session.js';
import { CSS, SCRIPT } from './static.js';
import { importUpload } from './upload.js';
import * as v from './views.js';
import { isFinished, JOB_STATES } from '@imgport/contract';

export interface Console {
  router: Router;
  sessions: Sessions;
}

type Asset = { type: string; body: Buffer; gzip?: Buffer };

function loadAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const htmxDir = join(dirname(require.resolve('htmx.org/package.json')), 'dist');
  const sseDir = join(dirname(require.resolve('htmx-ext-sse/package.json')), 'dist');
  const js = 'text/javascript; charset=utf-8';
  return new Map<string, Asset>([
    ['htmx.min.js', { type: js, body: readFileSync(join(htmxDir, 'htmx.min.js')), gzip: readFileSync(join(htmxDir, 'htmx.min.js.gz')) }],
    ['sse.js', { type: js, body: readFileSync(join(sseDir, 'sse.min.js')), gzip: readFileSync(join(sseDir, 'sse.min.js.gz')) }],
    ['console.css', { type: 'text/css; charset=utf-8', body: Buffer.from(CSS) }],
    ['console.js', { type: js, body: Buffer.from(SCRIPT) }],
  ]);
}


declare module 'express-serve-static-core' {
  interface Request {
    uiSession?: Session;
  }
}

/** Pages go out gzipped when the client takes it (a long snapshot timeline is mostly markup). */
const send = (res: Response, page: Html, status = 200) => {
  res.status(status).set({
    'Cache-Control': 'no-store',
    'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    Vary: 'Accept-Encoding',
  });
  res.type('html');
  if (page.value.length > 2048 && res.req.acceptsEncodings('gzip') === 'gzip') {
    res.set('Content-Encoding', 'gzip').send(gzipSync(page.value, { level: 6 }));
  } else res.send(page.value);
};

const isSecure = (req: Request) => req.secure;

/** Only console paths are followed after sign-in (no open redirect). */
const safeNext = (n: unknown): string => (typeof n === 'string' && /^\/ui(\/[A-Za-z0-9._~%@+\-/?=&]*)?$/.test(n) && !n.startsWith('//') ? n : '/ui/images');

const asList = (x: unknown): string[] => (Array.isArray(x) ? x.map(String) : typeof x === 'string' ? [x] : []);

async function filesOf(rows: Array<Row | undefined>): Promise<v.FileState[]> {
  const out: v.FileState[] = [];
  for (const row of rows) {
    if (!row) continue;
    for (const [column, value] of Object.entries(row)) {
      if (column === 'imagename' || typeof value !== 'string') continue;
      for (const path of value.split(',').map((s) => s.trim())) {
        if (!path.startsWith('/') || out.length >= 64) continue;
        const st = await stat(path).catch(() => undefined);
        const f: v.FileState = { column, path, exists: !!st };
        if (st?.isDirectory()) {
          const names = (await readdir(path).catch(() => [] as string[])).sort().slice(0, 50);
          f.entries = await Promise.all(
            names.map(async (name) => {
              const e = await lstat(join(path, name)).catch(() => undefined);
              return { name, dir: !!e?.isDirectory(), size: e?.size ?? 0 };
            }),
          );
        }
        out.push(f);
      }
    }
  }
  return out;
}

export function createConsole(ctx: Ctx, diffPort?: SnapshotDiffPort): Console {
  const { deps } = ctx;
  const sessions = new Sessions(deps.config.tokens);
  const assets = loadAssets();
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 10_000 });

  router.get('/assets/:name', (req, res, next) => {
    const a = assets.get(String(req.params.name));
    if (!a) return next();
    const gz = a.gzip && req.acceptsEncodings('gzip') === 'gzip';
    res.set({ 'Content-Type': a.type, 'Cache-Control': 'public, max-age=3600', Vary: 'Accept-Encoding' });
    if (gz) res.set('Content-Encoding', 'gzip');
    res.send(gz ? a.gzip : a.body);
  });

  router.get('/login', (req, res) => {
    if (sessions.get(req)) return res.redirect(303, safeNext(req.query.next));
    send(res, v.loginPage(undefined, safeNext(req.query.next)));
  });

  router.post('/login', form, (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const token = typeof body.token === 'string' ? body.token : '';
    if (!sessions.validToken(token)) {
      req.log.warn('console: sign-in with an unknown token');
      return send(res, v.loginPage('That token is not one of the server\'s API tokens.', safeNext(body.next)), 401);
    }
    sessions.create(res, isSecure(req));
    res.redirect(303, safeNext(body.next));
  });

  // Everything below needs a session.
  router.use((req, res, next) => {
    const s = sessions.get(req);
    if (!s) return res.redirect(303, `/ui/login?next=${encodeURIComponent(req.originalUrl)}`);
    req.uiSession = s;
    next();
  });
  const csrfOf = (req: Request) => req.uiSession!.csrf;
  const checked: RequestHandler[] = [
    form,
    (req, _res, next: NextFunction) => {
      const t = (req.body as Record<string, unknown> | undefined)?._csrf;
      if (typeof t !== 'string' || !sameSecret(t, csrfOf(req))) throw csrfError();
      next();
    },
  ];

  router.get(['/', ''], (_req, res) => res.redirect(303, '/ui/images'));

  router.post('/logout', ...checked, (req, res) => {
    sessions.destroy(req, res, isSecure(req));
    res.redirect(303, '/ui/login');
  });

  router.get('/images', async (req, res) => {
    const [rows, snaps] = await Promise.all([deps.tables.listImages({}), deps.snapshots.list()]);
    const byImage = new Map<string, SnapshotInfo[]>();
    for (const s of snaps) byImage.set(s.image, [...(byImage.get(s.image) ?? []), s]);
    const images = await Promise.all(
      rows.map(async ({ osimage, linuximage }) => {
        const name = osimage.imagename ?? '';
        const mine = byImage.get(name) ?? [];
        const r = await imageReadiness(deps.config.installRoot, osimage, linuximage);
        return { name, osimage, ...r, snapshots: mine.length, ...(mine[0] ? { last: mine[0] } : {}) };
      }),
    );
    send(res, v.imagesPage(csrfOf(req), images));
  });

  router.get('/images/:name', async (req, res) => {
    const name = String(req.params.name);
    const rec = await deps.tables.getImage(name);
    if (!rec.osimage) throw new ImgportError('IMAGE_NOT_FOUND', `image ${name} not found in the osimage table`);
    const [r, files, snapshots] = await Promise.all([
      imageReadiness(deps.config.installRoot, rec.osimage, rec.linuximage),
      filesOf([rec.linuximage]),
      deps.snapshots.list(name).catch(() => [] as SnapshotInfo[]),
    ]);
    const pageNo = Math.max(1, Math.floor(Number(req.query.page)) || 1);
    const detail = { name, osimage: rec.osimage, ...(rec.linuximage ? { linuximage: rec.linuximage } : {}), litefile: rec.litefile, ...r, files, snapshots };
    send(res, v.imagePage(csrfOf(req), detail, pageNo));
  });

  router.post('/images/:name/prune', ...checked, async (req, res) => {
    const name = String(req.params.name);
    const body = req.body as Record<string, unknown>;
    if (body.confirm !== name) throw new ImgportError('BAD_REQUEST', `type the image name ${name} exactly to confirm the prune`);
    const keep = Number(body.keep);
    if (!Number.isInteger(keep) || keep < 0) throw new ImgportError('BAD_REQUEST', `keep must be a whole number >= 0, got ${String(body.keep)}`);
    const all = await deps.snapshots.list(name);
    for (const s of all.slice(keep)) await deps.snapshots.remove(s.id);
    req.log.info({ image: name, keep, removed: Math.max(0, all.length - keep) }, 'console: pruned snapshots');
    res.redirect(303, `/ui/images/${encodeURIComponent(name)}`);
  });

  /** The snapshot and the one before it (snapshots list newest first). */
  async function withPrevious(id: string): Promise<{ s: SnapshotInfo; previous?: SnapshotInfo }> {
    const s = await deps.snapshots.get(id);
    const all = await deps.snapshots.list(s.image);
    const i = all.findIndex((x) => x.id === s.id);
    const previous = i >= 0 ? all[i + 1] : undefined;
    return previous ? { s, previous } : { s };
  }

  router.get('/snapshots/:id', async (req, res) => {
    const { s, previous } = await withPrevious(String(req.params.id));
    const diff = previous && diffPort ? await diffPort.diff(previous, s).catch(() => undefined) : undefined;
    send(res, v.snapshotPage(csrfOf(req), s, previous, diff));
  });

  router.get('/snapshots/:id/bundle', async (req, res) => {
    const s = await deps.snapshots.get(String(req.params.id));
    const b = await deps.snapshots.revertBundle(s.id);
    res.on('close', () => void b.release());
    const path = b.path;
    const size = (await stat(path)).size;
    res.set({
      'Content-Type': 'application/gzip',
      'Content-Length': String(size),
      'Content-Disposition': `attachment; filename="${`${s.image}@${s.timestamp}`.replace(/[^A-Za-z0-9._+@-]/g, '_')}.tgz"`,
    });
    await pipeline(createReadStream(path), res).catch(() => undefined);
  });

  router.get('/snapshots/:id/revert', async (req, res) => {
    send(res, v.revertPage(csrfOf(req), await deps.snapshots.get(String(req.params.id))));
  });

  router.post('/snapshots/:id/revert', ...checked, async (req, res) => {
    const info = await deps.snapshots.get(String(req.params.id));
    if ((req.body as Record<string, unknown>).confirm !== info.image) {
      return send(res, v.revertPage(csrfOf(req), info, `Type the image name ${info.image} exactly to confirm the revert.`), 400);
    }
    const job = await submitRevert(ctx, info);
    res.redirect(303, `/ui/jobs/${encodeURIComponent(job.id)}`);
  });

  router.post('/snapshots', ...checked, async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const label = typeof body.label === 'string' && body.label !== '' ? { label: body.label } : {};
    const picked = asList(body.images);
    const request = body.scope === 'all' ? { all: true as const, ...label } : { images: picked, ...label };
    if (body.scope !== 'all' && picked.length === 0) throw new ImgportError('BAD_REQUEST', 'select at least one image to snapshot');
    const parsed = parse(snapshotBody, request, 'body');
    const images = await resolveImages(deps.tables, parsed);
    const job = await ctx.queue.submitSnapshots({ images, ...(parsed.label === undefined ? {} : { label: parsed.label }) });
    if (!job.existing) ctx.metrics.jobsSubmitted.inc({ type: 'snapshot' });
    res.redirect(303, `/ui/jobs/${encodeURIComponent(job.id)}`);
  });

  router.post('/exports', ...checked, async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const parsed = parse(exportBody, { image: body.image, ...(body.format ? { format: body.format } : {}), ...(body.includeAll ? { include: 'all' } : {}) }, 'body');
    const rec = await deps.tables.getImage(parsed.image);
    if (!rec.osimage || !rec.linuximage) throw new ImgportError('IMAGE_NOT_FOUND', `image ${parsed.image} needs both its osimage and linuximage rows to be exported`);
    const job = await submitJob(ctx, 'export', parsed);
    res.redirect(303, `/ui/jobs/${encodeURIComponent(job.id)}`);
  });

  router.get('/import', (req, res) => send(res, v.importPage(csrfOf(req))));

  router.post('/imports', async (req, res) => {
    const id = await importUpload(ctx, req, csrfOf(req));
    res.redirect(303, `/ui/jobs/${encodeURIComponent(id)}`);
  });

  const jobList = async (req: Request) => {
    const state = typeof req.query.state === 'string' && (JOB_STATES as readonly string[]).includes(req.query.state) ? (req.query.state as JobState) : undefined;
    const { jobs, total } = await ctx.queue.list({ limit: 100, offset: 0, ...(state ? { state } : {}) });
    return { jobs, total, state };
  };

  router.get('/jobs', async (req, res) => {
    const { jobs, total, state } = await jobList(req);
    send(res, v.jobsPage(csrfOf(req), jobs, total, state));
  });

  router.get('/jobs/rows', async (req, res) => {
    const { jobs, state } = await jobList(req);
    send(res, v.jobRows(jobs, state));
  });

  const findJob = async (id: string) => {
    const st = jobId.safeParse(id).success ? await ctx.queue.status(id) : undefined;
    if (!st) throw new ImgportError('NOT_FOUND', `job ${id} not found`);
    return st;
  };

  router.get('/jobs/:id', async (req, res) => {
    send(res, v.jobPage(csrfOf(req), await findJob(String(req.params.id))));
  });

  router.post('/jobs/:id/cancel', ...checked, async (req, res) => {
    const st = await findJob(String(req.params.id));
    if (!isFinished(st.state)) await ctx.queue.cancel(st.id);
    res.redirect(303, `/ui/jobs/${encodeURIComponent(st.id)}`);
  });

  router.use((req) => {
    throw new ImgportError('NOT_FOUND', `no console page ${req.path}`);
  });

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    if (res.headersSent) return void res.destroy();
    if (!req.complete) res.set('Connection', 'close');
    const csrf = req.uiSession?.csrf;
    if (err instanceof CsrfError) return send(res, v.errorPage(csrf, 403, err.code, err.message), 403);
    const e = asImgportError(err);
    if (e.httpStatus >= 500) req.log.error({ err }, 'console: request failed');
    const message = e.code === 'INTERNAL' ? `internal error (request ${String(req.id)})` : e.message;
    const back = req.get('referer');
    send(res, v.errorPage(csrf, e.httpStatus, e.code, message, back && safeNext(new URL(back, 'http://x').pathname)), e.httpStatus);
  };
  router.use(onError);
  return { router, sessions };
}
