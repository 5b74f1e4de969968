/**
 * A client of the OCI distribution spec (v1.1): blobs (HEAD, cross-repository mount, chunked
 * upload that resynchronises after a reset or a 416, ranged GET), manifests, referrers and tags,
 * behind the token or Basic challenge the registry answers with.
 */
import type { IncomingMessage } from 'node:http';
import { ImgportError } from '@imgport/runtime';
import { discard, readBody, redact, send, statusError, type HttpOptions } from '../http.js';
import { sha256 } from '../digest.js';
import { basicHeader, fetchToken, parseChallenge, type Credentials } from './auth.js';

export interface RegistryOptions {
  /** Speak http:// (a local test registry), as ORAS's --plain-http. */
  plainHttp?: boolean;
  credentials?: Credentials;
  http?: HttpOptions;
  /** Bytes per PATCH of a chunked upload (default 8 MiB); smaller blobs go in one PUT. */
  chunkBytes?: number;
  /** Tries of one chunk before the upload gives up (default 5). */
  chunkAttempts?: number;
}

export interface Manifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

const MANIFEST_MAX = 4 * 1024 * 1024;
export const MANIFEST_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json'];

/** Counters of what went over the wire: the benchmark's figures and the result's. */
export interface WireStats {
  bytesUploaded: number;
  bytesDownloaded: number;
}

export class Registry {
  readonly base: URL;
  readonly stats: WireStats = { bytesUploaded: 0, bytesDownloaded: 0 };
  private readonly auth = new Map<string, string>();

  constructor(
    readonly host: string,
    private readonly o: RegistryOptions = {},
  ) {
    this.base = new URL(`${o.plainHttp ? 'http' : 'https'}://${host}/`);
  }

  get chunkBytes(): number {
    return this.o.chunkBytes ?? 8 * 1024 * 1024;
  }

  /** A request with the registry's auth: on a 401 it answers the challenge once and asks again. */
  async call(method: string, target: string | URL, o: { scope: string; headers?: Record<string, string>; body?: Buffer }): Promise<IncomingMessage> {
    const url = typeof target === 'string' ? new URL(target, this.base) : target;
    for (let round = 0; ; round++) {
      const auth = this.auth.get(o.scope) ?? this.auth.get('*');
      const res = await send(url, { ...this.o.http, method, headers: { ...o.headers, ...(auth ? { authorization: auth } : {}) }, ...(o.body ? { body: o.body } : {}) });
      if (o.body) this.stats.bytesUploaded += o.body.length;
      if (res.statusCode !== 401 || round > 0) return res;
      const header = res.headers['www-authenticate'];
      discard(res);
      const challenge = typeof header === 'string' ? parseChallenge(header) : undefined;
      if (challenge?.scheme === 'bearer') {
        const token = await fetchToken(challenge, o.scope, this.o.credentials, this.o.http ?? {}, this.o.plainHttp === true);
        this.auth.set(o.scope, `Bearer ${token}`);
      } else if (challenge?.scheme === 'basic' && this.o.credentials) {
        this.auth.set('*', basicHeader(this.o.credentials));
      } else {
        throw new ImgportError('UNAUTHORIZED', `${method} ${redact(url)}: the registry wants ${challenge?.scheme ?? 'an unknown kind of'} authentication${this.o.credentials ? '' : ' and no credentials are configured (IMGPORT_REGISTRY_AUTH=user:password)'}`);
      }
    }
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.call('HEAD', `/v2/${repo}/blobs/${digest}`, { scope: pull(repo) });
    discard(res);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw statusError(res.statusCode ?? 0, `HEAD blob ${digest} in ${repo}`);
  }

  /**
   * Starts an upload, mounting `digest` from `from` when given: true when the registry mounted
   * it (201), else the upload's location (it did not, or offers no mount).
   */
  async startUpload(repo: string, mount?: { digest: string; from: string }): Promise<true | URL> {
    const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    const scope = mount ? `${push(repo)} ${pull(mount.from)}` : push(repo);
    const res = await this.call('POST', `/v2/${repo}/blobs/uploads/${query}`, { scope, headers: { 'content-length': '0' } });
    const body = await readBody(res, 64 * 1024, 'upload start');
    if (res.statusCode === 201 && mount) return true;
    if (res.statusCode !== 202) throw statusError(res.statusCode ?? 0, `starting an upload to ${repo}`, body.toString('utf8'));
    return this.location(res, `starting an upload to ${repo}`);
  }

