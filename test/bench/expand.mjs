// Expansion benchmark: our expandRootImage against `gzip -dc rootimg.cpio.gz | cpio -idmu`.
// Run after `npm run build`:
//   node test/bench/expand.mjs [--size MB] [--runs N] [--no-scale] [--remove-between]
// Builds a realistic fixture once under .bench/ (a tree of mixed files, dirs and symlinks,
// packed with GNU find|cpio|gzip), then alternates GNU and ours N times into fresh dirs and
// prints medians, the ratio ours/GNU and our peak RSS; then the same with a fixture twice as
// large, to show RSS stays flat. Nothing here goes through a shell.
//
// Each run's output is moved aside and all are deleted at the end. Deleting a large tree right
// before a run makes ext4 slow to create files for a minute or more (its inode allocator skips
// and rescans recently deleted inodes: measured 550-780 us per create instead of ~25 us here),
// which buries both tools' own cost under the kernel's. --remove-between deletes each output
// straight after its run instead. Before each run, sync(1) flushes the earlier runs' writes.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const benchDir = path.join(repo, '.bench');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const sizeMB = opt('--size', 300);
const runs = opt('--runs', 5);
const scale = !args.includes('--no-scale');
const removeBetween = args.includes('--remove-between');
const trash = path.join(benchDir, 'trash');

/** Deterministic PRNG (mulberry32) so fixtures are the same from run to run. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** About 4 MiB of word salad: compresses roughly like text and config files do. */
function textPool(rand) {
  const words = Array.from({ length: 600 }, () => {
    const n = 2 + Math.floor(rand() * 9);
    let w = '';
    for (let i = 0; i < n; i++) w += String.fromCharCode(97 + Math.floor(rand() * 26));
    return w;
  });
  const parts = [];
  let len = 0;
  while (len < 4 << 20) {
    const line = Array.from({ length: 4 + Math.floor(rand() * 12) }, () => words[Math.floor(rand() * words.length)]).join(' ') + '\n';
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join(''));
}

/** A file's content: text slices with random binary blocks (about an eighth) mixed in. */
function content(rand, pool, size) {
  const buf = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; ) {
    const n = Math.min(size - off, 4096 + Math.floor(rand() * 28672));
    if (rand() < 0.12) randomBytes(n).copy(buf, off);
    else {
      const at = Math.floor(rand() * (pool.length - n));
      pool.copy(buf, off, at, at + n);
    }
    off += n;
  }
  return buf;
}

/** A root-filesystem-like size mix: mostly small files, some medium, a few large. */
function fileSize(rand) {
  const r = rand();
  if (r < 0.417) return Math.floor(rand() * 2048);
  if (r < 0.917) return 2048 + Math.floor(rand() * 30000);
  if (r < 0.997) return 32768 + Math.floor(rand() * 200000);
  return 1e6 + Math.floor(rand() * 5e6);
}

function makeTree(root, totalBytes) {
  const rand = prng(42);
  const pool = textPool(rand);
  const dirs = [''];
  let bytes = 0;
  let files = 0;
  while (bytes < totalBytes) {
    if (files % 40 === 0) {
      const parent = dirs[Math.floor(rand() * dirs.length)];
      const d = path.join(parent, `d${dirs.length}`);
      fs.mkdirSync(path.join(root, d), { recursive: true });
      dirs.push(d);
    }
    const dir = dirs[dirs.length - 1 - Math.floor(rand() * Math.min(5, dirs.length))];
    const name = path.join(dir, `f${files}.${['so', 'conf', 'py', 'txt', 'bin'][files % 5]}`);
    const size = fileSize(rand);
    fs.writeFileSync(path.join(root, name), content(rand, pool, size), { mode: files % 17 === 0 ? 0o755 : 0o644 });
    if (files % 20 === 0) fs.symlinkSync(files % 40 === 0 ? `/usr/lib/${name}` : path.basename(name), path.join(root, `${name}.lnk`));
    bytes += size;
    files++;
  }
  return { files, dirs: dirs.length };
}

