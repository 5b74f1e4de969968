import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { pack as tarPack } from 'tar-stream';
import { encodeCpioArchive } from '@imgport/format';

/** Test helpers: small bundles and root images built in memory (tests only). */
export interface TarMember {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  linkname?: string;
  pax?: Record<string, string>;
  mode?: number;
}

export function tarOf(members: TarMember[]): Promise<Buffer> {
  const p = tarPack();
  for (const m of members) {
    const data = m.data === undefined ? undefined : Buffer.from(m.data);
    p.entry(
      {
        name: m.name,
        type: m.type ?? 'file',
        mode: m.mode ?? (m.type === 'directory' ? 0o755 : 0o644),
        ...(data ? { size: data.length } : {}),
        ...(m.linkname ? { linkname: m.linkname } : {}),
        ...(m.pax ? { pax: m.pax } : {}),
      },
      data ?? Buffer.alloc(0),
    );
  }
  p.finalize();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    p.on('data', (c) => chunks.push(c as Buffer));
    p.on('end', () => resolve(Buffer.concat(chunks)));
    p.on('error', reject);
  });
}

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

export function sumsOf(files: Record<string, Buffer | string>): string {
  return Object.keys(files)
    .sort()
    .map((n) => `${sha256(files[n]!)}  ${n}\n`)
    .join('');
}

/** A tiny gzip cpio root image: /etc/hostname, /bin -> usr/bin, /usr/bin/sh. */
export function smallRootImage(): Buffer {
  const t = 1_700_000_000;
  return gzipSync(
    encodeCpioArchive([
      { name: '.', type: 'dir', mode: 0o755, mtime: t },
      { name: 'etc', type: 'dir', mode: 0o755, mtime: t },
      { name: 'etc/hostname', type: 'file', mode: 0o644, mtime: t, data: Buffer.from('node01\n') },
      { name: 'usr', type: 'dir', mode: 0o755, mtime: t },
      { name: 'usr/bin', type: 'dir', mode: 0o755, mtime: t },
      { name: 'usr/bin/sh', type: 'file', mode: 0o755, mtime: t, data: Buffer.from('#!shell\n') },
      { name: 'bin', type: 'symlink', mode: 0o777, mtime: t, linkname: 'usr/bin' },
    ]),
  );
}

export const NETBOOT_CFG = [
  'name demo-netboot',
  'os rhels8.5.0',
  'arch x86_64',
  'profile compute',
  'method netboot',
  'kernel kernel',
  'initrd initrd-stateless.gz',
  'rootimg rootimg.cpio.gz',
  '',
].join('\n');

/** A valid native netboot bundle's files (manifest first), SHA256SUMS included. */
export function netbootFiles(overrides: Record<string, Buffer | string> = {}): Record<string, Buffer | string> {
  const files: Record<string, Buffer | string> = {
    'manifest.cfg': NETBOOT_CFG,
    kernel: Buffer.from('kernel-bytes'),
    'initrd-stateless.gz': gzipSync('initrd'),
    'rootimg.cpio.gz': smallRootImage(),
    ...overrides,
  };
  return { ...files, SHA256SUMS: sumsOf(files) };
}

export async function bundleOf(files: Record<string, Buffer | string>, opts: { gzip?: boolean; prefix?: string } = {}): Promise<Buffer> {
  const tar = await tarOf(Object.entries(files).map(([name, data]) => ({ name: (opts.prefix ?? '') + name, data })));
  return opts.gzip === false ? tar : gzipSync(tar);
}
