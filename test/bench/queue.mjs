// Service benchmark on loopback, against the real Redis and MariaDB:
//  1. enqueue latency: POST /v1/imports at a fixed rate (open loop, default 200 req/s for 10 s),
//     p50/p99/max of the response time;
//  2. throughput: N independent small netboot imports drained by one worker process, then by two
//     (WORKER_CONCURRENCY=1 each), jobs per minute and the ratio.
// Run after `npm run build`: node test/bench/queue.mjs [--rate 200] [--seconds 10] [--jobs 24]
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConnection } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { packRootImage, writeBundle } from '../../packages/archive/dist/index.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const rate = opt('--rate', 200);
const seconds = opt('--seconds', 10);
const jobs = opt('--jobs', 24);
const token = 'bench-' + randomBytes(6).toString('hex');

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function cluster() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgport-qbench-'));
  const env = {
    PATH: process.env.PATH,
    PORT: String(await freePort()),
    IMGPORT_TOKENS: token,
    REDIS_URL: 'redis://127.0.0.1:6379',
    XCAT_DB: `mysql://root@127.0.0.1:3306/imgport_b_${randomBytes(4).toString('hex')}`,
    INSTALL_ROOT: path.join(dir, 'install'),
    IMGPORT_DATA: path.join(dir, 'data'),
    IMGPORT_QUEUE_PREFIX: `imgport-bench-${randomBytes(4).toString('hex')}`,
    WORKER_CONCURRENCY: '1',
    LOG_LEVEL: 'warn',
  };
  fs.mkdirSync(env.INSTALL_ROOT);
  const conn = await createConnection('mysql://root@127.0.0.1:3306');
  await conn.query(`CREATE DATABASE \`${new URL(env.XCAT_DB).pathname.slice(1)}\``);
  await conn.end();
  const procs = [];
  const start = (main) => {
    const p = spawn(process.execPath, [path.join(repo, main)], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    procs.push(p);
    return p;
  };
  const base = `http://127.0.0.1:${env.PORT}`;
  start('services/api/dist/main.js');
  for (let i = 0; i < 200; i++) {
    if ((await fetch(`${base}/healthz`).catch(() => undefined))?.ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    await Promise.all(procs.filter((p) => p.exitCode === null).map((p) => new Promise((r) => p.once('exit', r))));
    const redis = new Redis(env.REDIS_URL);
    const keys = await redis.keys(`${env.IMGPORT_QUEUE_PREFIX}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    const conn = await createConnection('mysql://root@127.0.0.1:3306');
    await conn.query(`DROP DATABASE IF EXISTS \`${new URL(env.XCAT_DB).pathname.slice(1)}\``);
    await conn.end();
    // Deleted at the very end: right after a large deletion ext4 here creates files many times
    // slower for a while, which would tax whichever run comes next.
    leftovers.push(dir);
  };
  return { dir, env, base, start, stop };
}

const auth = { authorization: `Bearer ${token}` };
const leftovers = [];
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function latency() {
  const c = await cluster();
  try {
    const total = rate * seconds;
    const times = [];
    let errors = 0;
    const t0 = performance.now();
    const inflight = [];
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const sent = performance.now();
      inflight.push(
        fetch(`${c.base}/v1/imports`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ source: `http://127.0.0.1:9/bundle-${i}.tgz` }),
        }).then(
          async (r) => {
            await r.arrayBuffer();
            if (r.status !== 202) errors++;
            times.push(performance.now() - sent);
          },
          () => errors++,
        ),
      );
    }
    await Promise.all(inflight);
    const metrics = await (await fetch(`${c.base}/metrics`, { headers: auth })).text();
    const server = metrics.split('\n').filter((l) => /duration.*(route="\/v1\/imports"|method="POST")/.test(l) && /_bucket|_count|_sum/.test(l));
    if (args.includes('--server-side')) console.log(server.join('\n'));
    const achieved = total / ((performance.now() - t0) / 1000);
    times.sort((a, b) => a - b);
    console.log(
      `enqueue: ${total} POST /v1/imports at ${rate} req/s (achieved ${achieved.toFixed(0)}): p50 ${pct(times, 50).toFixed(1)} ms, p99 ${pct(times, 99).toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms, errors ${errors}`,
    );
  } finally {
    await c.stop();
  }
}

async function makeBundles(dir, n) {
  const tree = path.join(dir, 'tree');
  fs.mkdirSync(path.join(tree, 'usr/lib'), { recursive: true });
  for (let i = 0; i < 600; i++) fs.writeFileSync(path.join(tree, 'usr/lib', `f${i}`), randomBytes(8192).toString('base64').repeat(4));
  const archive = path.join(dir, 'rootimg.cpio.gz');
  await packRootImage(tree, fs.createWriteStream(archive));
  const out = [];
  for (let i = 0; i < n; i++) {
    const name = `bench-${i}`;
    const manifest = [`name ${name}`, 'os rhels8.5.0', 'arch x86_64', `profile p${i}`, 'method netboot', 'kernel kernel', 'initrd initrd-stateless.gz', 'rootimg rootimg.cpio.gz', ''].join('\n');
    const file = path.join(dir, `${name}.tgz`);
    await writeBundle(fs.createWriteStream(file), [
      { name: 'manifest.cfg', source: { data: manifest } },
      { name: 'kernel', source: { data: randomBytes(1 << 20) }, precompressed: true },
      { name: 'initrd-stateless.gz', source: { data: randomBytes(2 << 20) }, precompressed: true },
      { name: 'rootimg.cpio.gz', source: { file: archive }, precompressed: true },
    ]);
    out.push(file);
  }
  return out;
}

async function drain(workers) {
  const c = await cluster();
  try {
    const bundles = await makeBundles(c.dir, jobs);
    const ids = [];
    for (const b of bundles) {
      const r = await fetch(`${c.base}/v1/imports`, { method: 'POST', headers: { ...auth, 'content-type': 'application/gzip' }, body: fs.readFileSync(b) });
      ids.push((await r.json()).id);
    }
    spawnSync('sync');
    // The clock starts when the first job starts running: worker start-up is not throughput.
    for (let i = 0; i < workers; i++) c.start('services/worker/dist/main.js');
    // One cheap listing request every 100 ms: polling each job would load the API and the
    // database, which share the two cores with the workers being measured.
    const count = async (state) => (await (await fetch(`${c.base}/v1/jobs?type=import&state=${state}&limit=1`, { headers: auth })).json()).total;
    let t0;
    for (;;) {
      if (t0 === undefined && (await count('queued')) < ids.length) t0 = performance.now();
      const failed = await count('failed');
      if (failed) throw new Error(`${failed} imports failed`);
      if ((await count('succeeded')) === ids.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const min = (performance.now() - t0) / 60000;
    return jobs / min;
  } finally {
    await c.stop();
  }
}

await latency();
if (args.includes('--latency-only')) {
  for (const d of leftovers) fs.rmSync(d, { recursive: true, force: true });
  process.exit(0);
}
// Alternated pairs: this machine's file-creation speed drifts for minutes after deletions.
const ones = [];
const twos = [];
for (let pair = 0; pair < 2; pair++) {
  ones.push(await drain(1));
  twos.push(await drain(2));
}
for (const d of leftovers) fs.rmSync(d, { recursive: true, force: true });
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`throughput: ${jobs} independent imports per run, jobs/min with 1 worker ${ones.map((x) => x.toFixed(0)).join(', ')}; with 2 workers ${twos.map((x) => x.toFixed(0)).join(', ')}; ratio of means ${(mean(twos) / mean(ones)).toFixed(2)}`);
