/** Bundles for the e2e tests, built with the archive layer's own writers (and broken on purpose). */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { packRootImage, writeBundle, type BundleEntry } from '@imgport/archive';
import tar from 'tar-stream';
import { makeRootTree } from './helpers-tree.js';

export interface BundleSpec {
  name: string;
  os?: string;
  arch?: string;
  profile?: string;
  /** Files in the rootimg tree besides the fixed special ones. */
  files?: number;
  /** Bytes of the made-up kernel (random, so it stays big inside the gzip'd bundle). */
  kernelBytes?: number;
  /** Extra manifest lines (`osimage.description v1`). */
  manifest?: string[];
  /** Changes the kernel's bytes, so two versions of an image can be told apart. */
  version?: string;
  /** More members (list files, extras), by name: their text, or text and mode. */
  members?: Record<string, string | { data: string; mode: number }>;
}

export interface BuiltBundle {
  path: string;
  spec: Required<Omit<BundleSpec, 'manifest' | 'members'>>;
  tree: string;
  kernel: Buffer;
  initrd: Buffer;
}

export function fillSpec({ manifest: _m, members: _x, ...s }: BundleSpec): BuiltBundle['spec'] {
  return { os: 'rhels8.5.0', arch: 'x86_64', profile: 'compute', files: 200, kernelBytes: 64 * 1024, version: 'v1', ...s };
}

/** A native netboot bundle: rootimg tree packed with packRootImage, made-up boot files, manifest.cfg. */
export async function buildBundle(dir: string, s: BundleSpec): Promise<BuiltBundle> {
  const spec = fillSpec(s);
  const work = mkdtempSync(join(dir, 'bundle-'));
  const tree = join(work, 'rootimg');
  makeRootTree(tree, spec.files, spec.version);
  const rootimg = join(work, 'rootimg.cpio.gz');
  await packRootImage(tree, createWriteStream(rootimg));
  const kernel = madeUpBinary(`kernel ${spec.name} ${spec.version}`, spec.kernelBytes);
  const initrd = madeUpBinary(`initrd ${spec.name} ${spec.version}`, 16 * 1024);
  const manifest = [
    `name ${spec.name}`, `os ${spec.os}`, `arch ${spec.arch}`, `profile ${spec.profile}`, 'method netboot',
    'kernel kernel', 'initrd initrd.gz', 'rootimg rootimg.cpio.gz', ...(s.manifest ?? []),
  ].join('\n');
  const entries: BundleEntry[] = [
    { name: 'manifest.cfg', source: { data: `${manifest}\n` } },
    { name: 'kernel', source: { data: kernel }, precompressed: true },
    { name: 'initrd.gz', source: { data: initrd }, precompressed: true },
    { name: 'rootimg.cpio.gz', source: { file: rootimg }, precompressed: true },
    ...Object.entries(s.members ?? {}).map(([name, m]) =>
      typeof m === 'string' ? { name, source: { data: m } } : { name, source: { data: m.data }, mode: m.mode },
    ),
  ];
  const path = join(dir, `${spec.name}-${spec.version}.tgz`);
  await writeBundleFile(path, entries);
  return { path, spec, tree, kernel, initrd };
}

export async function writeBundleFile(path: string, entries: BundleEntry[]): Promise<void> {
  const out = createWriteStream(path);
  await writeBundle(out, entries, { compression: 'gzip' });
  if (!out.writableFinished) await finished(out);
}

/** Deterministic bytes that do not compress (a real kernel barely does either). */
export function madeUpBinary(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/**
 * Copies a bundle member by member, letting `edit` change any member's bytes. SHA256SUMS is
 * copied as it was, so an edited member no longer matches its listed sum.
 */
export async function rewriteBundle(src: string, dst: string, edit: (name: string, data: Buffer) => Buffer): Promise<void> {
  const extract = tar.extract();
  const pack = tar.pack();
  const out = pipeline(pack, createGzip(), createWriteStream(dst));
  const input = pipeline(createReadStream(src), createGunzip(), extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const data = edit(entry.header.name, Buffer.concat(chunks));
    pack.entry({ ...entry.header, size: data.length }, data);
  }
  pack.finalize();
  await Promise.all([input, out]);
}

export function flipByte(data: Buffer, at = Math.floor(data.length / 2)): Buffer {
  const copy = Buffer.from(data);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}
