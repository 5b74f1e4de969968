/**
 * What the e2e tests share: a temporary xCAT world (install root, SQLite tables, data dir),
 * running the BUILT commands as separate processes, and small but real bundles built with the
 * archive layer's own writers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { treeListing, type ListingEntry } from '@imgport/archive';
import { openTableStore, type ImageRecord } from '@imgport/tables';
import type { BuiltBundle } from './helpers-bundle.js';

export * from './helpers-bundle.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = (name: 'xcatimport' | 'xcatexport' | 'imgport') => join(ROOT, 'packages/cli/bin', `${name}.js`);

export interface World {
  dir: string;
  installRoot: string;
  db: string;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

/** A fresh install root, SQLite table directory and data directory under one temp dir. */
export function world(prefix = 'imgport-e2e-', db?: string): World {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const installRoot = join(dir, 'install');
  const dbUrl = db ?? `sqlite:${join(dir, 'xcatdb')}`;
  const dataDir = join(dir, 'data');
  mkdirSync(installRoot);
  // Only what the commands read: an inherited IMGPORT_SERVER or LOG_LEVEL would change them.
  const env = { PATH: process.env.PATH, HOME: dir, INSTALL_ROOT: installRoot, XCAT_DB: dbUrl, IMGPORT_DATA: dataDir };
  return { dir, installRoot, db: dbUrl, dataDir, env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts one of the built commands (no shell); `started` lets a test signal it mid-run. */
export function start(bin: 'xcatimport' | 'xcatexport' | 'imgport', args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(process.execPath, [BIN(bin), ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function run(bin: 'xcatimport' | 'xcatexport' | 'imgport', args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return start(bin, args, env).done;
}

/** Parses the one JSON document a --json run prints; fails the test with stderr otherwise. */
export function json<T = Record<string, any>>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${r.code}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

/** Where a standard-layout netboot image lives (SPEC §4). */
export function imageDir(w: World, b: Pick<BuiltBundle['spec'], 'os' | 'arch' | 'profile'>): string {
  return join(w.installRoot, 'netboot', b.os, b.arch, b.profile);
}

export async function rows(w: World, name: string): Promise<ImageRecord> {
  const store = await openTableStore(w.db, { create: true });
  try {
    return await store.getImage(name);
  } finally {
    await store.close();
  }
}

/** Listing for comparing trees: ours vs the source (directory mtimes differ by design). */
export function listing(dir: string): Record<string, ListingEntry> {
  return treeListing(dir, { dirMtimes: false, root: false });
}

/** Staging areas and journals left under the install root's work area. */
export function leftovers(w: World): string[] {
  const out: string[] = [];
  for (const sub of ['tx', 'journal']) {
    const d = join(w.installRoot, '.imgport', sub);
    if (existsSync(d)) out.push(...readdirSync(d).map((n) => `${sub}/${n}`));
  }
  return out;
}

export function read(path: string): Buffer {
  return readFileSync(path);
}

/** Every file of the netboot image is where SPEC §4 puts it, with the bundle's content. */
export function assertImageFiles(w: World, b: BuiltBundle, profile = b.spec.profile): void {
  const dir = imageDir(w, { ...b.spec, profile });
  assert.deepEqual(read(join(dir, 'kernel')), b.kernel);
  assert.deepEqual(read(join(dir, 'initrd-stateless.gz')), b.initrd);
  assert.ok(existsSync(join(dir, 'rootimg.cpio.gz')));
  assert.deepEqual(listing(join(dir, 'rootimg')), listing(b.tree));
}
