/**
 * GET /v1/jobs/:id/events: server-sent events. The job's status is polled four times a second,
 * so a worker's progress report reaches a watcher (the console's job page) well within a second;
 * a `progress` event goes out whenever it changed, a `state` event once the job has finished,
 * and then the stream ends. Comment lines keep idle proxies from cutting it. It stops when the
 * client goes away or the server shuts down.
 */
import type { Express, Response } from 'express';
import { toImgportError } from '@imgport/runtime';
import type { JobState, JobStatus } from '@imgport/jobs';
import type { Ctx } from '../context.js';
import { findJob } from './jobs.js';
import { isFinished } from '@imgport/contract';


/** What a client watches: a change in anything else (updatedAt alone) is not news. */
const fingerprint = (s: JobStatus) => JSON.stringify([s.state, s.progress, s.attempts, s.children, s.error]);

class JobEventStream {
  private poll?: NodeJS.Timeout;
  private beat?: NodeJS.Timeout;
  private last = '';
  private stopped = false;
  private readonly onClosing = () => this.end();

  constructor(
    private readonly ctx: Ctx,
    private readonly res: Response,
    private readonly id: string,
  ) {}

  start(first: JobStatus): void {
    this.res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      // nginx buffers responses unless told otherwise.
      'X-Accel-Buffering': 'no',
    });
    this.res.flushHeaders();
    this.res.on('close', () => this.stop());
    this.ctx.deps.closing?.addEventListener('abort', this.onClosing, { once: true });
    this.beat = setInterval(() => this.res.write(': heartbeat\n\n'), this.ctx.opts.heartbeatMs);
    if (this.ctx.deps.closing?.aborted) this.onClosing();
    else this.update(first);
  }

  private update(st: JobStatus): void {
    if (this.stopped) return;
    const fp = fingerprint(st);
    if (fp !== this.last) this.send('progress', st);
    this.last = fp;
    if (isFinished(st.state)) {
      this.send('state', st);
      this.end();
      return;
    }
    this.poll = setTimeout(() => void this.next(), this.ctx.opts.eventPollMs);
  }

  private async next(): Promise<void> {
    try {
      const st = await this.ctx.queue.status(this.id);
      if (st) return this.update(st);
      // Trimmed from the queue and the records while we watched: nothing more will come.
      this.send('error', { code: 'NOT_FOUND', message: `job ${this.id} is gone` });
    } catch (err) {
      this.res.req.log.warn({ err, job: this.id }, 'event stream: status poll failed');
      this.send('error', toImgportError(err).toJSON());
    }
    this.end();
  }

  private send(event: string, data: unknown): void {
    if (!this.stopped) this.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private end(): void {
    if (this.stopped) return;
    this.stop();
    this.res.end();
  }

  private stop(): void {
    this.stopped = true;
    clearTimeout(this.poll);
    clearInterval(this.beat);
    this.ctx.deps.closing?.removeEventListener('abort', this.onClosing);
  }
}

export function registerEvents(app: Express, ctx: Ctx): void {
  app.get('/v1/jobs/:id/events', async (req, res) => {
    const st = await findJob(ctx, req);
    new JobEventStream(ctx, res, st.id).start(st);
  });
}
