/**
 * The contract between the API and the workers (SPEC §8.2). Both import it; neither imports
 * the other. Job types, states and payload schemas are the contract's (@imgport/contract).
 */
import type { JobState, JobType, PayloadOf, SnapshotPayload } from '@imgport/contract';
import type { ExportResult, ImportResult, JobProgress, PublishResult, SnapshotInfo } from '@imgport/engine';

/** One BullMQ queue carries every job; the job's name is its type. */
export const QUEUE_NAME = 'imgport';

export {
  JOB_STATES,
  JOB_TYPES,
  type ExportPayload,
  type ImportPayload,
  type ImportSource,
  type JobState,
  type JobType,
  type PayloadOf,
  type PublishPayload,
  type SnapshotImagePayload,
  type SnapshotPayload,
} from '@imgport/contract';

export interface ResultOf {
  import: ImportResult;
  /** `bundle` (= `path`) is the finished export, IMGPORT_DATA/exports/<job id>.tgz. */
  export: ExportResult & { bundle: string };
  snapshot: { snapshots: SnapshotInfo[]; failed: Array<{ image: string; error: { code: string; message: string } }> };
  'snapshot-image': SnapshotInfo;
  publish: PublishResult;
}

/** What GET /v1/jobs/<id> returns, and what the durable record holds. */
export interface JobStatus {
  id: string;
  type: JobType;
  state: JobState;
  /** The image the job touches, when there is one (locks and listings). */
  image?: string;
  progress: JobProgress;
  attempts: number;
  result?: unknown;
  error?: { code: string; message: string };
  /** Bulk snapshot: the children's ids and states. */
  children?: Array<{ id: string; image?: string; state: JobState }>;
  parentId?: string;
  createdAt: string;
  updatedAt: string;
}

export interface JobListFilter {
  type?: JobType;
  state?: JobState;
  /** Page size (default 50, at most 500) and offset: newest first. */
  limit?: number;
  offset?: number;
}

/**
 * What the API needs from the queue (implemented in queue.ts over BullMQ and the durable
 * job records). The worker side lives in services/worker.
 */
export interface JobQueuePort {
  /**
   * Enqueue a job. `id` makes resubmission idempotent: when a job with that id exists (in Redis
   * or in the durable records), it is returned with `existing: true` and nothing is enqueued.
   * Imports get a deterministic id by default (catalog.ts importJobId). Deduplication holds only
   * while that job is unfinished: a job that ended (succeeded, failed or cancelled) runs again
   * under the same id (`existing: false`), since a client resubmitting it means a new try.
   */
  submit<T extends Exclude<JobType, 'snapshot' | 'snapshot-image'>>(
    type: T,
    payload: PayloadOf[T],
    opts?: { id?: string },
  ): Promise<{ id: string; existing: boolean }>;
  /** One parent `snapshot` job with one `snapshot-image` child per image (a BullMQ flow). */
  submitSnapshots(payload: SnapshotPayload): Promise<{ id: string; existing: boolean }>;
  status(id: string): Promise<JobStatus | undefined>;
  list(filter?: JobListFilter): Promise<{ jobs: JobStatus[]; total: number }>;
  /**
   * Cancel: a queued job is removed and marked cancelled; a running one is asked to stop (the
   * worker holding it sees the request within about a second and rolls back). A finished job
   * is a CONFLICT error; an unknown one NOT_FOUND.
   */
  cancel(id: string): Promise<JobStatus>;
  /** Jobs per state, for /metrics. */
  counts(): Promise<Record<JobState, number>>;
  /** Throws DB_UNAVAILABLE / QUEUE_UNAVAILABLE when Redis or the records database is down. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
