/**
 * Shared setup for the export and snapshot tests: the two real table backends (SQLite in a
 * temp dir, the test environment's MariaDB in a database of its own, dropped at the end), a
 * temp install root with real images in it, and the GNU tools that check our bundles. Not a
 * test file itself. External tools always run through execFile with argument arrays.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { openTableStore, type ImageRows, type TableStore } from '@imgport/tables';
import { after, before } from 'node:test';
import { StoreSnapshots } from '../../src/snapshot/store.js';
import type { EngineDeps } from '../../src/types.js';

export const run = promisify(execFile);

export interface Backend {
  name: 'sqlite' | 'mysql';
  open(): Promise<TableStore>;
  /** Removes one row behind the store's back, as a half-deleted xCAT image would look. */
  deleteRow(table: 'osimage' | 'linuximage', image: string): Promise<void>;
  /** Drops what open() created. */
  dispose(): Promise<void>;
}

export function sqliteBackend(): Backend {
  let dir = '';
  return {
    name: 'sqlite',
    async open() {
      dir = await mkdtemp(join(tmpdir(), 'imgport-sqlite-'));
      return openTableStore(`sqlite:${dir}`, { create: true });
    },
    async deleteRow(table, image) {
      const db = new Database(join(dir, `${table}.sqlite`));
      db.prepare(`DELETE FROM "${table}" WHERE "imagename" = ?`).run(image);
      db.close();
    },
    async dispose() {
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export function mysqlBackend(): Backend {
  const db = `imgport_t_${randomBytes(5).toString('hex')}`;
  const admin = () => mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '' });
  return {
    name: 'mysql',
    open: () => openTableStore(`mysql://root@127.0.0.1:3306/${db}`, { create: true }),
    async deleteRow(table, image) {
      const c = await admin();
      await c.query(`DELETE FROM \`${db}\`.\`${table}\` WHERE imagename = ?`, [image]);
      await c.end();
    },
    async dispose() {
      const c = await admin();
      await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await c.end();
    },
  };
}

export const BACKENDS: Array<() => Backend> = [sqliteBackend, mysqlBackend];

/** A management node in a temp dir: install root, data dir, and a directory for bundles. */
export interface World {
  base: string;
  installRoot: string;
  out: string;
  deps: EngineDeps;
}

/**
 * A SQLite world and a store whose clock starts at `start` and ticks a second per reading, made
 * before the file's tests (handed to `use`) and removed after them.
 */
export function storeWorld(start: string, use: (s: { tables: TableStore; w: World; store: StoreSnapshots }) => void): void {
  const backend = sqliteBackend();
  let clock = Date.parse(start);
  let made: { tables: TableStore; w: World } | undefined;
  before(async () => {
    const tables = await backend.open();
    const w = await makeWorld(tables);
    made = { tables, w };
    use({ tables, w, store: new StoreSnapshots({ ...w.deps, now: () => new Date((clock += 1000)) }) });
  });
  after(async () => {
    await made?.tables.close();
    await backend.dispose();
    if (made) await rm(made.w.base, { recursive: true, force: true });
  });
}

export async function makeWorld(tables: TableStore): Promise<World> {
  const base = await mkdtemp(join(tmpdir(), 'imgport-export-'));
  const installRoot = join(base, 'install');
  const out = join(base, 'out');
  await mkdir(installRoot);
  await mkdir(out);
  return { base, installRoot, out, deps: { tables, installRoot, dataDir: join(base, 'data') } };
}

export const OS = 'rhels8.5.0';
/** Incompressible and bigger than any stream buffer, so root images exercise backpressure. */
export const TOOL_BYTES = 1 << 20;
export const ARCH = 'x86_64';

async function put(path: string, data: string | Buffer, mode = 0o644): Promise<string> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, data, { mode });
  return path;
}

/** A diskful image: a template and two list files under <root>/custom/install/rh/. */
export async function addInstallImage(w: World, name: string): Promise<ImageRows> {
  const dir = join(w.installRoot, 'custom', 'install', 'rh');
  const template = await put(join(dir, 'compute.rhels8.tmpl'), '# kickstart\ninstall\nreboot\n');
  const pkglist = await put(join(dir, 'compute.rhels8.pkglist'), 'bash\nopenssh-server\n');
  const base = await put(join(dir, 'base.pkglist'), 'coreutils\n');
  const rows: ImageRows = {
    osimage: { profile: 'compute', imagetype: 'linux', provmethod: 'install', osname: 'Linux', osvers: OS, osarch: ARCH, description: 'diskful #1' },
    linuximage: { template, pkglist: `${pkglist},${base}`, kernelver: '4.18.0-348.el8.x86_64', comments: 'see ticket #42' },
    litefile: [],
  };
  await w.deps.tables.writeImage(name, rows);
  return rows;
}

