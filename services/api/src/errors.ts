/**
 * The one place error JSON is built: ImgportError → `{"error": {"code", "message"}}` with its
 * status, body-parser and zod errors → BAD_REQUEST / LIMIT_EXCEEDED, anything else → 500.
 */
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { z } from 'zod';
import { ImgportError, toImgportError } from '@imgport/runtime';

/** Validates request input; a failure names every bad field (`body.image: ...`). */
export function parse<S extends z.ZodType>(schema: S, value: unknown, what: 'body' | 'query' | 'path'): z.output<S> {
  const res = schema.safeParse(value);
  if (res.success) return res.data;
  throw fromZod(res.error, what);
}

function fromZod(err: z.ZodError, what: string): ImgportError {
  const parts = err.issues.map((i) => `${[what, ...i.path.map(String)].join('.')}: ${i.message}`);
  return new ImgportError('BAD_REQUEST', parts.join('; '), { where: what });
}

/** Errors thrown by express's body parser carry `type` and `status`. */
function fromBodyParser(err: { type?: unknown; status?: unknown; message?: unknown }): ImgportError | undefined {
  if (typeof err.type !== 'string' || typeof err.status !== 'number') return undefined;
  if (err.type === 'entity.too.large') return new ImgportError('LIMIT_EXCEEDED', 'request body is too large for a JSON request');
  if (err.type === 'entity.parse.failed') return new ImgportError('BAD_REQUEST', `body: invalid JSON (${String(err.message)})`);
  return new ImgportError('BAD_REQUEST', `body: ${String(err.message)}`);
}

export function asImgportError(err: unknown): ImgportError {
  if (err instanceof z.ZodError) return fromZod(err, 'body');
  if (err && typeof err === 'object') {
    const bp = fromBodyParser(err as Record<string, unknown>);
    if (bp) return bp;
  }
  return toImgportError(err);
}

/** A request body that was not read keeps the connection busy: close it instead of draining. */
function bodyUnread(req: Request): boolean {
  const declared = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  return declared && !req.complete;
}

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const e = asImgportError(err);
  const status = e.httpStatus;
  // pino-http's completion line carries it (at error level), once per request.
  if (status >= 500) (res as { err?: unknown }).err = err;
  if (res.headersSent) {
    // Mid-stream (a download, an event stream): the client learns it from the cut connection.
    res.destroy();
    return;
  }
  if (bodyUnread(req)) res.set('Connection', 'close');
  if (e.code === 'UNAUTHORIZED') res.set('WWW-Authenticate', 'Bearer realm="imgport"');
  // Internal errors may carry details of the server; the log has them under the request id.
  const message = e.code === 'INTERNAL' ? `internal error (request ${String(req.id)})` : e.message;
  res.status(status).json({ error: { code: e.code, message } });
};

/** Prefix the unknown-route message starts with; tests tell it apart from "job not found". */
export const NO_ROUTE = 'no route';

export const notFound: RequestHandler = (req) => {
  throw new ImgportError('NOT_FOUND', `${NO_ROUTE} ${req.method} ${req.path}`);
};
