// Store benchmark, side by side with OSTree in one run (issue 12):
//   - a large image (default 50 000 files, one 64 MiB file) snapshotted, then 9 "nightly"
//     mutations (replace 2% of the files, rewrite 1 MiB of the 64 MiB file, chmod 1000 files,
//     add xattrs to 200), each snapshotted: store size after 10 vs after the first, and vs an
//     OSTree archive-mode repository (Debian's `ostree`) committed at the same ten points;
//   - a snapshot of the unchanged image;
//   - revert to the previous snapshot (differential: only what differs from the live image is
//     touched) vs a full import of the same image (export, then import --force);
//   - diff of two 500 000-entry trees: time and peak RSS (in a child process).
// Run after `npm run build`: node test/bench/store.mjs [--files N] [--diff-entries N] [--no-ostree]
// The OSTree side needs Debian's ostree (apt-get install ostree); without it that column says n/a.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExportService, ImportService, StoreSnapshots } from '../../packages/engine/dist/index.js';
import { openTableStore } from '../../packages/tables/dist/index.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const FILES = opt('--files', 50000);
const DIFF_ENTRIES = opt('--diff-entries', 500000);
const withOstree = !args.includes('--no-ostree') && spawnSync('ostree', ['--version']).status === 0;
const base = path.join(repo, '.bench', 'store');
if (fs.existsSync(base)) fs.renameSync(base, `${base}-old-${Date.now()}`);
fs.mkdirSync(base, { recursive: true });
const installRoot = path.join(base, 'install');
const dataDir = path.join(base, 'data');
const NAME = 'bench-store';
const rootimgdir = path.join(installRoot, 'netboot', 'rhels8.5.0', 'x86_64', NAME);
const root = path.join(rootimgdir, 'rootimg');

// Deterministic content: text-like (compressible, as most of a root filesystem is) from a seeded stream.
let seed = 42;
const rnd = (n) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const WORDS = Array.from({ length: 4096 }, (_, i) => createHash('sha256').update(String(i)).digest('hex').slice(0, 3 + (i % 9)));
function text(bytes) {
  const parts = [];
  let n = 0;
  while (n < bytes) {
    const w = WORDS[rnd(WORDS.length)];
    parts.push(w);
    n += w.length + 1;
  }
  return parts.join(rnd(8) === 0 ? '\n' : ' ').slice(0, bytes);
}
function binary(bytes, tag) {
  const out = Buffer.alloc(bytes);
  for (let off = 0, i = 0; off < bytes; i++) off += createHash('sha256').update(`${tag}:${i}`).digest().copy(out, off);
  return out;
}

const files = [];
function build() {
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(rootimgdir, 'kernel'), binary(8 << 20, 'kernel'));
  fs.writeFileSync(path.join(rootimgdir, 'initrd-stateless.gz'), binary(30 << 20, 'initrd'));
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(root, `usr/d${i % 500}`);
    if (i < 500) fs.mkdirSync(dir, { recursive: true });
    const f = path.join(dir, `f${i}`);
    fs.writeFileSync(f, text(200 + rnd(12000)));
    files.push(f);
  }
  fs.mkdirSync(path.join(root, 'var/lib/rpm'), { recursive: true });
  fs.writeFileSync(path.join(root, 'var/lib/rpm/Packages'), binary(64 << 20, 'rpmdb'));
}

let night = 0;
function mutate() {
  night++;
  for (let k = 0; k < Math.floor(FILES * 0.02); k++) fs.writeFileSync(files[rnd(files.length)], text(200 + rnd(12000)));
  const fd = fs.openSync(path.join(root, 'var/lib/rpm/Packages'), 'r+');
  fs.writeSync(fd, binary(1 << 20, `night${night}`), 0, 1 << 20, rnd(63) << 20);
  fs.closeSync(fd);
  for (let k = 0; k < 1000; k++) fs.chmodSync(files[rnd(files.length)], rnd(2) ? 0o600 : 0o644);
  for (let k = 0; k < 200; k++) spawnSync('setfattr', ['-n', `user.night${night}`, '-v', `v${k}`, files[rnd(files.length)]]);
}

