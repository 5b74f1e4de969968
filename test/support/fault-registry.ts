/**
 * A small in-process OCI registry (node:http) whose faults a test chooses: connections reset in
 * the middle of an upload or a download, a 416 for a chunk, blobs served with wrong bytes, a
 * bearer-token challenge, no referrers API (or one), and a refusal of the empty config media type.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface Faults {
  /** Reset the connection after this many bytes of the next PATCH body (the bytes received are kept). */
  resetPatchAfter?: number;
  /** Answer the next PATCH with 416 without taking its bytes. */
  refuseNextPatch?: boolean;
  /** Reset a blob download after this many bytes, once. */
  resetGetAfter?: number;
  /** Serve blobs with one byte flipped. */
  corruptBlobs?: boolean;
  /** Require `Authorization: Bearer` from a token service at /token (Basic user:pass). */
  bearer?: { username: string; password: string };
  referrersApi?: boolean;
  rejectEmptyConfig?: boolean;
}

export interface FaultRegistry {
  host: string;
  faults: Faults;
  /** `<repo>@<digest>` → bytes. */
  blobs: Map<string, Buffer>;
  manifests: Map<string, { type: string; bytes: Buffer }>;
  requests: string[];
  close(): Promise<void>;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function startFaultRegistry(faults: Faults = {}): Promise<FaultRegistry> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { type: string; bytes: Buffer }>();
  const uploads = new Map<string, Buffer>();
  const requests: string[] = [];
  const token = randomBytes(8).toString('hex');
  const state: FaultRegistry = { host: '', faults, blobs, manifests, requests, close: async () => undefined };

  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500).end(err.message);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, 'http://x');
    const host = `http://${state.host}`;
    if (url.pathname === '/token') {
      const b = faults.bearer!;
      const ok = req.headers.authorization === `Basic ${Buffer.from(`${b.username}:${b.password}`).toString('base64')}`;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(ok ? JSON.stringify({ token }) : '{}');
      return;
    }
    if (faults.bearer && req.headers.authorization !== `Bearer ${token}`) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${host}/token",service="fault",scope="repository:x:pull"` }).end();
      return;
    }
    const m = /^\/v2\/(.+?)\/(blobs\/uploads\/?(.*)|blobs\/(sha256:[0-9a-f]{64})|manifests\/([^/]+)|referrers\/(sha256:[0-9a-f]{64})|tags\/list)$/.exec(url.pathname);
    if (url.pathname === '/v2/') return void res.writeHead(200).end('{}');
    if (!m) return void res.writeHead(404).end();
    const [, repo, , uploadId, blob, manifestRef, referrersOf] = m;
    if (uploadId !== undefined) return upload(req, res, repo!, uploadId, url);
    if (blob) return serveBlob(req, res, `${repo}@${blob}`);
    if (manifestRef) return manifest(req, res, repo!, manifestRef);
    if (referrersOf) {
      if (!faults.referrersApi) return void res.writeHead(404).end();
      const list = [...manifests.values()].map((v) => ({ v, doc: JSON.parse(v.bytes.toString()) })).filter((x) => x.doc.subject?.digest === referrersOf);
      const manifestsList = list.map((x) => ({ mediaType: x.v.type, digest: sha(x.v.bytes), size: x.v.bytes.length, artifactType: x.doc.artifactType ?? x.doc.config?.mediaType }));
      return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(JSON.stringify({ schemaVersion: 2, manifests: manifestsList }));
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tags: [...manifests.keys()].filter((k) => !k.startsWith('sha256:')) }));
  }

  async function upload(req: IncomingMessage, res: ServerResponse, repo: string, id: string, url: URL): Promise<void> {
    if (req.method === 'POST') {
      await body(req);
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from');
      const mounted = mount && from ? blobs.get(`${from}@${mount}`) : undefined;
      if (mounted) {
        blobs.set(`${repo}@${mount}`, mounted);
        return void res.writeHead(201, { location: `/v2/${repo}/blobs/${mount}` }).end();
      }
      const uid = randomBytes(6).toString('hex');
      uploads.set(uid, Buffer.alloc(0));
      return void res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/${uid}?_state=x`, range: '0-0' }).end();
    }
    const have = uploads.get(id);
    if (!have) return void res.writeHead(404).end();
    const range = () => (have.length === 0 ? '0-0' : `0-${uploads.get(id)!.length - 1}`);
    if (req.method === 'GET') return void res.writeHead(204, { location: `/v2/${repo}/blobs/uploads/${id}`, range: range() }).end();
    if (req.method === 'PATCH') {
      if (faults.refuseNextPatch) {
        faults.refuseNextPatch = false;
        req.resume();
        return void res.writeHead(416).end();
      }
      const start = Number(String(req.headers['content-range'] ?? '').split('-')[0]);
      if (start !== have.length) {
        req.resume();
        return void res.writeHead(416).end();
      }
      if (faults.resetPatchAfter !== undefined) {
        const limit = faults.resetPatchAfter;
        delete faults.resetPatchAfter;
        const got = await body(req, limit);
        uploads.set(id, Buffer.concat([have, got]));
        req.socket.destroy();
        return;
      }
      const got = await body(req);
      uploads.set(id, Buffer.concat([have, got]));
      return void res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/${id}`, range: range() }).end();
    }
    if (req.method === 'PUT') {
      const all = Buffer.concat([have, await body(req)]);
      const digest = url.searchParams.get('digest');
      if (sha(all) !== digest) return void res.writeHead(400).end(JSON.stringify({ errors: [{ code: 'DIGEST_INVALID' }] }));
      blobs.set(`${repo}@${digest}`, all);
      uploads.delete(id);
      return void res.writeHead(201, { location: `/v2/${repo}/blobs/${digest}` }).end();
    }
    res.writeHead(405).end();
  }

  function serveBlob(req: IncomingMessage, res: ServerResponse, key: string): void {
    const digest = key.slice(key.indexOf('@') + 1);
    const data = blobs.get(key);
    if (!data) return void res.writeHead(404).end();
    if (req.method === 'HEAD') return void res.writeHead(200, { 'content-length': data.length, etag: `"${digest}"` }).end();
    let bytes = data;
    if (faults.corruptBlobs && bytes.length > 0) {
      bytes = Buffer.from(bytes);
      bytes[0] = bytes[0]! ^ 0xff;
    }
    const r = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    const start = r ? Number(r[1]) : 0;
    const part = bytes.subarray(start);
    res.writeHead(r ? 206 : 200, { 'content-length': part.length, etag: `"${digest}"`, ...(r ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}) });
    if (faults.resetGetAfter !== undefined && part.length > faults.resetGetAfter) {
      const cut = faults.resetGetAfter;
      delete faults.resetGetAfter;
      res.write(part.subarray(0, cut), () => res.socket?.destroy());
      return;
    }
    res.end(part);
  }

  async function manifest(req: IncomingMessage, res: ServerResponse, repo: string, ref: string): Promise<void> {
    void repo;
    if (req.method === 'PUT') {
      const bytes = await body(req);
      const doc = JSON.parse(bytes.toString());
      if (faults.rejectEmptyConfig && doc.config?.mediaType === 'application/vnd.oci.empty.v1+json') {
        return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_INVALID', message: 'unknown config media type' }] }));
      }
      const type = String(req.headers['content-type']);
      manifests.set(ref, { type, bytes });
      manifests.set(sha(bytes), { type, bytes });
      const subject = faults.referrersApi && doc.subject ? { 'oci-subject': doc.subject.digest } : {};
      return void res.writeHead(201, { 'docker-content-digest': sha(bytes), ...subject }).end();
    }
    const found = manifests.get(ref);
    if (!found) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': found.type, 'docker-content-digest': sha(found.bytes) }).end(req.method === 'HEAD' ? undefined : found.bytes);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  state.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** A request body, or its first `limit` bytes. */
function body(req: IncomingMessage, limit = Infinity): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let n = 0;
    const done = () => resolve(Buffer.concat(parts).subarray(0, Math.min(n, limit)));
    req.on('data', (c: Buffer) => {
      parts.push(c);
      n += c.length;
      if (n >= limit) {
        req.removeAllListeners('data');
        req.pause();
        done();
      }
    });
    req.on('end', done);
    req.on('error', done);
  });
}
