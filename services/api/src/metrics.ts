/**
 * Prometheus metrics on a registry of the app's own (several apps can live in one test
 * process): Node's defaults, request durations by route, bytes uploaded, jobs submitted by
 * type, and the queue's jobs by state read at scrape time.
 */
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { JOB_STATES, type JobQueuePort } from '@imgport/jobs';

export interface ApiMetrics {
  registry: Registry;
  observe: RequestHandler;
  uploadedBytes: Counter;
  jobsSubmitted: Counter<'type'>;
}

export function createMetrics(queue: JobQueuePort): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'imgport_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers: [registry],
  });
  const uploadedBytes = new Counter({
    name: 'imgport_upload_bytes_total',
    help: 'Bundle bytes received by POST /v1/imports',
    registers: [registry],
  });
  const jobsSubmitted = new Counter({
    name: 'imgport_jobs_submitted_total',
    help: 'Jobs enqueued through the API by type (an idempotent resubmission is not counted)',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'imgport_jobs',
    help: 'Jobs by state, read from the queue at scrape time',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      // Redis down: the gauge keeps its last values rather than failing the whole scrape.
      const counts = await queue.counts().catch(() => undefined);
      if (counts) for (const s of JOB_STATES) this.set({ state: s }, counts[s] ?? 0);
    },
  });
  const observe: RequestHandler = (req, res, next) => {
    const end = duration.startTimer();
    res.on('close', () => {
      // The route pattern, never the raw URL: ids in labels would grow without bound.
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : req.baseUrl || 'unmatched';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
  return { registry, observe, uploadedBytes, jobsSubmitted };
}
