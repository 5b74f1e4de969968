/**
 * The one place error JSON is built: ImgportError → `{"error": {"code", "message"}}` with its
 * status, body-parser and zod errors → BAD_REQUEST / LIMIT_EXCEEDED, anything else → 500.
 */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
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

/** A request answered before its body was read (a refused upload, say). */
function bodyUnread(req: Request): boolean {
  const declared = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  return declared && !req.complete;
}

/** How long a refused body is still read, and dropped, once the answer is out. */
export const LINGER_MS = 2000;

/**
 * Closing a connection whose client is still sending makes the kernel reset it, and a reset
 * discards what the client had not read yet: the answer saying why. So the body is drained for a
 * short while after the answer (a "lingering close"); a client that stops sending keeps its
 * connection, one that goes on is cut when the time is up.
 */
function lingerThenClose(req: Request, res: Response): void {
  const socket = res.socket;
  res.once('finish', () => {
    if (req.complete || !socket) return;
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    const stop = () => clearTimeout(timer);
    req.once('end', stop);
    socket.once('close', stop);
    req.resume();
  });
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
  if (bodyUnread(req)) lingerThenClose(req, res);
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