  /**
   * Sends `chunk` as the bytes from `offset` on. After a reset, a 5xx or a 416 it asks the
   * registry how much it has (GET of the upload) and sends the rest; the next location is returned.
   */
  async patchChunk(repo: string, at: URL, chunk: Buffer, offset: number, signal?: AbortSignal): Promise<URL> {
    let sent = 0;
    let location = at;
    for (let attempt = 1; ; attempt++) {
      let failure: ImgportError;
      try {
        const part = chunk.subarray(sent);
        const res = await this.call('PATCH', location, {
          scope: push(repo),
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset + sent}-${offset + chunk.length - 1}` },
          body: part,
        });
        const body = await readBody(res, 64 * 1024, 'chunk upload');
        if (res.statusCode === 202) return this.location(res, 'chunk upload');
        failure = res.statusCode === 416 ? new ImgportError('IO_ERROR', `the registry refused the range ${offset + sent}- (HTTP 416)`) : statusError(res.statusCode ?? 0, `uploading to ${repo}`, body.toString('utf8'));
      } catch (err) {
        failure = err instanceof ImgportError ? err : new ImgportError('IO_ERROR', (err as Error).message, { cause: err });
      }
      if (!failure.retryable || attempt >= (this.o.chunkAttempts ?? 5) || signal?.aborted) throw failure;
      await delay(200 * 2 ** (attempt - 1));
      const status = await this.uploadStatus(repo, location);
      location = status.location;
      // Distribution answers "0-0" for an empty upload as for a one-byte one.
      const have = status.received === 1 && offset === 0 ? 0 : status.received;
      if (have < offset || have > offset + chunk.length) {
        throw new ImgportError('IO_ERROR', `the registry holds ${have} bytes of the upload where ${offset}-${offset + chunk.length} was expected; starting the blob again`);
      }
      sent = have - offset;
      if (sent === chunk.length) return location;
    }
  }

  /** Completes an upload; `last` goes in the PUT's body (a whole small blob in one request). */
  async finishUpload(repo: string, at: URL, digest: string, last?: Buffer): Promise<void> {
    const url = new URL(at);
    url.searchParams.set('digest', digest);
    const res = await this.call('PUT', url, { scope: push(repo), headers: { 'content-type': 'application/octet-stream', ...(last ? {} : { 'content-length': '0' }) }, ...(last ? { body: last } : {}) });
    const body = await readBody(res, 64 * 1024, 'upload completion');
    if (res.statusCode === 201) return;
    const text = body.toString('utf8');
    // The bytes sent do not hash to the digest: the file changed, or the wire corrupted them.
    if (res.statusCode === 400 && /DIGEST_INVALID|digest/i.test(text)) throw new ImgportError('IO_ERROR', `the registry computed another digest than ${digest} for the uploaded bytes; uploading again`);
    throw statusError(res.statusCode ?? 0, `completing the upload of ${digest} to ${repo}`, text);
  }

  async uploadStatus(repo: string, at: URL): Promise<{ received: number; location: URL }> {
    const res = await this.call('GET', at, { scope: push(repo) });
    await readBody(res, 64 * 1024, 'upload status');
    if (res.statusCode !== 204 && res.statusCode !== 202) throw statusError(res.statusCode ?? 0, `the status of an upload to ${repo}`);
    const range = /^(?:bytes=)?0-(\d+)$/.exec(String(res.headers.range ?? ''));
    const received = range ? Number(range[1]) + 1 : 0;
    return { received, location: res.headers.location ? this.location(res, 'upload status') : at };
  }

  async putManifest(repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<{ digest: string; subject: boolean }> {
    const res = await this.call('PUT', `/v2/${repo}/manifests/${ref}`, { scope: push(repo), headers: { 'content-type': mediaType }, body: bytes });
    const body = await readBody(res, 64 * 1024, 'manifest upload');
    if (res.statusCode !== 201) {
      const text = body.toString('utf8');
      if (res.statusCode === 400) throw new ImgportError('UNSUPPORTED', `the registry refused the manifest for ${repo}:${ref}: ${text.slice(0, 300)}`);
      throw statusError(res.statusCode ?? 0, `uploading the manifest ${repo}:${ref}`, text);
    }
    return { digest: String(res.headers['docker-content-digest'] ?? ''), subject: res.headers['oci-subject'] !== undefined };
  }

  /** The manifest at a tag or digest; undefined when there is none (404). */
  async getManifest(repo: string, ref: string, accept = MANIFEST_TYPES): Promise<Manifest | undefined> {
    const res = await this.call('GET', `/v2/${repo}/manifests/${ref}`, { scope: pull(repo), headers: { accept: accept.join(', ') } });
    const bytes = await readBody(res, MANIFEST_MAX, `manifest ${repo}:${ref}`);
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, `manifest ${repo}:${ref}`, bytes.toString('utf8'));
    return { bytes, mediaType: String(res.headers['content-type'] ?? '').split(';')[0]!.trim(), digest: sha256(bytes) };
  }

  /**
   * GET of a blob from `offset` on (Range, with If-Range when the ETag of an earlier response is
   * known). Follows the registry's redirect to its storage, without our credentials. `start` is
   * where the body begins: 0 when the server ignored the range.
   */
  async openBlob(repo: string, digest: string, offset: number, etag?: string): Promise<{ res: IncomingMessage; start: number }> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-`, ...(etag ? { 'if-range': etag } : {}) } : {};
    let res = await this.call('GET', `/v2/${repo}/blobs/${digest}`, { scope: pull(repo), headers });
    for (let hop = 0; [301, 302, 303, 307, 308].includes(res.statusCode ?? 0); hop++) {
      const next = res.headers.location;
      discard(res);
      if (!next || hop >= 3) throw new ImgportError('IO_ERROR', `blob ${digest}: too many redirects`);
      res = await send(new URL(next, this.base), { ...this.o.http, headers });
    }
    const status = res.statusCode ?? 0;
    if (status === 200) return { res, start: 0 };
    if (status === 206) {
      const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== offset) {
        discard(res);
        throw new ImgportError('IO_ERROR', `blob ${digest}: the registry answered the range ${offset}- with ${String(res.headers['content-range'])}`);
      }
      return { res, start: offset };
    }
    const body = await readBody(res, 64 * 1024, `blob ${digest}`).catch(() => Buffer.alloc(0));
    if (status === 416) throw new ImgportError('IO_ERROR', `blob ${digest}: the registry has no bytes from ${offset} on (HTTP 416)`);
    throw statusError(status, `blob ${digest} in ${repo}`, body.toString('utf8'));
  }

  /** The referrers index of `digest`, or undefined when the registry has no referrers API. */
  async referrers(repo: string, digest: string, artifactType?: string): Promise<Buffer | undefined> {
    const q = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    const res = await this.call('GET', `/v2/${repo}/referrers/${digest}${q}`, { scope: pull(repo), headers: { accept: MANIFEST_TYPES[1]! } });
    const body = await readBody(res, MANIFEST_MAX, `referrers of ${digest}`);
    if (res.statusCode === 404 || res.statusCode === 405 || res.statusCode === 400) return undefined;
    if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, `referrers of ${digest}`, body.toString('utf8'));
    if (!String(res.headers['content-type'] ?? '').startsWith(MANIFEST_TYPES[1]!)) return undefined;
    return body;
  }

  async tags(repo: string): Promise<string[]> {
    const res = await this.call('GET', `/v2/${repo}/tags/list`, { scope: pull(repo) });
    const body = await readBody(res, MANIFEST_MAX, `tags of ${repo}`);
    if (res.statusCode === 404) return [];
    if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, `tags of ${repo}`, body.toString('utf8'));
    const doc = JSON.parse(body.toString('utf8')) as { tags?: unknown };
    return Array.isArray(doc.tags) ? doc.tags.filter((t): t is string => typeof t === 'string') : [];
  }

  private location(res: IncomingMessage, what: string): URL {
    const loc = res.headers.location;
    if (!loc) throw new ImgportError('IO_ERROR', `${what}: the registry gave no Location`);
    const url = new URL(loc, this.base);
    // An upload must stay on the registry we authenticated to.
    if (url.origin !== this.base.origin) throw new ImgportError('UNSAFE_PATH', `${what}: the registry sent the upload to ${url.origin}, not ${this.base.origin}`);
    return url;
  }
}

const pull = (repo: string) => `repository:${repo}:pull`;
const push = (repo: string) => `repository:${repo}:pull,push`;

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
