/**
 * Driver errors become ImgportErrors. A database that is down, unreachable, refusing us, or
 * busy is DB_UNAVAILABLE (a job may retry); a duplicate key is the caller's BAD_REQUEST; a
 * full or failing disk is IO_ERROR; anything else is INTERNAL, naming the table.
 */
import { ImgportError } from '@imgport/runtime';

export interface ErrorContext {
  /** The store's description, e.g. "sqlite:/dir" (never a password). */
  db: string;
  /** The table the statement was about, when there is one. */
  table?: string;
}

const MYSQL_UNAVAILABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR', 'ER_CON_COUNT_ERROR', 'ER_TOO_MANY_USER_CONNECTIONS', 'ER_HOST_IS_BLOCKED',
  'ER_HOST_NOT_PRIVILEGED', 'ER_SERVER_SHUTDOWN', 'ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_DEADLOCK',
  'ER_OPTION_PREVENTS_STATEMENT', // a read-only server, e.g. during a failover
]);

// Node's own errors appear too: we create the table files before SQLite opens them.
const SQLITE_UNAVAILABLE = /^(SQLITE_(BUSY|LOCKED|CANTOPEN|PERM|READONLY|AUTH)|EACCES$|EPERM$|ENOENT$|ENOTDIR$)/;
const SQLITE_IO = /^(SQLITE_(IOERR|FULL)|ENOSPC$|EIO$|EROFS$|EDQUOT$)/;

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: unknown[] };
  if (e && typeof e.code === 'string') return e.code;
  // Node reports a refused "localhost" (tried on ::1 and 127.0.0.1) as an AggregateError.
  if (e && Array.isArray(e.errors)) return codeOf(e.errors[0]);
  return undefined;
}

function messageOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return messageOf(err.errors[0]);
  return err instanceof Error ? err.message || String(codeOf(err) ?? 'error') : String(err);
}

function translate(kind: 'unavailable' | 'duplicate' | 'io' | 'other', err: unknown, ctx: ErrorContext): ImgportError {
  const what = ctx.table ? ` (table ${ctx.table})` : '';
  const msg = messageOf(err);
  const opts = { cause: err, ...(ctx.table ? { where: ctx.table } : {}) };
  switch (kind) {
    case 'unavailable':
      return new ImgportError('DB_UNAVAILABLE', `database ${ctx.db} unavailable${what}: ${msg}`, opts);
    case 'duplicate':
      return new ImgportError('BAD_REQUEST', `database ${ctx.db}${what}: duplicate key: ${msg}`, opts);
    case 'io':
      return new ImgportError('IO_ERROR', `database ${ctx.db}${what}: ${msg}`, opts);
    case 'other':
      return new ImgportError('INTERNAL', `database ${ctx.db}${what}: ${msg}`, opts);
  }
}

export function fromMysqlError(err: unknown, ctx: ErrorContext): ImgportError {
  if (err instanceof ImgportError) return err;
  const code = codeOf(err) ?? '';
  if (MYSQL_UNAVAILABLE.has(code)) return translate('unavailable', err, ctx);
  if (code === 'ER_DUP_ENTRY') return translate('duplicate', err, ctx);
  // mysql2 marks errors that killed the connection as fatal; the server is gone or going.
  if ((err as { fatal?: unknown })?.fatal === true) return translate('unavailable', err, ctx);
  return translate('other', err, ctx);
}

export function fromSqliteError(err: unknown, ctx: ErrorContext): ImgportError {
  if (err instanceof ImgportError) return err;
  const code = codeOf(err) ?? '';
  if (SQLITE_UNAVAILABLE.test(code)) return translate('unavailable', err, ctx);
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
    return translate('duplicate', err, ctx);
  }
  if (SQLITE_IO.test(code)) return translate('io', err, ctx);
  return translate('other', err, ctx);
}