export interface NetbootImage {
  rows: ImageRows;
  rootimgdir: string;
  /** Names `find .` gives in rootimg/, sorted: what `cpio -it` must list for a packed tree. */
  tree: string[];
}

/**
 * A netboot or statelite image: kernel, initrd and a small rootimg/ tree with a symlink and a
 * hardlink; with `archive`, also rootimg.cpio.gz made by GNU cpio and gzip as packimage does.
 */
export async function addNetbootImage(w: World, name: string, opts: { method?: 'netboot' | 'statelite'; archive?: boolean } = {}): Promise<NetbootImage> {
  const method = opts.method ?? 'netboot';
  const rootimgdir = join(w.installRoot, 'netboot', OS, ARCH, name);
  await put(join(rootimgdir, 'kernel'), randomBytes(4096));
  await put(join(rootimgdir, method === 'statelite' ? 'initrd-statelite.gz' : 'initrd-stateless.gz'), gzipSync(randomBytes(2048)));
  const root = join(rootimgdir, 'rootimg');
  await put(join(root, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  await put(join(root, 'usr', 'bin', 'tool'), randomBytes(TOOL_BYTES), 0o755);
  await link(join(root, 'usr', 'bin', 'tool'), join(root, 'usr', 'bin', 'tool-link'));
  await symlink('usr/bin', join(root, 'bin'));
  await mkdir(join(root, 'var', 'empty'), { recursive: true });
  const { stdout } = await run('find', ['.'], { cwd: root });
  const tree = stdout.split('\n').filter((l) => l !== '').map((l) => (l === '.' ? '.' : l.slice(2))).sort();
  if (opts.archive) await cpioGz(root, join(rootimgdir, 'rootimg.cpio.gz'));
  const litefile = method === 'statelite' ? [{ file: '/etc/ntp.conf', options: 'tmpfs' }, { file: '/var/log/', options: 'persistent' }] : [];
  const rows: ImageRows = {
    osimage: { profile: name, imagetype: 'linux', provmethod: method, osname: 'Linux', osvers: OS, osarch: ARCH },
    linuximage: { rootimgdir, kernelver: '4.18.0-348.el8.x86_64', nodebootif: 'eth0' },
    litefile,
  };
  await w.deps.tables.writeImage(name, rows);
  return { rows, rootimgdir, tree };
}

/** `find . | cpio -H newc -o | gzip` without a shell: cpio writes a file, gzip compresses it. */
export async function cpioGz(tree: string, dest: string): Promise<void> {
  const { stdout } = await run('find', ['.'], { cwd: tree });
  const plain = dest.replace(/\.gz$/, '');
  await new Promise<void>((resolve, reject) => {
    const child = execFile('cpio', ['-o', '--quiet', '-H', 'newc', '-O', plain], { cwd: tree }, (err) => (err ? reject(err) : resolve()));
    child.stdin?.end(stdout);
  });
  await run('gzip', ['-n', plain]);
}

/** Member names as GNU tar lists them. */
export async function tarList(bundle: string): Promise<string[]> {
  const { stdout } = await run('tar', ['tzf', bundle]);
  return stdout.split('\n').filter((l) => l !== '');
}

export async function extract(bundle: string, into: string): Promise<string> {
  await mkdir(into, { recursive: true });
  await run('tar', ['xzf', bundle, '-C', into]);
  return into;
}

/** Names in a gzip'd cpio archive, sorted, as GNU cpio lists them. */
export async function cpioList(archive: string): Promise<string[]> {
  const { stdout: raw } = await run('gzip', ['-dc', archive], { encoding: 'buffer', maxBuffer: 1 << 28 });
  const names = await new Promise<string>((resolve, reject) => {
    const child = execFile('cpio', ['-it', '--quiet'], { maxBuffer: 1 << 24 }, (err, out) => (err ? reject(err) : resolve(out)));
    child.stdin?.end(raw);
  });
  return names.split('\n').filter((l) => l !== '').sort();
}
