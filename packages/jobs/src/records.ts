/**
 * Durable job records: what GET /v1/jobs answers from once Redis has trimmed its history. The API
 * writes a record before it enqueues; workers move it through running to a final state.
 */
import type { JobProgress } from '@imgport/engine';
import { openSqlBackend, TABLE, type SqlBackend, type SqlRow, type SqlValue } from './records-sql.js';
import { JOB_STATES, type JobListFilter, type JobState, type JobType } from './types.js';

export interface JobError {
  code: string;
  message: string;
}

export interface JobRecord {
  id: string;
  type: JobType;
  state: JobState;
  image?: string;
  parentId?: string;
  payload: unknown;
  progress: JobProgress;
  result?: unknown;
  error?: JobError;
  attempts: number;
  createdAt: string;
  updatedAt: string;
}

export interface NewJobRecord {
  id: string;
  type: JobType;
  payload: unknown;
  image?: string;
  parentId?: string;
  progress?: JobProgress;
}

/** Fields to change; `null` clears result or error. */
export interface RecordPatch {
  state?: JobState;
  image?: string;
  payload?: unknown;
  progress?: JobProgress;
  result?: unknown;
  error?: JobError | null;
  attempts?: number;
  createdAt?: string;
}


export const NO_PROGRESS: JobProgress = { phase: 'receive', percent: 0, bytesDone: 0, bytesTotal: 0 };

const PATCH_COLUMNS: Record<keyof RecordPatch, string> = {
  state: 'state',
  image: 'image',
  payload: 'payload',
  progress: 'progress',
  result: 'result',
  error: 'error',
  attempts: 'attempts',
  createdAt: 'created_at',
};
const JSON_FIELDS = new Set<keyof RecordPatch>(['payload', 'progress', 'result', 'error']);

export class JobRecords {
  constructor(private readonly db: SqlBackend) {}

  get kind(): 'sqlite' | 'mysql' {
    return this.db.kind;
  }

  get description(): string {
    return this.db.description;
  }

  /** False when a record with that id exists already (nothing is changed then). */
  async insert(rec: NewJobRecord, state: JobState = 'queued'): Promise<boolean> {
    const now = new Date().toISOString();
    const changed = await this.db.run(
      `${this.db.insertIgnore} INTO ${TABLE} (id, type, state, image, parent_id, payload, progress, result, error, attempts, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?, ?)`,
      [rec.id, rec.type, state, rec.image ?? null, rec.parentId ?? null, JSON.stringify(rec.payload), JSON.stringify(rec.progress ?? NO_PROGRESS), now, now],
    );
    return changed > 0;
  }

  /**
   * Changes a record; with `onlyIf`, only while it is in one of those states (so a worker
   * cannot overwrite a cancellation, nor the API a finished job). True when a row changed.
   */
  async update(id: string, patch: RecordPatch, onlyIf?: readonly JobState[]): Promise<boolean> {
    const sets: string[] = [];
    const params: SqlValue[] = [];
    for (const [key, value] of Object.entries(patch) as Array<[keyof RecordPatch, unknown]>) {
      if (value === undefined) continue;
      sets.push(`${PATCH_COLUMNS[key]} = ?`);
      params.push(JSON_FIELDS.has(key) ? (value === null ? null : JSON.stringify(value)) : (value as SqlValue));
    }
    sets.push('updated_at = ?');
    params.push(new Date().toISOString(), id);
    let where = 'id = ?';
    if (onlyIf && onlyIf.length > 0) {
      where += ` AND state IN (${onlyIf.map(() => '?').join(', ')})`;
      params.push(...onlyIf);
    }
    return (await this.db.run(`UPDATE ${TABLE} SET ${sets.join(', ')} WHERE ${where}`, params)) > 0;
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const rows = await this.db.all(`SELECT * FROM ${TABLE} WHERE id = ?`, [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** Newest first; `limit` defaults to 50, at most 500. */
  async list(filter: JobListFilter = {}): Promise<{ records: JobRecord[]; total: number }> {
    const conds: string[] = [];
    const params: SqlValue[] = [];
    for (const key of ['type', 'state'] as const) {
      const value = filter[key];
      if (value === undefined) continue;
      conds.push(`${key} = ?`);
      params.push(value);
    }
    const where = conds.length > 0 ? `WHERE ${conds.join(' AND ')}` : '';
    const limit = Math.min(Math.max(Math.trunc(filter.limit ?? 50), 1), 500);
    const offset = Math.max(Math.trunc(filter.offset ?? 0), 0);
    const rows = await this.db.all(`SELECT * FROM ${TABLE} ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, [...params, limit, offset]);
    const [count] = await this.db.all(`SELECT COUNT(*) AS n FROM ${TABLE} ${where}`, params);
    return { records: rows.map(fromRow), total: Number(count?.n ?? 0) };
  }

  /** A bulk snapshot's children, in the order they were created. */
  async children(parentId: string): Promise<JobRecord[]> {
    const rows = await this.db.all(`SELECT * FROM ${TABLE} WHERE parent_id = ? ORDER BY created_at, id`, [parentId]);
    return rows.map(fromRow);
  }

  async counts(): Promise<Record<JobState, number>> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const row of await this.db.all(`SELECT state, COUNT(*) AS n FROM ${TABLE} GROUP BY state`)) {
      const state = String(row.state) as JobState;
      if (state in out) out[state] = Number(row.n);
    }
    return out;
  }

  async remove(id: string): Promise<void> {
    await this.db.run(`DELETE FROM ${TABLE} WHERE id = ?`, [id]);
  }

  async ping(): Promise<void> {
    await this.db.all('SELECT 1 AS ok');
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/**
 * `sqlite:<dir>` or `mysql://…` as in XCAT_DB. The table is created when missing, and so (unless
 * `create: false`) is the SQLite directory or the MySQL database.
 */
export async function openJobRecords(xcatDbUrl: string, opts: { create?: boolean } = {}): Promise<JobRecords> {
  return new JobRecords(await openSqlBackend(xcatDbUrl, opts));
}

function json<T>(v: unknown): T | undefined {
  return v === null || v === undefined ? undefined : (JSON.parse(String(v)) as T);
}

function fromRow(r: SqlRow): JobRecord {
  const rec: JobRecord = {
    id: String(r.id),
    type: String(r.type) as JobType,
    state: String(r.state) as JobState,
    payload: json(r.payload),
    progress: json<JobProgress>(r.progress) ?? NO_PROGRESS,
    attempts: Number(r.attempts),
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
  };
  if (r.image !== null && r.image !== undefined) rec.image = String(r.image);
  if (r.parent_id !== null && r.parent_id !== undefined) rec.parentId = String(r.parent_id);
  const result = json(r.result);
  if (result !== undefined) rec.result = result;
  const error = json<JobError>(r.error);
  if (error !== undefined) rec.error = error;
  return rec;
}
