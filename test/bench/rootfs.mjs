// Import and export of real root filesystems, side by side with the standard tools.
//
//   node test/bench/rootfs.mjs [--runs N] [--large-runs N] [--only small|large] [--no-export]
//
// Fixtures (built once into .bench/, reused by later runs):
//  - a Debian root filesystem: `debootstrap --variant=minbase bookworm` (needs root, the
//    debootstrap package and Debian's mirror; DEBIAN_MIRROR overrides the mirror);
//  - packed as xCAT's packimage does, `find . | cpio -H newc -o | gzip` → rootimg.cpio.gz, with
//    a kernel and an initrd (incompressible, like the real ones; 9 MiB), into a netboot bundle
//    (~100 MB), and the same tree replicated 7 times for the large case (~650 MB bundle).
//
// Import: ours is the `xcatimport` bin, started as an admin does (no npx), against a fresh
// install root and SQLite tables that exist already, as on a management node (a copy of tables
// made once before the timed runs; one extra run against a database the import has to create is
// printed on its own); GNU is `tar xf bundle` then `gzip -dc rootimg | cpio -idmu`.
// Both sides then get a `sync`, timed on its own: the durable figures include it (an import that
// syncs by itself finds little left to write), the others do not. Pairs alternate which side
// goes first; medians are quoted; our peak RSS comes from GNU time(1) (%M, the whole process).
// Export: `xcatexport` of the imported image vs xCAT's `tar czf` of the same files.
// Also: the time `xcatimport --help` takes (median of 15).
//
// Outputs are moved aside and deleted only at the end: deleting a large tree right before a run
// makes ext4 slow to create files for a minute or more (without a journal its inode allocator
// skips recently deleted inodes one by one), for both sides alike. A fixture built in this run
// (its replicated tree deleted) is followed by a sync and a pause for the same reason.
// Nothing goes through a shell.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const benchDir = path.join(repo, '.bench');
const work = path.join(benchDir, 'rootfs-work');
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const runs = Number(opt('--runs', 5));
const largeRuns = Number(opt('--large-runs', 3));
const only = opt('--only', undefined);
const mirror = process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const bin = (name) => path.join(repo, 'packages/cli/bin', `${name}.js`);
const TIME = '/usr/bin/time';

function run(cmd, argv, { cwd, stdout, env, stdin } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { cwd, env, stdio: [stdin ?? 'ignore', stdout ?? 'pipe', 'inherit'] });
    let out = '';
    p.stdout?.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${argv.join(' ')}: exit ${code}`))));
  });
}

/** Processes joined by pipes, stdout of the last into `output`; resolves when all exit 0. */
function pipeline(cmds, { cwd, output }) {
  return new Promise((resolve, reject) => {
    const out = output ? fs.openSync(output, 'w') : 'ignore';
    const procs = [];
    for (const [i, [cmd, ...argv]] of cmds.entries()) {
      const stdin = i === 0 ? 'ignore' : procs[i - 1].stdout;
      procs.push(spawn(cmd, argv, { cwd, stdio: [stdin, i === cmds.length - 1 ? out : 'pipe', 'inherit'] }));
    }
    let left = procs.length;
    for (const p of procs) {
      p.on('error', reject);
      // 'exit', not 'close': the parent's ends of the inner pipes are never read, so never close.
      p.on('exit', (code) => (code !== 0 ? reject(new Error(`${p.spawnargs.join(' ')}: exit ${code}`)) : --left === 0 && resolve()));
    }
    if (output) fs.closeSync(out);
  });
}

function need(cmd, pkg) {
  if (spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status !== 0) {
    throw new Error(`the benchmark needs ${cmd}: apt-get install ${pkg}`);
  }
}

/** The Debian minbase tree, built once. */
async function rootfs() {
  const dir = path.join(benchDir, 'rootfs', 'bookworm-minbase');
  if (fs.existsSync(dir)) return dir;
  need('debootstrap', 'debootstrap');
  if (process.getuid?.() !== 0) throw new Error('building the Debian root filesystem needs root (debootstrap)');
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  console.log(`building the root filesystem: debootstrap --variant=minbase bookworm (${mirror})`);
  const t0 = performance.now();
  await run('debootstrap', ['--variant=minbase', 'bookworm', tmp, mirror], { stdout: 'ignore' });
  fs.renameSync(tmp, dir);
  console.log(`  done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return dir;
}

