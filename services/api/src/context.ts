import type { Response } from 'express';
import type { JobQueuePort, PayloadOf } from '@imgport/jobs';
import type { AppDeps, AppOptions } from './deps.js';
import type { ApiMetrics } from './metrics.js';

/** What every route module gets from createApp. */
export interface Ctx {
  deps: AppDeps;
  /** deps.queue behind guardQueue: failures are QUEUE_UNAVAILABLE. */
  queue: JobQueuePort;
  metrics: ApiMetrics;
  opts: AppOptions;
  spool: string;
}

export function jobUrl(id: string): string {
  return `/v1/jobs/${encodeURIComponent(id)}`;
}

/** 202 with the job's status URL in the body and in Location. */
export function accepted(res: Response, id: string): void {
  res.status(202).location(jobUrl(id)).json({ id, status: jobUrl(id) });
}

type Submittable = 'import' | 'export' | 'publish';

export async function submitJob<T extends Submittable>(
  ctx: Ctx,
  type: T,
  payload: PayloadOf[T],
  id?: string,
): Promise<{ id: string; existing: boolean }> {
  const res = await ctx.queue.submit(type, payload, id === undefined ? undefined : { id });
  if (!res.existing) ctx.metrics.jobsSubmitted.inc({ type });
  return res;
}
