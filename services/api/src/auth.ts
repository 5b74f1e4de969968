import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ImgportError } from '@imgport/runtime';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * `Authorization: Bearer <token>` against the configured tokens. Tokens are compared as
 * sha256 digests with timingSafeEqual (equal lengths, constant time) and every token is
 * compared, so neither a token's length nor its position shows in the timing. With no token
 * configured nothing is accepted.
 */
export function bearerAuth(tokens: readonly string[]): RequestHandler {
  const known = tokens.map(digest);
  return (req, _res, next) => {
    const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(req.get('authorization') ?? '');
    if (!m?.[1]) throw new ImgportError('UNAUTHORIZED', 'missing bearer token: send Authorization: Bearer <token>');
    const given = digest(m[1]);
    let ok = false;
    for (const k of known) ok = timingSafeEqual(given, k) || ok;
    if (!ok) throw new ImgportError('UNAUTHORIZED', 'invalid token');
    next();
  };
}
