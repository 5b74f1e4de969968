/**
 * A small root filesystem with what a bootable root has and an archive must keep: nested
 * directories, a `lib -> usr/lib` link and absolute `/bin`-style links, a hardlink, a setuid
 * binary, an empty file and a FIFO.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const DIRS = ['bin', 'sbin', 'etc', 'etc/sysconfig', 'usr/lib', 'usr/lib/modules', 'usr/share/doc', 'var/log', 'tmp', 'dev'];

/** A fixed mtime, so a re-packed tree compares equal to the source. */
const MTIME = new Date('2024-05-01T12:00:00Z');

export function makeRootTree(root: string, files: number, version = 'v1'): void {
  for (const d of DIRS) mkdirSync(join(root, d), { recursive: true });
  const put = (rel: string, text: string, mode = 0o644) => {
    writeFileSync(join(root, rel), text);
    chmodSync(join(root, rel), mode);
    utimesSync(join(root, rel), MTIME, MTIME);
  };
  put('bin/bash', `#!made-up shell ${version}\n`, 0o755);
  put('bin/su', 'made-up setuid binary\n', 0o4755);
  put('etc/hostname', 'node\n');
  put('etc/os-release', `NAME="Made-up Linux"\nVERSION="${version}"\n`);
  put('etc/machine-id', '', 0o444);
  put('usr/lib/libc.so.6', 'made-up libc\n', 0o755);
  linkSync(join(root, 'bin/bash'), join(root, 'bin/sh.hard'));
  symlinkSync('usr/lib', join(root, 'lib'));
  symlinkSync('usr/lib', join(root, 'lib64'));
  symlinkSync('/bin/bash', join(root, 'bin/sh'));
  symlinkSync('/usr/lib/libc.so.6', join(root, 'usr/lib/libc.so'));
  symlinkSync('/proc/self/mounts', join(root, 'etc/mtab'));
  execFileSync('mkfifo', ['-m', '0600', join(root, 'dev/initctl')]);
  chmodSync(join(root, 'tmp'), 0o1777);
  for (let i = 0; i < files; i++) {
    const dir = ['usr/lib/modules', 'usr/share/doc', 'etc/sysconfig', 'sbin'][i % 4]!;
    put(`${dir}/f${String(i).padStart(5, '0')}`, `file ${i} of ${version}\n`.repeat(1 + (i % 7)), i % 3 === 0 ? 0o755 : 0o644);
  }
}
