/**
 * What the attack tests share: a temp install root with real SQLite tables, hostile native
 * bundles built on the spot (root tree, extras and manifest lines chosen by the test), and
 * fingerprints of a directory tree and of an image's rows to prove nothing changed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { packRootImage, writeBundle, type BundleEntry } from '@imgport/archive';
import { ImportService, type ImportDeps } from '@imgport/engine';
import { ImgportError, type ErrorCode } from '@imgport/runtime';
import { openTableStore, type TableStore } from '@imgport/tables';

export interface Site {
  dir: string;
  root: string;
  /** A directory outside the install root that must stay empty. */
  outside: string;
  tables: TableStore;
  service(extra?: Partial<ImportDeps>): ImportService;
  close(): Promise<void>;
}

export async function site(): Promise<Site> {
  const dir = mkdtempSync(join(tmpdir(), 'imgport-sec-'));
  const root = join(dir, 'install');
  const outside = join(dir, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  const tables = await openTableStore(`sqlite:${join(dir, 'xcatdb')}`, { create: true });
  return {
    dir,
    root,
    outside,
    tables,
    service: (extra = {}) => new ImportService({ tables, installRoot: root, dataDir: join(dir, 'data'), ...extra }),
    close: async () => {
      await tables.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface HostileSpec {
  name: string;
  profile?: string;
  /** Builds the root filesystem in the given (empty) directory; default: one file. */
  tree?: (dir: string) => void;
  extras?: Array<{ file: string; content: string; dest: string }>;
  lines?: string[];
  /** Extra bundle members (name → content). */
  members?: Record<string, string>;
  /** A root image made by the test (bytes of rootimg.cpio.gz) instead of one packed from `tree`. */
  rootimg?: Buffer;
}

/** A native netboot bundle made in the test: kernel, initrd, a cpio root image, extras. */
export async function hostileBundle(dir: string, spec: HostileSpec): Promise<string> {
  const work = mkdtempSync(join(dir, 'src-'));
  const tree = join(work, 'rootimg');
  mkdirSync(tree);
  if (spec.tree) spec.tree(tree);
  else {
    mkdirSync(join(tree, 'etc'));
    writeFileSync(join(tree, 'etc/hostname'), `${spec.name}\n`);
  }
  if (spec.rootimg) writeFileSync(join(work, 'rootimg.cpio.gz'), spec.rootimg);
  else await packRootImage(tree, createWriteStream(join(work, 'rootimg.cpio.gz')));
  const lines = [`name ${spec.name}`, 'os rhels8.5.0', 'arch x86_64', `profile ${spec.profile ?? 'compute'}`, 'method netboot'];
  lines.push('kernel kernel', 'initrd initrd-stateless.gz', 'rootimg rootimg.cpio.gz');
  const entries: BundleEntry[] = [
    { name: 'kernel', source: { data: Buffer.from(`vmlinuz of ${spec.name}`) }, precompressed: true },
    { name: 'initrd-stateless.gz', source: { data: gzipSync(`initrd of ${spec.name}`) }, precompressed: true },
    { name: 'rootimg.cpio.gz', source: { file: join(work, 'rootimg.cpio.gz') }, precompressed: true },
  ];
  for (const e of spec.extras ?? []) {
    lines.push(`extra extra/${e.file}:${e.dest}`);
    entries.push({ name: `extra/${e.file}`, source: { data: e.content } });
  }
  for (const [name, content] of Object.entries(spec.members ?? {})) entries.push({ name, source: { data: content } });
  lines.push(...(spec.lines ?? []));
  entries.unshift({ name: 'manifest.cfg', source: { data: lines.join('\n') + '\n' } });
  const out = join(dir, `${spec.name}-${Math.random().toString(16).slice(2)}.tgz`);
  await writeBundle(createWriteStream(out), entries);
  return out;
}

/** Every path under `root` with its type, mode and content hash (or link target). */
export function fingerprint(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const what = st.isSymbolicLink()
        ? `-> ${readlinkSync(p)}`
        : st.isFile()
          ? createHash('sha256').update(readFileSync(p)).digest('hex')
          : st.isDirectory()
            ? 'dir'
            : 'special';
      out.push(`${relative(root, p)} ${(st.mode & 0o7777).toString(8)} ${what}`);
      if (st.isDirectory() && !st.isSymbolicLink()) walk(p);
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

/** An image's rows and files, to compare before and after an attack. */
export async function imageState(s: Site, image: string, dir: string): Promise<unknown> {
  return { rows: await s.tables.getImage(image), files: fingerprint(dir) };
}

export async function refused(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<ImgportError> {
  let caught: ImgportError | undefined;
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ImgportError, `expected an ImgportError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    caught = err;
    return true;
  });
  return caught as ImgportError;
}

/** The standard rootimgdir of a profile under the site's install root. */
export const imgDir = (s: Site, profile = 'compute'): string => join(s.root, 'netboot/rhels8.5.0/x86_64', profile);

/** A ustar header block, written by hand so a test can declare any size or type it likes. */
export function tarHeader(name: string | Buffer, size: number, typeflag = '0'): Buffer {
  const h = Buffer.alloc(512);
  Buffer.from(name).copy(h, 0, 0, 100);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('14500000000\0', 136);
  h.write('        ', 148);
  h.write(typeflag, 156);
  h.write('ustar\x0000', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

/** Zero padding of a tar member's data to the next 512-byte block. */
export const tarPad = (size: number): Buffer => Buffer.alloc((512 - (size % 512)) % 512);
