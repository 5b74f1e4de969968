/**
 * createApp(deps): the express app, built from its dependencies so tests drive it over a real
 * socket. Order matters: request id and logging first, then the open probes, then auth before
 * any body is read, then the routes, then the one error handler.
 */
import express, { type Express } from 'express';
import { bearerAuth } from './auth.js';
import type { Ctx } from './context.js';
import { mountDashboard } from './dashboard.js';
import { DEFAULT_OPTIONS, type AppDeps } from './deps.js';
import { errorHandler, notFound } from './errors.js';
import { requestLogger } from './logging.js';
import { createMetrics } from './metrics.js';
import { openapi } from './openapi.js';
import { guardQueue } from './queue-guard.js';
import { registerEvents } from './routes/events.js';
import { registerCatalog } from './routes/catalog.js';
import { registerExports } from './routes/exports.js';
import { registerPublish } from './routes/publish.js';
import { registerHealth } from './routes/health.js';
import { registerImages } from './routes/images.js';
import { registerImports } from './routes/imports.js';
import { registerJobs } from './routes/jobs.js';
import { registerSnapshots } from './routes/snapshots.js';
import { registerSnapshotDiff } from './routes/snapshot-diff.js';
import { spoolDir } from './spool.js';
import { createConsole } from './ui/router.js';
import { storeDiffPort } from './ui/store-diff.js';
import { sessionMayRead } from './ui/session.js';

export function createApp(deps: AppDeps): Express {
  const queue = guardQueue(deps.queue);
  const ctx: Ctx = {
    deps,
    queue,
    metrics: createMetrics(queue),
    opts: { ...DEFAULT_OPTIONS, ...deps.options },
    spool: spoolDir(deps.config.dataDir),
  };
  if (deps.config.tokens.length === 0) {
    deps.log.error('no API token configured (IMGPORT_TOKENS / IMGPORT_TOKENS_FILE): every request but /healthz and /readyz gets 401');
  }
  const app = express();
  app.disable('x-powered-by');
  app.use(requestLogger(deps.log));
  app.use(ctx.metrics.observe);
  registerHealth(app, ctx);
  // The web console signs in with a token itself; its session also reads the queue dashboard,
  // job event streams and export bundles.
  const ui = createConsole(ctx, deps.snapshotDiff ?? (deps.store ? storeDiffPort(deps.store) : undefined));
  app.use('/ui', ui.router);
  const auth = bearerAuth(deps.config.tokens);
  app.use((req, res, next) => (sessionMayRead(req) && ui.sessions.get(req) ? next() : auth(req, res, next)));
  if (deps.bullQueue) mountDashboard(app, deps.bullQueue);
  app.use(express.json({ limit: '1mb' }));
  app.get('/metrics', async (_req, res) => {
    res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  registerImports(app, ctx);
  registerExports(app, ctx);
  registerSnapshots(app, ctx);
  registerSnapshotDiff(app, ctx);
  registerJobs(app, ctx);
  registerEvents(app, ctx);
  registerImages(app, ctx);
  registerPublish(app, ctx);
  registerCatalog(app, ctx);
  app.use(notFound);
  app.use(errorHandler);
  return app;
}

/** Every route registered on the app, as `METHOD /path` with express's `:param` syntax. */
export function listRoutes(app: Express): Array<{ method: string; path: string }> {
  const out: Array<{ method: string; path: string }> = [];
  for (const layer of app.router.stack) {
    const route = layer.route as { path: string; methods: Record<string, boolean> } | undefined;
    if (!route) continue;
    for (const m of Object.keys(route.methods)) if (m !== '_all') out.push({ method: m.toUpperCase(), path: route.path });
  }
  return out;
}
