/**
 * Builders of real bundles for integration and end-to-end tests: a small root filesystem on disk,
 * packed with our own cpio writer, written with our bundle writer (so SHA256SUMS is real), and
 * xCAT-format bundles made from the stock manifests in the shared fixtures.
 */
import { createWriteStream, linkSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync, chmodSync, utimesSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { packRootImage, writeBundle, type BundleEntry } from '@imgport/archive';
import { extraMemberCandidates, parseManifestXml, referencedMembers } from '@imgport/format';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = join(REPO, '..', 'shared', 'fixtures', 'xcat-manifests');

export function tempDir(prefix = 'imgport-it-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A small root filesystem: dirs, files, absolute and relative symlinks, a hardlink, setuid, a fifo. */
export function makeRootTree(dir: string, files = 20): void {
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  mkdirSync(join(dir, 'usr/lib'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  chmodSync(join(dir, 'tmp'), 0o1777);
  writeFileSync(join(dir, 'etc/hostname'), 'node01\n');
  writeFileSync(join(dir, 'etc/empty'), '');
  for (let i = 0; i < files; i++) writeFileSync(join(dir, `usr/lib/lib${i}.so`), `library ${i}\n`.repeat(i + 1));
  writeFileSync(join(dir, 'usr/bin/ping'), 'ping binary\n', { mode: 0o755 });
  chmodSync(join(dir, 'usr/bin/ping'), 0o4755);
  linkSync(join(dir, 'usr/bin/ping'), join(dir, 'usr/bin/ping6'));
  symlinkSync('usr/bin', join(dir, 'bin'));
  symlinkSync('/usr/lib', join(dir, 'lib'));
  execFileSync('mkfifo', [join(dir, 'etc/initctl')]);
  utimesSync(join(dir, 'etc/hostname'), 1_600_000_000, 1_600_000_000);
}

async function packTree(tree: string, out: string): Promise<void> {
  const ws = createWriteStream(out);
  await packRootImage(tree, ws);
}

export interface NativeSpec {
  name?: string;
  os?: string;
  arch?: string;
  profile?: string;
  method?: 'install' | 'netboot' | 'statelite';
  extras?: Array<{ file: string; content: string; dest: string }>;
  lines?: string[];
  litefile?: string;
  /** Files in the root image's usr/lib (default 20). */
  rootFiles?: number;
}

/** A native bundle file on disk; returns its path. */
export async function makeNativeBundle(dir: string, spec: NativeSpec = {}): Promise<string> {
  const s = { name: 'img-netboot', os: 'rhels8.5.0', arch: 'x86_64', profile: 'compute', method: 'netboot' as const, ...spec };
  const work = join(dir, `src-${s.name}-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  mkdirSync(work, { recursive: true });
  const lines = [`name ${s.name}`, `os ${s.os}`, `arch ${s.arch}`, `profile ${s.profile}`, `method ${s.method}`];
  const entries: BundleEntry[] = [];
  if (s.method === 'install') {
    lines.push('template compute.tmpl', 'media required', 'pkglist compute.pkglist');
    entries.push({ name: 'compute.tmpl', source: { data: '# kickstart\n' } }, { name: 'compute.pkglist', source: { data: 'bash\nvim\n' } });
  } else {
    const tree = join(work, 'rootimg');
    makeRootTree(tree, s.rootFiles ?? 20);
    await packTree(tree, join(work, 'rootimg.cpio.gz'));
    const initrd = s.method === 'statelite' ? 'initrd-statelite.gz' : 'initrd-stateless.gz';
    lines.push('kernel kernel', `initrd ${initrd}`, 'rootimg rootimg.cpio.gz');
    entries.push(
      { name: 'kernel', source: { data: Buffer.from('vmlinuz') }, precompressed: true },
      { name: initrd, source: { data: gzipSync('initrd') }, precompressed: true },
      { name: 'rootimg.cpio.gz', source: { file: join(work, 'rootimg.cpio.gz') }, precompressed: true },
    );
    if (s.litefile) {
      lines.push('litefile litefile.csv');
      entries.push({ name: 'litefile.csv', source: { data: s.litefile } });
    }
  }
  for (const e of s.extras ?? []) {
    lines.push(`extra extra/${e.file}:${e.dest}`);
    entries.push({ name: `extra/${e.file}`, source: { data: e.content } });
  }
  lines.push(...(s.lines ?? []));
  entries.unshift({ name: 'manifest.cfg', source: { data: lines.join('\n') + '\n' } });
  const out = join(dir, `${s.name}-${Math.random().toString(16).slice(2)}.tgz`);
  await writeBundle(createWriteStream(out), entries);
  return out;
}

/** An xCAT-format bundle (`<name>/manifest.xml`, files flat, no SHA256SUMS) from a stock fixture. */
export async function makeXcatBundle(dir: string, fixture: string, edit: (xml: string) => string = (x) => x): Promise<{ path: string; name: string }> {
  const xml = edit(readFileSync(join(FIXTURES, fixture), 'utf8'));
  const m = parseManifestXml(xml);
  const work = join(dir, `xsrc-${Math.random().toString(16).slice(2)}`);
  const tree = join(work, 'rootimg');
  makeRootTree(tree, 5);
  const entries: BundleEntry[] = [{ name: 'manifest.xml', source: { data: xml } }];
  const rootimgs = new Set([m.rootimg?.member, m.rootimgtree?.member].filter(Boolean));
  for (const member of referencedMembers(m)) {
    if (rootimgs.has(member)) {
      const archive = join(work, member);
      if (member.endsWith('.xz')) {
        await packTree(tree, archive + '.tmp.gz');
        execFileSync('sh', ['-c', 'gzip -dc "$0" | xz -T1 -0 > "$1"', archive + '.tmp.gz', archive]);
      } else if (member === m.rootimgtree?.member) {
        // rootimgtree.gz holds the rootimg/ directory itself, as xCAT's imgexport writes it.
        execFileSync('sh', ['-c', 'cd "$0" && find rootimg | cpio -o -H newc --quiet | gzip -1 > "$1"', work, archive]);
      } else await packTree(tree, archive);
      entries.push({ name: member, source: { file: archive }, precompressed: true });
    } else if (member.endsWith('litefile.csv')) {
      entries.push({ name: member, source: { data: `"ALL","/etc/adjtime","tmpfs",,\n"${m.name}","/var/log/","persistent",,\n` } });
    } else {
      entries.push({ name: member, source: { data: `content of ${member}\n` } });
    }
  }
  for (const e of m.extras) {
    const member = extraMemberCandidates(e)[0]!;
    entries.push({ name: member, source: { data: `extra ${member}\n` } });
  }
  const out = join(dir, `${m.name}-${Math.random().toString(16).slice(2)}.tgz`);
  mkdirSync(dirname(out), { recursive: true });
  await writeBundle(createWriteStream(out), entries, { prefix: `${m.name}/`, checksums: false });
  return { path: out, name: m.name };
}
