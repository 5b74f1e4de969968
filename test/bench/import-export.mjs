// End-to-end import and export benchmark, side by side with the standard tools in one run.
//   import: ours (stage + verify + expand + commit, one pass) vs `tar xzf bundle` then
//           `gzip -dc rootimg.cpio.gz | cpio -idmu` (what an admin does by hand);
//   export: ours vs xCAT's own way, `tar czf` of the same files (it deflates the already-gzipped
//           root image again), with `tar cf` for reference.
// Run after `npm run build`: node test/bench/import-export.mjs [--size MB] [--runs N] [--no-scale]
// Alternates the two sides, prints medians, ratios and our peak RSS. Nothing goes through a shell.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { writeBundle } from '../../packages/archive/dist/index.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const benchDir = path.join(repo, '.bench');
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const sizeMB = opt('--size', 300);
const runs = opt('--runs', 5);

function run(cmd, argv, { cwd, stdout } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { cwd, stdio: ['ignore', stdout ?? 'pipe', 'inherit'] });
    let out = '';
    p.stdout?.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${argv.join(' ')}: exit ${code}`))));
  });
}

/** gzip -dc archive | cpio -idmu, in cwd, as two processes joined by a pipe. */
function gunzipCpio(archive, cwd) {
  return new Promise((resolve, reject) => {
    const gz = spawn('gzip', ['-dc', archive], { stdio: ['ignore', 'pipe', 'inherit'] });
    const cpio = spawn('cpio', ['-idmu', '--quiet'], { cwd, stdio: [gz.stdout, 'ignore', 'inherit'] });
    cpio.on('error', reject);
    cpio.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`cpio exit ${code}`))));
  });
}

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// Right after a large deletion, ext4 here creates files up to 20x slower for a while, for both
// sides alike; so outputs are moved aside (a rename) and deleted once at the end, and the page
// cache is flushed before each timed run.
let aside = 0;
const fresh = (name) => {
  const d = path.join(benchDir, 'work', name);
  if (fs.existsSync(d)) fs.renameSync(d, path.join(benchDir, 'work', `aside-${aside++}`));
  fs.mkdirSync(d, { recursive: true });
  spawnSync('sync');
  return d;
};

async function rootImage(mb) {
  const archive = path.join(benchDir, `fixture-${mb}`, 'rootimg.cpio.gz');
  if (!fs.existsSync(archive)) await run(process.execPath, [path.join(repo, 'test/bench/expand.mjs'), '--size', String(mb), '--runs', '1', '--no-scale'], { stdout: 'inherit' });
  return archive;
}

async function bundle(mb) {
  const out = path.join(benchDir, `bundle-${mb}.tgz`);
  if (fs.existsSync(out)) return out;
  const manifest = ['name bench-netboot', 'os rhels8.5.0', 'arch x86_64', 'profile compute', 'method netboot', 'kernel kernel', 'initrd initrd-stateless.gz', 'rootimg rootimg.cpio.gz', ''].join('\n');
  await writeBundle(fs.createWriteStream(out), [
    { name: 'manifest.cfg', source: { data: manifest } },
    { name: 'kernel', source: { data: randomBytes(10 << 20) }, precompressed: true },
    { name: 'initrd-stateless.gz', source: { data: gzipSync(randomBytes(40 << 20), { level: 1 }) }, precompressed: true },
    { name: 'rootimg.cpio.gz', source: { file: await rootImage(mb) }, precompressed: true },
  ]);
  return out;
}

async function benchImport(mb) {
  const b = await bundle(mb);
  const gnu = [];
  const ours = [];
  let rss = 0;
  for (let i = 0; i < runs; i++) {
    const g = fresh('gnu');
    gnu.push(
      await timed(async () => {
        await run('tar', ['xzf', b, '-C', g]);
        fs.mkdirSync(path.join(g, 'rootimg'));
        await gunzipCpio(path.join(g, 'rootimg.cpio.gz'), path.join(g, 'rootimg'));
      }),
    );
    const o = fresh('ours');
    const res = JSON.parse(await run(process.execPath, [path.join(repo, 'test/bench/engine-child.mjs'), 'import', b, path.join(o, 'install'), path.join(o, 'db')]));
    ours.push(res.ms);
    rss = Math.max(rss, res.maxRssKiB);
  }
  const size = (fs.statSync(b).size / 2 ** 20).toFixed(0);
  console.log(`import ${size} MiB bundle: GNU tar+gzip|cpio ${(median(gnu) / 1000).toFixed(2)} s, ours ${(median(ours) / 1000).toFixed(2)} s, ratio ${(median(ours) / median(gnu)).toFixed(2)}, our peak RSS ${(rss / 1024).toFixed(0)} MiB`);
  return path.join(benchDir, 'work', 'ours');
}

async function benchExport(mb, imported) {
  const installRoot = path.join(imported, 'install');
  const dir = path.join(installRoot, 'netboot/rhels8.5.0/x86_64/compute');
  const files = ['kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz'];
  const tgz = [];
  const tar = [];
  const ours = [];
  let rss = 0;
  for (let i = 0; i < runs; i++) {
    const out = fresh('export');
    // Each side starts with the page cache written back, and the order rotates, so no side
    // pays for the dirty pages another left behind.
    const sides = [
      async () => tgz.push(await timed(() => run('tar', ['czf', path.join(out, 'x.tgz'), '-C', dir, ...files]))),
      async () => tar.push(await timed(() => run('tar', ['cf', path.join(out, 'x.tar'), '-C', dir, ...files]))),
      async () => {
        const res = JSON.parse(await run(process.execPath, [path.join(repo, 'test/bench/engine-child.mjs'), 'export', 'bench-netboot', installRoot, path.join(imported, 'db'), path.join(out, 'ours.tgz')]));
        ours.push(res.ms);
        rss = Math.max(rss, res.maxRssKiB);
      },
    ];
    for (let k = 0; k < sides.length; k++) {
      spawnSync('sync');
      await sides[(i + k) % sides.length]();
    }
  }
  console.log(`export: xCAT's tar czf ${(median(tgz) / 1000).toFixed(2)} s, tar cf ${(median(tar) / 1000).toFixed(2)} s, ours ${(median(ours) / 1000).toFixed(2)} s, ratio vs tar czf ${(median(ours) / median(tgz)).toFixed(3)}, our peak RSS ${(rss / 1024).toFixed(0)} MiB`);
}

for (const mb of args.includes('--no-scale') ? [sizeMB] : [sizeMB, sizeMB * 2]) {
  console.log(`--- root image fixture of ${mb} MB, ${runs} alternated runs, medians`);
  const imported = await benchImport(mb);
  await benchExport(mb, imported);
  fs.rmSync(path.join(benchDir, 'work'), { recursive: true, force: true });
}
fs.rmSync(path.join(benchDir, 'work'), { recursive: true, force: true });
