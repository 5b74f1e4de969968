/**
 * Console sessions: signing in with an API token makes a server-side session (random id in an
 * httpOnly, SameSite=Strict cookie, sliding expiry). Each session has its own CSRF token that
 * every form carries in `_csrf`; a POST without it is refused. Sessions live in this process
 * (an API restart signs everyone out).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

export const COOKIE = 'imgport_session';

export interface Session {
  id: string;
  csrf: string;
  expires: number;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

export class Sessions {
  private readonly map = new Map<string, Session>();

  constructor(
    private readonly tokens: readonly string[],
    readonly ttlMs = 8 * 3600_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when `token` is one of the API tokens (every token compared, constant time). */
  validToken(token: string): boolean {
    let ok = false;
    for (const t of this.tokens) ok = sameSecret(token, t) || ok;
    return ok && token.length > 0;
  }

  create(res: Response, secure: boolean): Session {
    this.sweep();
    const s: Session = { id: randomBytes(32).toString('base64url'), csrf: randomBytes(24).toString('base64url'), expires: this.now() + this.ttlMs };
    this.map.set(s.id, s);
    res.setHeader('Set-Cookie', this.cookie(s.id, this.ttlMs, secure));
    return s;
  }

  /** The request's live session; touching it extends it. */
  get(req: Request): Session | undefined {
    const id = readCookie(req, COOKIE);
    if (!id) return undefined;
    const s = this.map.get(id);
    if (!s) return undefined;
    if (s.expires <= this.now()) {
      this.map.delete(id);
      return undefined;
    }
    s.expires = this.now() + this.ttlMs;
    return s;
  }

  destroy(req: Request, res: Response, secure: boolean): void {
    const id = readCookie(req, COOKIE);
    if (id) this.map.delete(id);
    res.setHeader('Set-Cookie', this.cookie('', 0, secure));
  }

  private cookie(value: string, ttlMs: number, secure: boolean): string {
    // Path=/ so the queue dashboard and the job event streams see it too.
    return `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(ttlMs / 1000)}${secure ? '; Secure' : ''}`;
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, s] of this.map) if (s.expires <= t) this.map.delete(id);
  }
}

/**
 * Where a console session stands in for the bearer token outside /ui: reading only (GET/HEAD)
 * the queue dashboard, a job's event stream and an export's bundle.
 */
export function sessionMayRead(req: Request): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const p = req.path;
  return p === '/admin/queues' || p.startsWith('/admin/queues/') || /^\/v1\/jobs\/[^/]+\/(events|bundle)$/.test(p);
}

/** A form without its session's CSRF token: 403, shown as an error page. */
export class CsrfError extends Error {
  readonly status = 403;
  readonly code = 'CSRF';
}

export const csrfError = () => new CsrfError('the form has no valid CSRF token: reload the page and send it again');
