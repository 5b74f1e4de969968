/**
 * Registry authentication: the distribution spec's token flow (a 401 with
 * `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, a GET of the realm, the token sent
 * as `Authorization: Bearer`) and HTTP Basic, with optional user:password credentials.
 */
import { ImgportError } from '@imgport/runtime';
import { readBody, send, statusError, type HttpOptions } from '../http.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses one WWW-Authenticate value: `Bearer realm="https://auth/token",service="reg",scope="a,b"`. */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** Fetches a bearer token for `scope` from the challenge's realm. */
export async function fetchToken(challenge: Challenge, scope: string, creds: Credentials | undefined, http: HttpOptions, plainHttp: boolean): Promise<string> {
  const realm = challenge.params.realm;
  if (!realm) throw new ImgportError('UNAUTHORIZED', 'the registry asked for a bearer token without naming its realm');
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new ImgportError('UNAUTHORIZED', `the registry's token realm ${JSON.stringify(realm)} is not a URL`);
  }
  if (url.protocol !== 'https:' && !(plainHttp && url.protocol === 'http:')) {
    throw new ImgportError('UNAUTHORIZED', `the registry's token realm ${url.origin} is not https (allow plain HTTP with --plain-http)`);
  }
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
  for (const s of (challenge.params.scope ?? scope).split(' ').filter(Boolean)) url.searchParams.append('scope', s);
  const res = await send(url, { ...http, headers: creds ? { authorization: basicHeader(creds) } : {} });
  const body = await readBody(res, 1024 * 1024, `token from ${url.origin}`);
  if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, `token request to ${url.origin}${url.pathname}`, body.toString('utf8'));
  let doc: { token?: unknown; access_token?: unknown };
  try {
    doc = JSON.parse(body.toString('utf8')) as typeof doc;
  } catch {
    throw new ImgportError('UNAUTHORIZED', `the token service at ${url.origin} answered with something that is not JSON`);
  }
  const token = typeof doc.token === 'string' ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : undefined;
  if (!token) throw new ImgportError('UNAUTHORIZED', `the token service at ${url.origin} returned no token`);
  return token;
}
