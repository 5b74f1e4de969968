/**
 * Export step "pack": a netboot image without a root image archive has its rootimg/ tree
 * packed into rootimg.cpio.gz (and an xCAT statelite bundle gets rootimgtree.gz). The archive
 * goes to a private temp directory beside the destination, never into the image's own
 * directory: exporting must not change the image.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { packRootImage, type BundleEntry, type ProgressFn } from '@imgport/archive';
import { tempName, type Destination } from './output.js';
import type { PackJob, Payload } from './members.js';
import { CpioPrefixer } from './rootimgtree.js';

export interface PackOptions {
  signal?: AbortSignal;
  onProgress?: ProgressFn;
}

export interface Packed {
  entries: BundleEntry[];
  /** Removes the packed archives; safe to call more than once. */
  cleanup(): Promise<void>;
}

/** Packs what needs packing and returns the payload as bundle entries. */
export async function packPayload(payload: Payload[], dest: Destination, opts: PackOptions): Promise<Packed> {
  let dir: string | undefined;
  const cleanup = async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  const entries: BundleEntry[] = [];
  try {
    for (const p of payload) {
      const { member: _member, source, ...rest } = p;
      if (!('pack' in source)) {
        entries.push({ name: p.member, source, ...rest });
        continue;
      }
      if (dir === undefined) {
        dir = tempName(dest, 'pack');
        await mkdir(dir, { mode: 0o700 });
      }
      const file = join(dir, p.member);
      await packTree(source.pack, file, opts);
      // The temp file is private (0600); in the bundle it reads like packimage's output.
      entries.push({ name: p.member, source: { file }, precompressed: true, mode: 0o644 });
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { entries, cleanup };
}

async function packTree(job: PackJob, file: string, opts: PackOptions): Promise<void> {
  const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
  if (job.layout === 'cpio') {
    await packRootImage(job.tree, out, opts);
    return;
  }
  const gunzip = createGunzip();
  const chain = pipeline(gunzip, new CpioPrefixer('rootimg'), createGzip(), out);
  const packing = packRootImage(job.tree, gunzip, opts).catch((err: unknown) => {
    gunzip.destroy(err as Error);
    throw err;
  });
  await Promise.all([packing, chain]);
}