/** The tree `copies` times: the root filesystem itself, plus copies under opt/replica-N. */
async function replicated(base, copies) {
  if (copies === 1) return { tree: base, cleanup: () => {} };
  const tree = path.join(benchDir, 'rootfs', `x${copies}.tmp`);
  fs.rmSync(tree, { recursive: true, force: true });
  await run('cp', ['-a', base, tree]);
  for (let i = 1; i < copies; i++) await run('cp', ['-a', base, path.join(tree, 'opt', `replica-${i}`)]);
  return { tree, cleanup: () => fs.rmSync(tree, { recursive: true, force: true }) };
}

/** A netboot bundle around the tree packed as packimage does; built once per size. */
async function bundle(copies) {
  const dir = path.join(benchDir, `netboot-x${copies}`);
  const out = path.join(dir, 'bundle.tgz');
  if (fs.existsSync(out)) return out;
  const base = await rootfs();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const { tree, cleanup } = await replicated(base, copies);
  const rootimg = path.join(dir, 'rootimg.cpio.gz');
  try {
    await pipeline([['find', '.'], ['cpio', '-H', 'newc', '-o', '--quiet'], ['gzip', '-c']], { cwd: tree, output: rootimg });
  } finally {
    cleanup();
  }
  fs.writeFileSync(path.join(dir, 'kernel'), randomBytes(6 << 20));
  fs.writeFileSync(path.join(dir, 'initrd-stateless.gz'), gzipSync(randomBytes(3 << 20), { level: 1 }));
  const manifest = ['name bench-netboot', 'os debian12', 'arch x86_64', 'profile compute', 'method netboot', 'kernel kernel', 'initrd initrd-stateless.gz', 'rootimg rootimg.cpio.gz', ''].join('\n');
  fs.writeFileSync(path.join(dir, 'manifest.cfg'), manifest);
  const { writeBundle } = await import('../../packages/archive/dist/index.js');
  await writeBundle(fs.createWriteStream(`${out}.tmp`), [
    { name: 'manifest.cfg', source: { file: path.join(dir, 'manifest.cfg') } },
    { name: 'kernel', source: { file: path.join(dir, 'kernel') }, precompressed: true },
    { name: 'initrd-stateless.gz', source: { file: path.join(dir, 'initrd-stateless.gz') }, precompressed: true },
    { name: 'rootimg.cpio.gz', source: { file: rootimg }, precompressed: true },
  ]);
  fs.renameSync(`${out}.tmp`, out);
  for (const f of ['kernel', 'initrd-stateless.gz', 'manifest.cfg']) fs.rmSync(path.join(dir, f));
  if (copies > 1) await settle();
  const listing = path.join(dir, 'entries');
  await pipeline([['gzip', '-dc', rootimg], ['cpio', '-it', '--quiet']], { output: listing });
  const entries = fs.readFileSync(listing, 'utf8').split('\n').length - 1;
  fs.writeFileSync(listing, String(entries));
  console.log(`built ${path.relative(repo, out)}: ${mib(fs.statSync(out).size)} MiB, ${entries} entries, in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return out;
}

const mib = (n) => (n / 2 ** 20).toFixed(0);
const sec = (ms) => (ms / 1000).toFixed(2);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
let aside = 0;
function fresh(name) {
  const d = path.join(work, name);
  if (fs.existsSync(d)) fs.renameSync(d, path.join(work, `aside-${aside++}`));
  fs.mkdirSync(d, { recursive: true });
  return d;
}
/** rm -rf: faster than fs.rmSync on trees of this size. */
function removeTree(dir) {
  spawnSync('rm', ['-rf', '--', dir], { stdio: 'inherit' });
}
function syncAll() {
  spawnSync('sync');
}
/** After deleting a large tree: sync, then wait out ext4's window for recently deleted inodes. */
async function settle() {
  syncAll();
  console.log('  (a tree was deleted: waiting 65 s before measuring, see the top of this file)');
  await new Promise((r) => setTimeout(r, 65_000));
}
async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** tar xf, then gzip -dc | cpio -idmu of the root image; then sync. */
async function gnuImport(b) {
  const d = fresh('gnu');
  syncAll();
  const t0 = performance.now();
  await run('tar', ['xf', b, '-C', d]);
  fs.mkdirSync(path.join(d, 'rootimg'));
  await pipeline([['gzip', '-dc', path.join(d, 'rootimg.cpio.gz')], ['cpio', '-idmu', '--quiet']], { cwd: path.join(d, 'rootimg') });
  const ms = performance.now() - t0;
  const syncMs = await timed(() => run('sync', []));
  return { ms, syncMs };
}

function env(d) {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? '/root',
    INSTALL_ROOT: path.join(d, 'install'),
    XCAT_DB: `sqlite:${path.join(d, 'db')}`,
    IMGPORT_DATA: path.join(d, 'data'),
  };
}

/**
 * Empty xCAT tables, made once: a management node has its tables already, so the timed imports
 * start from a copy of these instead of creating six SQLite files (and their fsyncs) each time.
 */
async function tablesTemplate() {
  const dir = path.join(work, 'tables-template');
  if (fs.existsSync(dir)) return dir;
  const { openTableStore } = await import('../../packages/tables/dist/index.js');
  const store = await openTableStore(`sqlite:${dir}`, { create: true });
  try {
    await store.writeImage('bench-template', { osimage: { imagename: 'bench-template', provmethod: 'netboot' }, linuximage: { imagename: 'bench-template' }, litefile: [] });
    await store.deleteImage('bench-template');
  } finally {
    await store.close();
  }
  return dir;
}

/** xcatimport (the bin) under GNU time for the peak RSS; then sync. */
async function ourImport(b, { freshTables = false } = {}) {
  const d = fresh('ours');
  const e = env(d);
  fs.mkdirSync(e.INSTALL_ROOT);
  if (!freshTables) spawnSync('cp', ['-a', '--', await tablesTemplate(), path.join(d, 'db')], { stdio: 'inherit' });
  const rusage = path.join(d, 'rusage');
  syncAll();
  const t0 = performance.now();
  await run(TIME, ['-f', '%M %U %S', '-o', rusage, bin('xcatimport'), b, '--json'], { env: e, stdout: 'ignore' });
  const ms = performance.now() - t0;
  const syncMs = await timed(() => run('sync', []));
  const [rss, user, sys] = fs.readFileSync(rusage, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { ms, syncMs, rssMiB: rss / 1024, cpuS: user + sys, dir: d };
}

async function benchImport(copies, n) {
  const b = await bundle(copies);
  const entries = fs.readFileSync(path.join(path.dirname(b), 'entries'), 'utf8');
  const gnu = [];
  const ours = [];
  for (let i = 0; i < n; i++) {
    for (const side of i % 2 ? ['ours', 'gnu'] : ['gnu', 'ours']) {
      if (side === 'gnu') gnu.push(await gnuImport(b));
      else ours.push(await ourImport(b));
    }
  }
  // After the pairs, not first: run first, straight after the bundle was built (and its trees
  // deleted), it took twice the time and the CPU of the others on two machines, an artifact of
  // the filesystem's state then (by hand the same import took the same with or without tables).
  const first = await ourImport(b, { freshTables: true });
  const g = median(gnu.map((r) => r.ms));
  const o = median(ours.map((r) => r.ms));
  const gs = median(gnu.map((r) => r.ms + r.syncMs));
  const os_ = median(ours.map((r) => r.ms + r.syncMs));
  const pairs = ours.map((r, i) => r.ms / gnu[i].ms);
  const pairsSync = ours.map((r, i) => (r.ms + r.syncMs) / (gnu[i].ms + gnu[i].syncMs));
  const rss = Math.max(...ours.map((r) => r.rssMiB));
  console.log(`import, ${mib(fs.statSync(b).size)} MiB bundle (${entries} root image entries), ${n} alternated pairs, medians:`);
  console.log(`  without sync: GNU tar xf + gzip -dc | cpio -idmu ${sec(g)} s, ours ${sec(o)} s, ratio ${(o / g).toFixed(2)} (median of pair ratios ${median(pairs).toFixed(2)})`);
  console.log(`  with sync:    GNU ${sec(gs)} s, ours ${sec(os_)} s, ratio ${(os_ / gs).toFixed(2)} (median of pair ratios ${median(pairsSync).toFixed(2)}); the sync after ours took ${sec(median(ours.map((r) => r.syncMs)))} s, after GNU ${sec(median(gnu.map((r) => r.syncMs)))} s`);
  console.log(`  our peak RSS ${rss.toFixed(0)} MiB; our CPU time (user + system, both threads) median ${median(ours.map((r) => r.cpuS)).toFixed(2)} s`);
  console.log(`  one more of ours with a fresh database (the import creates the six table files): ${sec(first.ms)} s (+${sec(first.syncMs)} s sync), CPU ${first.cpuS.toFixed(2)} s`);
  console.log(`  runs (s) GNU: ${gnu.map((r) => `${sec(r.ms)}+${sec(r.syncMs)}`).join(' ')}  ours: ${ours.map((r) => `${sec(r.ms)}+${sec(r.syncMs)}`).join(' ')}`);
  return { dir: ours.at(-1).dir, rss };
}

async function benchExport(imported, n) {
  const e = env(imported);
  const dir = path.join(e.INSTALL_ROOT, 'netboot/debian12/x86_64/compute');
  const files = ['kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz'];
  const tgz = [];
  const ours = [];
  let rss = 0;
  for (let i = 0; i < n; i++) {
    const out = fresh('export');
    const sides = [
      async () => tgz.push(await timed(() => run('tar', ['czf', path.join(out, 'x.tgz'), '-C', dir, ...files]))),
      async () => {
        const rusage = path.join(out, 'rusage');
        ours.push(await timed(() => run(TIME, ['-f', '%M', '-o', rusage, bin('xcatexport'), 'bench-netboot', path.join(out, 'ours.tgz')], { env: e, stdout: 'ignore' })));
        rss = Math.max(rss, Number(fs.readFileSync(rusage, 'utf8').trim().split('\n').pop()) / 1024);
      },
    ];
    for (let k = 0; k < sides.length; k++) {
      syncAll();
      await sides[(i + k) % sides.length]();
    }
  }
  console.log(`export: xCAT's tar czf ${sec(median(tgz))} s, ours ${sec(median(ours))} s, ratio ${(median(ours) / median(tgz)).toFixed(3)}, our peak RSS ${rss.toFixed(0)} MiB`);
}

async function helpTime() {
  const times = [];
  // The same environment as the imports: a shell's NODE_EXTRA_CA_CERTS, say, costs every node
  // process ~50 ms at start reading certificates (seen on these machines).
  const e = { PATH: process.env.PATH, HOME: process.env.HOME ?? '/root' };
  for (let i = 0; i < 15; i++) times.push(await timed(() => run(bin('xcatimport'), ['--help'], { stdout: 'ignore', env: e })));
  console.log(`xcatimport --help: median ${sec(median(times))} s over ${times.length} runs (min ${sec(Math.min(...times))} s)`);
}

need('cpio', 'cpio');
{
  // The bins run the start-up bundle only while it is newer than every package's build.
  const { entryFor } = await import('../../packages/cli/bin/launch.js');
  if (!entryFor(new URL('../../packages/cli/', import.meta.url)).pathname.endsWith('/bundle/main.cjs')) {
    throw new Error('the commands would run from dist/, not their start-up bundle: run `npm run build` first');
  }
}
if (!fs.existsSync(TIME)) throw new Error('the benchmark needs GNU time for peak RSS: apt-get install time');
console.log(`machine: ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine makes figures noisy)`);
if (fs.existsSync(work)) {
  // Left by an interrupted run.
  removeTree(work);
  await settle();
}
fs.mkdirSync(work, { recursive: true });
try {
  await helpTime();
  for (const [copies, n] of [
    [1, runs],
    [7, largeRuns],
  ]) {
    if (only && only !== (copies === 1 ? 'small' : 'large')) continue;
    const { dir } = await benchImport(copies, n);
    if (!args.includes('--no-export')) await benchExport(dir, n);
  }
} finally {
  removeTree(work);
}
