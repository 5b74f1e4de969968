#!/usr/bin/env node
// `npm run demo`: builds a small but real netboot bundle, then runs the commands as a user
// would — import, export, re-profiled import of the export — against a throwaway install root
// and SQLite tables under demo/, and shows where everything went. Starts from a clean demo/.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, createWriteStream, linkSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packRootImage, writeBundle } from '@imgport/archive';
import Database from 'better-sqlite3';

const root = fileURLToPath(new URL('..', import.meta.url));
const demo = join(root, 'demo');
const NAME = 'demo-compute';
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  INSTALL_ROOT: join(demo, 'install'),
  XCAT_DB: `sqlite:${join(demo, 'xcatdb')}`,
  IMGPORT_DATA: join(demo, 'data'),
};
const rel = (p) => relative(root, p) || '.';

function heading(text) {
  console.log(`\n\x1b[1m== ${text}\x1b[0m`);
}

/** A root filesystem with what an archive must keep: links of both kinds, a hardlink, setuid, a FIFO. */
function makeRootTree(tree) {
  for (const d of ['bin', 'sbin', 'etc/sysconfig/network-scripts', 'usr/lib/modules/5.14.0', 'usr/share/doc/demo', 'var/log', 'tmp', 'dev']) {
    mkdirSync(join(tree, d), { recursive: true });
  }
  const put = (p, text, mode = 0o644) => {
    writeFileSync(join(tree, p), text);
    chmodSync(join(tree, p), mode);
  };
  put('bin/bash', '#!made-up shell\n', 0o755);
  put('bin/su', 'made-up setuid binary\n', 0o4755);
  put('etc/hostname', 'compute-001\n');
  put('etc/os-release', 'NAME="Demo Linux"\nVERSION_ID="8.5"\n');
  put('etc/machine-id', '', 0o444);
  put('usr/lib/libc.so.6', 'made-up libc\n', 0o755);
  linkSync(join(tree, 'bin/bash'), join(tree, 'bin/rbash'));
  symlinkSync('usr/lib', join(tree, 'lib'));
  symlinkSync('/bin/bash', join(tree, 'bin/sh'));
  symlinkSync('/usr/lib/libc.so.6', join(tree, 'usr/lib/libc.so'));
  symlinkSync('/proc/self/mounts', join(tree, 'etc/mtab'));
  execFileSync('mkfifo', [join(tree, 'dev/initctl')]);
  chmodSync(join(tree, 'tmp'), 0o1777);
  for (let i = 0; i < 300; i++) {
    const dir = ['usr/lib/modules/5.14.0', 'usr/share/doc/demo', 'etc/sysconfig/network-scripts', 'sbin'][i % 4];
    put(`${dir}/file${String(i).padStart(3, '0')}`, `demo file ${i}\n`.repeat(1 + (i % 9)), i % 4 === 3 ? 0o755 : 0o644);
  }
}

/** Made-up but real boot files: a few KiB of bytes that look like nothing in particular. */
function madeUp(label, size) {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 2654435761 + label.length * 97) >>> 24;
  out.write(`${label}\n`, 0);
  return out;
}

async function buildBundle() {
  heading('Building a netboot bundle');
  const src = join(demo, 'src');
  makeRootTree(join(src, 'rootimg'));
  const packed = await packRootImage(join(src, 'rootimg'), createWriteStream(join(src, 'rootimg.cpio.gz')));
  const manifest = [
    `name ${NAME}`, 'os rhels8.5.0', 'arch x86_64', 'profile compute', 'method netboot',
    'kernel kernel', 'initrd initrd.gz', 'rootimg rootimg.cpio.gz', 'osimage.description imgport demo image',
  ].join('\n');
  const bundle = join(demo, 'bundles', `${NAME}.tgz`);
  mkdirSync(join(demo, 'bundles'));
  const out = createWriteStream(bundle);
  await writeBundle(out, [
    { name: 'manifest.cfg', source: { data: `${manifest}\n` } },
    { name: 'kernel', source: { data: madeUp('vmlinuz-5.14.0 (made up)', 96 * 1024) }, precompressed: true },
    { name: 'initrd.gz', source: { data: madeUp('initrd (made up)', 48 * 1024) }, precompressed: true },
    { name: 'rootimg.cpio.gz', source: { file: join(src, 'rootimg.cpio.gz') }, precompressed: true },
  ], { compression: 'gzip' });
  console.log(`rootimg tree: ${packed.entries} entries, ${packed.bytes} bytes of file data → ${rel(join(src, 'rootimg.cpio.gz'))}`);
  console.log(`bundle: ${rel(bundle)} (${lstatSync(bundle).size} bytes)`);
  return bundle;
}

