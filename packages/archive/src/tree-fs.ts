/** Small filesystem helpers for the tree writer: the things Node cannot do by itself. */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';

/** Sets one extended attribute on a path (not a symlink) synchronously. */
export type XattrSetter = (path: string, name: string, value: Buffer) => void;

/**
 * fs-xattr is an optional native module: when it is missing or does not load, xattrs are
 * reported as dropped instead of failing the expansion.
 */
export async function loadXattr(): Promise<XattrSetter | undefined> {
  try {
    // A CommonJS addon: required, so the commands' bundle loads it without a dynamic import.
    const mod = createRequire(import.meta.url)('fs-xattr') as { setAttributeSync: XattrSetter };
    return (path, name, value) => mod.setAttributeSync(path, name, value);
  } catch {
    return undefined;
  }
}

/**
 * Creates a device node or FIFO. Node has no mknod(2), so this runs mknod(1) with an argument
 * array (never a shell); `path` is absolute, so it cannot be taken for an option. Asynchronous,
 * so the writer can run the processes of a directory's nodes side by side: one after another
 * they cost a process start each (tens of milliseconds on a busy machine).
 */
export function mknod(path: string, kind: 'c' | 'b' | 'p', mode: number, major = 0, minor = 0): Promise<void> {
  const args = ['-m', (mode & 0o777).toString(8), path, kind];
  if (kind !== 'p') args.push(String(major), String(minor));
  return new Promise((resolve, reject) => {
    execFile('mknod', args, { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const text = stderr.trim();
      const code = (err as { code?: unknown }).code;
      // Shape it like a system error so callers can tell "exists" from other failures.
      reject(
        Object.assign(new Error(`mknod ${path}: ${text || String(err)}`), {
          code: code === 'ENOENT' ? 'ENOENT_MKNOD' : /exists/i.test(text) ? 'EEXIST' : 'EMKNOD',
          syscall: 'mknod',
        }),
      );
    });
  });
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
