/**
 * Attacks through a URL source: redirects to other origins and schemes, servers that drip, stall
 * or lie about Content-Length. Each hostile server runs here on a loopback port; every failure
 * must be a clear IO_ERROR/UNSAFE_PATH naming what happened, never `fetch failed` or INTERNAL.
 */
import assert from 'node:assert/strict';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, test } from 'node:test';
import { openSource, type DownloadOptions } from '@imgport/engine';
import { hostileBundle, refused, site } from './helpers.js';
import { readFileSync } from 'node:fs';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Array<Server | TcpServer> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    if ('closeAllConnections' in s) s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Handler): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function drain(source: string, opts: DownloadOptions = {}): Promise<number> {
  const { stream } = await openSource(source, undefined, opts);
  let n = 0;
  for await (const c of stream) n += (c as Buffer).length;
  return n;
}

const FAST: DownloadOptions = { connectMs: 500, idleMs: 300, totalMs: 5000 };

describe('download attacks', () => {
  test('redirect to another port of the same host is refused, naming the target', async () => {
    const other = await serve((_q, r) => r.end('secret'));
    const base = await serve((_q, r) => r.writeHead(302, { location: `${other}/internal` }).end());
    await refused(drain(`${base}/b.tgz`), 'UNSAFE_PATH', new RegExp(`redirects to ${other}.*only within ${base}`));
  });

  test('redirect to file: is refused clearly, not "fetch failed"', async () => {
    const base = await serve((_q, r) => r.writeHead(301, { location: 'file:///etc/passwd' }).end());
    const err = await refused(drain(`${base}/b.tgz`), 'UNSAFE_PATH', /redirects to file: .*only within/);
    assert.doesNotMatch(err.message, /fetch failed/);
  });

  test('redirect to https on the same host (another scheme) is refused', async () => {
    const base = await serve((_q, r) => r.writeHead(307, { location: base.replace('http:', 'https:') + '/b.tgz' }).end());
    await refused(drain(`${base}/b.tgz`), 'UNSAFE_PATH', /redirects to https:/);
  });

  test('a redirect within the origin is followed; a redirect loop stops', async () => {
    const base = await serve((q, r) => {
      if (q.url === '/old.tgz') r.writeHead(301, { location: '/new.tgz' }).end();
      else if (q.url === '/loop') r.writeHead(302, { location: '/loop' }).end();
      else r.writeHead(200, { 'content-length': 5 }).end('hello');
    });
    assert.equal(await drain(`${base}/old.tgz`), 5);
    await refused(drain(`${base}/loop`), 'IO_ERROR', /more than 5 redirects/);
  });

  test('a redirect out of IMGPORT_URL_ALLOW is refused when an allow-list is given', async () => {
    const base = await serve((q, r) => {
      if (q.url === '/pub/b.tgz') r.writeHead(302, { location: '/private/b.tgz' }).end();
      else r.end('x');
    });
    await refused(drain(`${base}/pub/b.tgz`, { allow: [`${base}/pub/`] }), 'UNSAFE_PATH', /private\/b\.tgz is not under an allowed URL prefix/);
  });

  test('slow-drip server: the idle timeout stops the download', async () => {
    const base = await serve((_q, r) => {
      r.writeHead(200, { 'content-length': 1000 });
      r.write('x'); // then nothing
    });
    await refused(drain(`${base}/b.tgz`, FAST), 'IO_ERROR', /stalled: no data for 0\.3 s \(after 1 bytes\)/);
  });

  test('a server that never answers: no response within the idle timeout', async () => {
    const base = await serve(() => undefined);
    await refused(drain(`${base}/b.tgz`, FAST), 'IO_ERROR', /sent no response within 0\.3 s/);
  });

  test('a drip fast enough for the idle timeout still meets the total timeout', async () => {
    const base = await serve((_q, r) => {
      r.writeHead(200, { 'content-length': 100000 });
      const t = setInterval(() => r.write('x'), 50);
      r.on('close', () => clearInterval(t));
    });
    await refused(drain(`${base}/b.tgz`, { ...FAST, totalMs: 600 }), 'IO_ERROR', /took longer than 0\.6 s/);
  });

  test('TLS that never handshakes: the connect timeout stops it', async () => {
    // Reads (so a closed connection is noticed) and never answers.
    const tcp = createTcpServer((sock) => sock.resume());
    servers.push(tcp);
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
    const port = (tcp.address() as { port: number }).port;
    await refused(drain(`https://127.0.0.1:${port}/b.tgz`, FAST), 'IO_ERROR', /no connection to 127\.0\.0\.1:\d+ within 0\.5 s/);
  });

  test('nothing listening: a clear connection error', async () => {
    const tcp = createTcpServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
    const port = (tcp.address() as { port: number }).port;
    await new Promise((r) => tcp.close(r));
    await refused(drain(`http://127.0.0.1:${port}/b.tgz`, FAST), 'IO_ERROR', /cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  test('Content-Length lie: a clear IO_ERROR through the import, not "[INTERNAL] terminated"', async () => {
    const s = await site();
    try {
      const bundle = readFileSync(await hostileBundle(s.dir, { name: 'img-short' }));
      const base = await serve((_q, r) => {
        r.writeHead(200, { 'content-length': bundle.length + 5000 });
        r.write(bundle.subarray(0, Math.floor(bundle.length / 2)));
        setTimeout(() => r.socket?.destroy(), 50);
      });
      const err = await refused(s.service().run(`${base}/b.tgz`), 'IO_ERROR', /ended after \d+ of the \d+ bytes its Content-Length announced/);
      assert.doesNotMatch(err.message, /terminated/);
      assert.equal((await s.tables.getImage('img-short')).osimage, undefined);
    } finally {
      await s.close();
    }
  });
});