/** Runs a built command the way a user types it; no shell. Stops the demo if it fails. */
function cli(name, args) {
  console.log(`\n$ ${name} ${args.map((a) => (a.startsWith(root) ? rel(a) : a)).join(' ')}`);
  const r = spawnSync(process.execPath, [join(root, 'packages/cli/bin', `${name}.js`), ...args], { env, cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`demo: ${name} exited with ${r.status ?? r.signal}`);
    process.exit(1);
  }
}

/** Counts per entry type under a directory, and its first-level layout. */
function treeSummary(dir) {
  const counts = {};
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      const st = lstatSync(join(d, n));
      const t = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'file';
      counts[t] = (counts[t] ?? 0) + 1;
      if (st.isDirectory()) walk(join(d, n));
    }
  };
  walk(dir);
  return Object.entries(counts).map(([k, v]) => `${v} ${k}${v === 1 ? '' : 's'}`).join(', ');
}

function showInstallRoot() {
  heading(`Install root ${rel(env.INSTALL_ROOT)}`);
  const base = join(env.INSTALL_ROOT, 'netboot', 'rhels8.5.0', 'x86_64');
  for (const profile of readdirSync(base).sort()) {
    const dir = join(base, profile);
    console.log(`${rel(dir)}/`);
    for (const n of readdirSync(dir).sort()) {
      const st = lstatSync(join(dir, n));
      console.log(`  ${n.padEnd(22)} ${st.isDirectory() ? `${treeSummary(join(dir, n))}` : `${st.size} bytes`}`);
    }
  }
  const bin = join(base, 'compute', 'rootimg', 'bin');
  const su = lstatSync(join(bin, 'su'));
  console.log(`compute/rootimg kept: lib -> ${readlinkOf(join(base, 'compute/rootimg/lib'))}, bin/sh -> ${readlinkOf(join(bin, 'sh'))}, ` +
    `bin/su mode ${(su.mode & 0o7777).toString(8)}, bin/rbash links ${lstatSync(join(bin, 'rbash')).nlink}`);
}

function readlinkOf(p) {
  return execFileSync('readlink', [p], { encoding: 'utf8' }).trim();
}

function showRows() {
  const dir = env.XCAT_DB.slice('sqlite:'.length);
  heading(`xCAT tables (sqlite:${rel(dir)}: one SQLite file per table)`);
  for (const table of ['osimage', 'linuximage']) {
    const db = new Database(join(dir, `${table}.sqlite`), { readonly: true });
    for (const row of db.prepare(`SELECT * FROM "${table}" ORDER BY imagename`).all()) {
      const set = Object.entries(row).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`);
      console.log(`${table}: ${set.join('  ')}`);
    }
    db.close();
  }
}

function showExport(bundle) {
  heading(`Exported bundle ${rel(bundle)}`);
  console.log(execFileSync('tar', ['tzvf', bundle], { encoding: 'utf8' }).trimEnd());
  const check = join(demo, 'out', 'check');
  mkdirSync(check);
  execFileSync('tar', ['xzf', bundle, '-C', check]);
  console.log(`\n$ cd ${rel(check)} && sha256sum -c SHA256SUMS`);
  process.stdout.write(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: check, encoding: 'utf8' }));
}

async function main() {
  rmSync(demo, { recursive: true, force: true });
  mkdirSync(join(demo, 'out'), { recursive: true });
  const bundle = await buildBundle();
  heading('Importing, exporting, importing again under another profile');
  console.log(`INSTALL_ROOT=${rel(env.INSTALL_ROOT)} XCAT_DB=sqlite:${rel(join(demo, 'xcatdb'))} IMGPORT_DATA=${rel(env.IMGPORT_DATA)}`);
  cli('xcatimport', [bundle]);
  cli('xcatexport', [NAME, join(demo, 'out')]);
  const exported = join(demo, 'out', `${NAME}.tgz`);
  cli('xcatimport', [exported, '-f', 'other']);
  cli('imgport', ['images']);
  showInstallRoot();
  showRows();
  showExport(exported);
  console.log(`\nEverything is under ${rel(demo)}/; run npm run demo again to start over.`);
}

await main();