/** Runs a pipeline of argument arrays, stdin of the first from `input`, in `cwd`; resolves on exit. */
function pipe(cmds, { input, output, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const procs = cmds.map(([cmd, ...argv], i) =>
      spawn(cmd, argv, { cwd, stdio: [i === 0 && input ? fs.openSync(input, 'r') : 'pipe', i === cmds.length - 1 && output ? fs.openSync(output, 'w') : 'pipe', 'inherit'] }),
    );
    for (let i = 1; i < procs.length; i++) procs[i - 1].stdout.pipe(procs[i].stdin);
    let left = procs.length;
    for (const p of procs) {
      p.on('error', reject);
      p.on('close', (code) => (code !== 0 ? reject(new Error(`${p.spawnargs.join(' ')} exited ${code}`)) : --left === 0 && resolve()));
    }
  });
}

async function fixture(mb) {
  const dir = path.join(benchDir, `fixture-${mb}`);
  const archive = path.join(dir, 'rootimg.cpio.gz');
  if (fs.existsSync(archive)) return archive;
  fs.rmSync(dir, { recursive: true, force: true });
  const tree = path.join(dir, 'rootimg');
  fs.mkdirSync(tree, { recursive: true });
  const t0 = performance.now();
  const { files, dirs } = makeTree(tree, mb * 1024 * 1024);
  await pipe([['find', '.'], ['cpio', '-o', '-H', 'newc', '--quiet'], ['gzip', '-c']], { cwd: tree, output: archive + '.tmp' });
  fs.renameSync(archive + '.tmp', archive);
  fs.rmSync(tree, { recursive: true, force: true });
  console.log(`fixture ${mb} MB: ${files} files, ${dirs} dirs, archive ${(fs.statSync(archive).size / 2 ** 20).toFixed(0)} MiB, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return archive;
}

async function runGnu(archive, dest) {
  fs.mkdirSync(dest);
  const t0 = performance.now();
  await pipe([['gzip', '-dc', archive], ['cpio', '-idmu', '--quiet']], { cwd: dest });
  return performance.now() - t0;
}

async function runOurs(archive, dest) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(repo, 'test/bench/expand-child.mjs'), archive, dest], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.on('close', r));
  if (code !== 0) throw new Error(`expand-child exited ${code}`);
  return { ms: performance.now() - t0, ...JSON.parse(out) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function bench(mb) {
  const archive = await fixture(mb);
  const gnu = [];
  const ours = [];
  const rss = [];
  for (let i = 0; i < runs; i++) {
    for (const which of i % 2 ? ['ours', 'gnu'] : ['gnu', 'ours']) {
      const dest = path.join(benchDir, `out-${which}`);
      fs.rmSync(dest, { recursive: true, force: true });
      // Flush earlier runs' dirty pages first, so their writeback does not land in this run.
      await pipe([['sync']]);
      if (which === 'gnu') gnu.push(await runGnu(archive, dest));
      else {
        const r = await runOurs(archive, dest);
        ours.push(r.ms);
        rss.push(r.maxRssMiB);
      }
      if (removeBetween) fs.rmSync(dest, { recursive: true, force: true });
      else fs.renameSync(dest, path.join(trash, `${mb}-${which}-${i}`));
    }
  }
  const g = median(gnu);
  const o = median(ours);
  console.log(
    `${mb} MB tree, ${runs} runs${removeBetween ? ' (outputs removed between runs)' : ''}: GNU gzip|cpio median ${(g / 1000).toFixed(2)} s, ours median ${(o / 1000).toFixed(2)} s, ratio ${(o / g).toFixed(2)}, our peak RSS ${Math.max(...rss).toFixed(0)} MiB`,
  );
  const pairs = ours.map((x, i) => x / gnu[i]);
  console.log(`  median of per-pair ratios (each pair ran back to back): ${median(pairs).toFixed(2)}`);
  console.log(`  gnu runs (s): ${gnu.map((x) => (x / 1000).toFixed(2)).join(' ')}   ours: ${ours.map((x) => (x / 1000).toFixed(2)).join(' ')}`);
}

fs.rmSync(trash, { recursive: true, force: true });
fs.mkdirSync(trash, { recursive: true });
try {
  await bench(sizeMB);
  if (scale) await bench(sizeMB * 2);
} finally {
  fs.rmSync(trash, { recursive: true, force: true });
}
