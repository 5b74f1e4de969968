// Publishing and pulling against a real registry (Debian's docker-registry on a loopback port):
//   1. re-publish of a snapshot whose kernel and initrd did not change: bytes uploaded against
//      the bytes of the members that changed (the aim: at most changed + 1 %);
//   2. a pull killed at 50 % and resumed from its .part: bytes the resumed run fetches against
//      the bundle (the aim: at most 55 %), and the total over both runs;
//   3. `imgport pull oci://… --import` against `curl -o` + `xcatimport` of the same bundle.
// Prints the figures; asserts nothing about time. Run after `npm run build`:
//   node test/bench/publish.mjs [--root-mb N] [--runs N]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packRootImage, writeBundle } from '../../packages/archive/dist/index.js';
import { parseOciReference, pullToFile, pushBundle, Registry, resolveArtifact } from '../../packages/catalog/dist/index.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const rootMb = opt('--root-mb', 48);
const runs = opt('--runs', 2);
const MiB = 1024 * 1024;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (n) => `${(n / MiB).toFixed(1)} MiB`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'imgport-bench-publish-'));
const children = [];

function tree(dir, seed, files) {
  fs.mkdirSync(path.join(dir, 'usr/lib'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'etc/hostname'), `${seed}\n`);
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(dir, `usr/lib/f${i}.bin`), randomBytes(64 * 1024));
}

async function bundle(name, kernel, initrd, rootTree) {
  const root = path.join(work, `${name}-rootimg.cpio.gz`);
  await packRootImage(rootTree, fs.createWriteStream(root));
  const manifest = ['name bench-pub', 'os rhels8.5.0', 'arch x86_64', 'profile compute', 'method netboot', 'kernel kernel', 'initrd initrd-stateless.gz', 'rootimg rootimg.cpio.gz', ''].join('\n');
  const file = path.join(work, `${name}.tgz`);
  await writeBundle(fs.createWriteStream(file), [
    { name: 'manifest.cfg', source: { data: manifest } },
    { name: 'kernel', source: { file: kernel }, precompressed: true },
    { name: 'initrd-stateless.gz', source: { file: initrd }, precompressed: true },
    { name: 'rootimg.cpio.gz', source: { file: root }, precompressed: true },
  ]);
  return file;
}

async function startRegistry() {
  const dir = path.join(work, 'registry');
  fs.mkdirSync(dir);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(config, ['version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'));
  const child = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: 'ignore' });
  children.push(child);
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false);
    if (ok) return `127.0.0.1:${port}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('docker-registry did not start');
}

function world(tag) {
  const dir = fs.mkdtempSync(path.join(work, `world-${tag}-`));
  fs.mkdirSync(path.join(dir, 'install'));
  return { dir, env: { PATH: process.env.PATH, HOME: dir, INSTALL_ROOT: path.join(dir, 'install'), XCAT_DB: `sqlite:${path.join(dir, 'db')}`, IMGPORT_DATA: path.join(dir, 'data'), IMGPORT_SIGNATURES: 'off' } };
}

/** Not spawnSync: the bundle's HTTP server runs in this process and must keep answering. */
function timed(cmd, argv, env) {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t) / 1e9) : reject(new Error(`${cmd} ${argv.join(' ')}: exit ${code}: ${stderr}`))));
  });
}

try {
  const kernel = path.join(work, 'kernel');
  const initrd = path.join(work, 'initrd');
  fs.writeFileSync(kernel, randomBytes(12 * MiB));
  fs.writeFileSync(initrd, randomBytes(32 * MiB));
  const files = Math.max(1, Math.round((rootMb * MiB) / (64 * 1024)));
  const treeA = path.join(work, 'treeA');
  tree(treeA, 'night-1', files);
  const a = await bundle('night1', kernel, initrd, treeA);
  // The next night: the root filesystem changed (10 % of its files rewritten, then re-packed), kernel and initrd did not.
  for (let i = 0; i < files; i += 10) fs.writeFileSync(path.join(treeA, `usr/lib/f${i}.bin`), randomBytes(64 * 1024));
  const b = await bundle('night2', kernel, initrd, treeA);

  const host = await startRegistry();
  const reg = new Registry(host, { plainHttp: true });
  const ref = parseOciReference(`oci://${host}/bench/pub:night`);
  const first = await pushBundle(a, reg, ref);
  const second = await pushBundle(b, reg, ref);
  const before = new Map(first.layers.map((l) => [l.name, l.digest]));
  const changed = second.layers.filter((l) => before.get(l.name) !== l.digest).reduce((n, l) => n + l.size, 0);
  console.log(`# FIGURE re-publish: uploaded ${second.bytesUploaded} bytes (${mib(second.bytesUploaded)}) for ${changed} changed bytes (${mib(changed)}) of ${mib(second.bytesTotal)}: ${((second.bytesUploaded / changed - 1) * 100).toFixed(3)} % over the changed bytes (aim <= 1 %)`);
  console.log(`#   layers: ${second.layers.map((l) => `${l.name}=${l.how}`).join(', ')}`);

  const art = await resolveArtifact(new Registry(host, { plainHttp: true }), ref);
  const part = path.join(work, 'pulled.tar.part');
  const stop = new AbortController();
  const r1 = new Registry(host, { plainHttp: true });
  await pullToFile(await resolveArtifact(r1, ref), part, { resume: false, signal: stop.signal, onProgress: (p) => p.bytesDone >= art.size / 2 && stop.abort() }).catch(() => undefined);
  const r2 = new Registry(host, { plainHttp: true });
  const resumed = await pullToFile(await resolveArtifact(r2, ref), part, { resume: true });
  const total = r1.stats.bytesDownloaded + r2.stats.bytesDownloaded;
  const members = art.members.reduce((n, m) => n + m.size, 0);
  console.log(`# FIGURE pull killed at 50 %: first run ${mib(r1.stats.bytesDownloaded)}, resumed run ${mib(r2.stats.bytesDownloaded)} (${mib(resumed.bytesResumed)} kept from the first): ${((100 * total) / members).toFixed(1)} % of the bundle transferred in total, ${((100 * r2.stats.bytesDownloaded) / members).toFixed(1)} % after the kill (aim: resumed run <= 55 %)`);

  const server = createServer((req, res) => {
    const st = fs.statSync(b);
    res.writeHead(200, { 'content-length': st.size });
    fs.createReadStream(b).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/night2.tgz`;
  const bin = (n) => path.join(repo, 'packages/cli/bin', `${n}.js`);
  const ours = [];
  const theirs = [];
  for (let i = 0; i < runs; i++) {
    const w1 = world('pull');
    ours.push(await timed(process.execPath, [bin('imgport'), 'pull', `oci://${host}/bench/pub:night`, '--import', '--plain-http'], w1.env));
    const w2 = world('curl');
    const t = (await timed('curl', ['-sf', '-o', path.join(w2.dir, 'b.tgz'), url], w2.env)) + (await timed(process.execPath, [bin('xcatimport'), path.join(w2.dir, 'b.tgz')], w2.env));
    theirs.push(t);
    fs.rmSync(w1.dir, { recursive: true, force: true });
    fs.rmSync(w2.dir, { recursive: true, force: true });
  }
  server.close();
  console.log(`# FIGURE pull --import from the local registry: ${median(ours).toFixed(2)} s; curl + xcatimport of the same bundle: ${median(theirs).toFixed(2)} s; ratio ${(median(ours) / median(theirs)).toFixed(2)} (median of ${runs}, ${mib(fs.statSync(b).size)} bundle)`);
} finally {
  for (const c of children) if (c.exitCode === null) process.kill(c.pid, 'SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
}
