/**
 * Following a job on the server to its end: the event stream first (progress as it happens),
 * polling GET /v1/jobs/<id> once a second when the stream cannot be had or breaks, and on
 * Ctrl-C a cancel request (DELETE /v1/jobs/<id>) so the job does not run on unwatched.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ImgportError, Logger } from '@imgport/runtime';
import { knownCode, RemoteError, type ApiClient, type JobDoc, type JobState } from './remote-client.js';
import type { Remote } from './remote-context.js';
import { readEvents } from './remote-sse.js';
import type { Ui } from './run.js';
import { isFinished } from '@imgport/contract';

/** SPEC asks for progress about once a second; the API's own stream polls at that rate. */
const POLL_MS = 1000;
/** How long an unreachable server (an API restart, a network blip) is waited out while polling. */
const GIVE_UP_MS = 60_000;

interface Watch {
  signal: AbortSignal;
  log: Logger;
  onStatus(st: JobDoc): void;
}

export const jobPath = (id: string, tail = '') => `/v1/jobs/${encodeURIComponent(id)}${tail}`;

/** Resolves with the job's final status. */
export async function followJob(client: ApiClient, id: string, w: Watch): Promise<JobDoc> {
  try {
    const st = await watchEvents(client, id, w);
    if (st) return st;
  } catch (err) {
    if (w.signal.aborted || !transient(err)) throw err;
    w.log.debug({ err, job: id }, 'no event stream; polling');
  }
  return pollJob(client, id, w);
}

/** The final status from the event stream, or undefined when the stream ended without one. */
async function watchEvents(client: ApiClient, id: string, w: Watch): Promise<JobDoc | undefined> {
  const res = await client.send('GET', jobPath(id, '/events'), { accept: 'text/event-stream', signal: w.signal });
  try {
    for await (const ev of readEvents(res.body!)) {
      // `error`: the server lost track of the job while streaming; polling will say why.
      if (ev.event === 'error') return undefined;
      if (ev.event !== 'progress' && ev.event !== 'state') continue;
      const st = JSON.parse(ev.data) as JobDoc;
      w.onStatus(st);
      if (ev.event === 'state') return st;
    }
  } catch (err) {
    if (w.signal.aborted) throw err;
    w.log.debug({ err, job: id }, 'event stream broke; polling');
  }
  return undefined;
}

async function pollJob(client: ApiClient, id: string, w: Watch): Promise<JobDoc> {
  let failingSince: number | undefined;
  for (;;) {
    try {
      const st = await client.json<JobDoc>('GET', jobPath(id), { signal: w.signal });
      failingSince = undefined;
      w.onStatus(st);
      if (isFinished(st.state)) return st;
    } catch (err) {
      if (w.signal.aborted || !transient(err)) throw err;
      if (failingSince === undefined) w.log.warn({ job: id, err: (err as Error).message }, 'lost the server; retrying every second');
      failingSince ??= Date.now();
      if (Date.now() - failingSince > GIVE_UP_MS) throw err;
    }
    await sleep(POLL_MS, undefined, { signal: w.signal });
  }
}

/** Worth another try: no answer at all, or a server-side failure (503 not ready, a restart). */
function transient(err: unknown): boolean {
  return err instanceof RemoteError && (err.status === undefined || err.status >= 500);
}

/** A finished job's result, or its failure as the error this command ends with (exit 1). */
export function settle(st: JobDoc): unknown {
  if (st.state === 'succeeded') return st.result;
  if (st.state === 'cancelled' && !st.error) return fail('CANCELLED', `job ${st.id} was cancelled`);
  const e = st.error ?? { code: 'INTERNAL', message: 'no reason given' };
  const code = knownCode(e.code, 'INTERNAL');
  // A code the server knows and we do not stays visible in the message.
  const message = code === e.code ? e.message : `${e.code}: ${e.message}`;
  return fail(code, `job ${st.id} ${st.state}: ${message}`);
}

function fail(code: ImgportError['code'], message: string): never {
  throw new RemoteError(code, message, { exit: 1 });
}

/**
 * Submits a job and follows it with the progress bar; its result, or the job's error. Ctrl-C
 * asks the server to cancel it before the command ends.
 */
export async function runJob(r: Remote, ui: Ui, submit: () => Promise<{ id: string }>): Promise<{ id: string; result: unknown }> {
  const { id } = await submit();
  r.log.debug({ job: id }, 'job submitted');
  try {
    const st = await followJob(r.client, id, { signal: ui.signal, log: r.log, onStatus: (s) => ui.progress.update(s.progress) });
    return { id, result: settle(st) };
  } catch (err) {
    if (ui.signal.aborted) throw await cancelJob(r.client, id);
    throw err;
  }
}

/** DELETE /v1/jobs/<id> after Ctrl-C; the error the command ends with says how that went. */
async function cancelJob(client: ApiClient, id: string): Promise<ImgportError> {
  try {
    const st = await client.json<JobDoc>('DELETE', jobPath(id), { signal: AbortSignal.timeout(10_000) });
    const how = st.state === 'cancelled' ? 'it is cancelled' : `it is ${st.state} and stops within a few seconds, rolling back`;
    return new RemoteError('CANCELLED', `interrupted; asked the server to cancel job ${id}: ${how}`);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return new RemoteError('CANCELLED', `interrupted; the cancel request for job ${id} failed (${why}); run \`imgport cancel ${id}\``);
  }
}
