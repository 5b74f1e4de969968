/**
 * An in-memory JobQueuePort for unit tests of the routes: the contract's observable rules
 * (idempotent ids, newest-first pages, cancel of finished → CONFLICT) without Redis. The real
 * JobQueue is tested against Redis in queue.integration.test.ts. Not a test file itself.
 */
import { ImgportError } from '@imgport/runtime';
import type { JobListFilter, JobQueuePort, JobState, JobStatus, JobType, PayloadOf, SnapshotPayload } from '@imgport/jobs';
import { isFinished } from '@imgport/contract';


export interface Submission {
  type: JobType;
  id: string;
  payload: unknown;
}

export class FakeQueue implements JobQueuePort {
  readonly jobs = new Map<string, JobStatus>();
  readonly submitted: Submission[] = [];
  /** When set, every call fails with it (Redis down). */
  failWith: Error | undefined;
  private seq = 0;

  async submit<T extends Exclude<JobType, 'snapshot' | 'snapshot-image'>>(type: T, payload: PayloadOf[T], opts?: { id?: string }) {
    this.check();
    const id = opts?.id ?? `${type}-${++this.seq}`;
    const known = this.jobs.get(id);
    // Deduplication only while the same job is unfinished; a finished one runs again.
    if (known && !isFinished(known.state)) return { id, existing: true };
    const image = 'image' in payload ? payload.image : payload.name;
    this.put({ id, type, ...(image ? { image } : {}) });
    this.submitted.push({ type, id, payload });
    return { id, existing: false };
  }

  async submitSnapshots(payload: SnapshotPayload) {
    this.check();
    const id = `snapshot-${++this.seq}`;
    const children = payload.images.map((image) => ({ id: `${id}-${image}`, image, state: 'queued' as const }));
    for (const c of children) this.put({ id: c.id, type: 'snapshot-image', image: c.image, parentId: id });
    this.put({ id, type: 'snapshot', children });
    this.submitted.push({ type: 'snapshot', id, payload });
    return { id, existing: false };
  }

  async status(id: string) {
    this.check();
    const st = this.jobs.get(id);
    return st && structuredClone(st);
  }

  async list(filter: JobListFilter = {}) {
    this.check();
    const all = [...this.jobs.values()]
      .filter((j) => (!filter.type || j.type === filter.type) && (!filter.state || j.state === filter.state))
      .reverse();
    const offset = filter.offset ?? 0;
    return { jobs: all.slice(offset, offset + (filter.limit ?? 50)).map((j) => structuredClone(j)), total: all.length };
  }

  async cancel(id: string) {
    this.check();
    const st = this.jobs.get(id);
    if (!st) throw new ImgportError('NOT_FOUND', `job ${id} not found`);
    if (isFinished(st.state)) throw new ImgportError('CONFLICT', `job ${id} has already ${st.state}`);
    return this.update(id, { state: 'cancelled' });
  }

  async counts() {
    this.check();
    const c: Record<JobState, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
    for (const j of this.jobs.values()) c[j.state]++;
    return c;
  }

  async ping() {
    this.check();
  }

  async close() {}

  /** Test helper: what a worker would do to the job. */
  update(id: string, patch: Partial<JobStatus>): JobStatus {
    const st = this.jobs.get(id);
    if (!st) throw new Error(`fake queue: no job ${id}`);
    Object.assign(st, patch, { updatedAt: new Date().toISOString() });
    return structuredClone(st);
  }

  put(init: Pick<JobStatus, 'id' | 'type'> & Partial<JobStatus>): JobStatus {
    const now = new Date().toISOString();
    const st: JobStatus = {
      state: 'queued',
      progress: { phase: 'receive', percent: 0, bytesDone: 0, bytesTotal: 0 },
      attempts: 0,
      createdAt: now,
      updatedAt: now,
      ...init,
    };
    this.jobs.set(st.id, st);
    return st;
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
  }
}
