/** Small filesystem helpers for the tree writer: the things Node cannot do by itself. */
import type { spawn as Spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Sets one extended attribute on a path (not a symlink) synchronously. */
export type XattrSetter = (path: string, name: string, value: Buffer) => void;

let xattrSetter: XattrSetter | null | undefined;

/**
 * fs-xattr is an optional native module: when it is missing or does not load, xattrs are
 * reported as dropped instead of failing the expansion. Loaded once, when first asked: it is
 * an ES module (required as one), whose load brings in Node's ES module loader.
 */
export function loadXattr(): XattrSetter | undefined {
  if (xattrSetter === undefined) {
    try {
      const mod = require('fs-xattr') as { setAttributeSync: XattrSetter };
      xattrSetter = (path, name, value) => mod.setAttributeSync(path, name, value);
    } catch {
      xattrSetter = null;
    }
  }
  return xattrSetter ?? undefined;
}

/**
 * Device nodes and FIFOs, made by mknod(1) and mkfifo(1): Node has no mknod(2). One xargs(1) per
 * kind and batch runs the program for each node, its arguments given NUL-separated on a pipe (no
 * shell); every path is absolute and every other argument a number or a type letter, so none can
 * be taken for an option. A process per node cost a start each, and a start from a process this
 * size is a fork of its whole memory map (about 8 ms at 100 MiB), taken on the writer's thread.
 */
export class NodeBatch {
  private devices: Maker | undefined;
  private fifos: Maker | undefined;

  add(path: string, kind: 'c' | 'b' | 'p', mode: number, major = 0, minor = 0): void {
    const perm = (mode & 0o777).toString(8);
    if (kind === 'p') (this.fifos ??= maker('mkfifo', 2)).add([perm, path]);
    else (this.devices ??= maker('mknod', 5)).add([perm, path, kind, String(major), String(minor)]);
  }

  /** Resolves once every node added so far exists; rejects with what the program said otherwise. */
  async settle(): Promise<void> {
    const running = [this.devices, this.fifos].filter((m): m is Maker => m !== undefined);
    this.devices = this.fifos = undefined;
    const failures = await Promise.all(running.map((m) => m.end()));
    const failure = failures.find((f) => f !== undefined);
    if (failure) throw failure;
  }
}

interface Maker {
  add(args: string[]): void;
  end(): Promise<Error | undefined>;
}

/**
 * child_process, and net and dgram that it loads, on the first node only: most root images have
 * a few nodes at most, and the writer threads (which import this module) start sooner without.
 */
let spawn: typeof Spawn | undefined;

/** `xargs -0 -n <n> <cmd> -m`: each <n> arguments written make one node. */
function maker(cmd: 'mknod' | 'mkfifo', n: number): Maker {
  spawn ??= (require('node:child_process') as typeof import('node:child_process')).spawn;
  const child = spawn('xargs', ['-0', '-n', String(n), cmd, '-m'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 4000) stderr += d;
  });
  // EPIPE when xargs is gone: its exit says why.
  child.stdin.on('error', () => undefined);
  const exited = new Promise<Error | undefined>((resolve) => {
    child.on('error', (err) => resolve(Object.assign(new Error(`${cmd}: cannot run xargs: ${err.message}`), { code: 'ENOENT_MKNOD', syscall: 'mknod' })));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(undefined);
      const text = stderr.trim();
      // Shaped like a system error so callers can tell "exists" from other failures.
      const kind = code === 127 ? 'ENOENT_MKNOD' : /exists/i.test(text) ? 'EEXIST' : 'EMKNOD';
      resolve(Object.assign(new Error(text || `${cmd} exited with ${code ?? signal}`), { code: kind, syscall: 'mknod' }));
    });
  });
  return {
    add: (args) => void child.stdin.write(args.map((a) => `${a}\0`).join('')),
    end: () => {
      child.stdin.end();
      return exited;
    },
  };
}

/** Linux dev_t → (major, minor), as glibc's gnu_dev_major/minor. */
export function splitDev(dev: number | bigint): [number, number] {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return [major, minor];
}

/** Counts what an expansion could not keep, one line per reason. */
export class DropNotes {
  private readonly counts = new Map<string, number>();

  add(reason: string, n = 1): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + n);
  }

  lines(): string[] {
    return [...this.counts].map(([reason, n]) => `${reason} (${n} ${n === 1 ? 'entry' : 'entries'})`);
  }
}