function bytesUnder(dir) {
  let n = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else n += fs.lstatSync(p).size;
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return n;
}
const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;
async function timed(fn) {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

const tables = await openTableStore(`sqlite:${path.join(base, 'xcatdb')}`, { create: true });
const deps = { tables, installRoot, dataDir, allow: [] };
await tables.writeImage(NAME, {
  osimage: { profile: NAME, imagetype: 'linux', provmethod: 'netboot', osname: 'Linux', osvers: 'rhels8.5.0', osarch: 'x86_64' },
  linuximage: { rootimgdir, kernelver: '4.18.0' },
  litefile: [],
});
console.log(`building ${FILES} files + a 64 MiB rpmdb under ${path.relative(repo, root)} …`);
build();
spawnSync('sync');
const image = bytesUnder(rootimgdir);
const store = new StoreSnapshots(deps);
const ostreeRepo = path.join(base, 'ostree');
if (withOstree) spawnSync('ostree', ['init', `--repo=${ostreeRepo}`, '--mode=archive'], { stdio: 'inherit' });
const ostreeCommit = () => {
  const t0 = performance.now();
  const r = spawnSync('ostree', ['commit', `--repo=${ostreeRepo}`, '--branch=bench', `--tree=dir=${rootimgdir}`, '--no-xattrs=false', '-s', `night ${night}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error('ostree commit failed');
  return performance.now() - t0;
};

const [tFirst, first] = await timed(() => store.create(NAME, { label: 'night 0' }));
const storeFirst = bytesUnder(store.store.root);
const ostreeTimes = [];
let ostreeFirst = 0;
if (withOstree) {
  ostreeTimes.push(ostreeCommit());
  ostreeFirst = bytesUnder(ostreeRepo);
}
const nightly = [];
let prev = first;
let last = first;
for (let i = 1; i < 10; i++) {
  mutate();
  const [t, ref] = await timed(() => store.create(NAME, { label: `night ${i}` }));
  nightly.push(t);
  prev = last;
  last = ref;
  if (withOstree) ostreeTimes.push(ostreeCommit());
}
const storeTen = bytesUnder(store.store.root);
const ostreeTen = withOstree ? bytesUnder(ostreeRepo) : 0;
spawnSync('sync');
const [tUnchanged, unchanged] = await timed(() => store.create(NAME, { label: 'unchanged' }));

// Revert to the previous night, then a full import of the same image for comparison.
const [tRevert, rev] = await timed(() => store.revert(prev.id));
// The replaced entries are deleted after the commit, off the revert's path: waited for before the import runs.
const [tSettle] = await timed(() => store.settled());
const bundle = path.join(base, 'full.tgz');
await new ExportService(deps).run(NAME, { destination: bundle });
const [tImport] = await timed(() => new ImportService(deps).run(bundle, { force: true, fromRoot: installRoot }));

// Diff of two synthetic 500k-entry trees, in a child for its own peak RSS.
const child = spawnSync(process.execPath, [path.join(repo, 'test/bench/store-diff-child.mjs'), String(DIFF_ENTRIES), path.join(base, 'diff')], { encoding: 'utf8' });
if (child.status !== 0) throw new Error(`diff child: ${child.stderr}`);
const diff = JSON.parse(child.stdout);

console.log(`\nimage: ${FILES} files, ${mib(image)}`);
console.log('| what | imgport store | OSTree archive | ratio |');
console.log('|---|---|---|---|');
console.log(`| first snapshot: store size | ${mib(storeFirst)} (${secs(tFirst)}) | ${withOstree ? `${mib(ostreeFirst)} (${secs(ostreeTimes[0])})` : 'n/a'} | ${withOstree ? (storeFirst / ostreeFirst).toFixed(2) : '-'} |`);
console.log(`| 10 nightly snapshots: store size | ${mib(storeTen)} = ${(storeTen / storeFirst).toFixed(3)}× the first | ${withOstree ? `${mib(ostreeTen)} = ${(ostreeTen / ostreeFirst).toFixed(3)}×` : 'n/a'} | ${withOstree ? (storeTen / ostreeTen).toFixed(2) : '-'} |`);
console.log(`| nightly snapshot time (median of 9) | ${secs([...nightly].sort((a, b) => a - b)[4])} | ${withOstree ? secs([...ostreeTimes.slice(1)].sort((a, b) => a - b)[4]) : 'n/a'} | |`);
console.log(`| snapshot of the unchanged image | ${secs(tUnchanged)} (hashed ${unchanged.stats.hashed} files) | | |`);
console.log(`| revert to the previous snapshot vs full import | ${secs(tRevert)} (of ${rev.entries} entries: ${rev.reused} unchanged, ${rev.staged} staged (${rev.fromStore} files from the store, ${mib(rev.bytesFromStore)}), ${rev.removed.length} taken away, ${rev.dirsSet} directories set back; snapshot first ${secs(rev.phases.snapshotMs)}, staging ${secs(rev.phases.stageMs)}, commit ${secs(rev.phases.commitMs)}; then ${secs(tSettle)} deleting the replaced entries in the background) | import ${secs(tImport)} | ${(tRevert / tImport).toFixed(2)} |`);
console.log(`| diff of two ${DIFF_ENTRIES}-entry trees | ${secs(diff.ms)}, peak RSS ${mib(diff.maxRss)} (${diff.changes} changes) | | |`);
await tables.close();
// Earlier runs' fixtures were moved aside at the start (a rename is quick); remove them now.
for (const name of fs.readdirSync(path.dirname(base))) {
  if (name.startsWith('store-old-')) fs.rmSync(path.join(path.dirname(base), name), { recursive: true, force: true });
}
