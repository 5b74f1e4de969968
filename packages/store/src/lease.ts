/**
 * Leases: a writer registers `<store>/leases/<host>~<pid>~<random>.lease` before it writes or
 * reuses any object, and appends every digest it will reference (one per line) BEFORE it
 * checks that the object exists. It writes its ref while the lease is held and removes the
 * lease after. The collector reads leases before refs, twice (see gc.ts); so an object a live
 * writer relies on is either marked, or restored, or found missing by the writer, who writes it.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '@imgport/runtime';

export class Lease {
  private fd: number;
  private closed = false;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'wx', 0o644);
    writeSync(this.fd, `${JSON.stringify({ host: hostname(), pid: process.pid, at: new Date().toISOString() })}\n`);
  }

  /** Records digests this writer references; visible to a collector as soon as this returns. */
  add(digests: readonly string[]): void {
    if (digests.length === 0 || this.closed) return;
    writeSync(this.fd, `${digests.join('\n')}\n`);
  }

  release(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    rmSync(this.file, { force: true });
  }
}

export function leaseDir(storeRoot: string): string {
  return join(storeRoot, 'leases');
}

export function takeLease(storeRoot: string): Lease {
  const dir = leaseDir(storeRoot);
  mkdirSync(dir, { recursive: true });
  return new Lease(join(dir, `${hostname()}~${process.pid}~${randomBytes(6).toString('hex')}.lease`));
}

/**
 * Every digest live leases hold. A lease of a dead process of this host is removed; one of
 * another host counts until it is `staleMs` old (that host's writer may still be running).
 */
export function leasedDigests(storeRoot: string, staleMs: number, into: Set<string>): number {
  const dir = leaseDir(storeRoot);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let live = 0;
  for (const name of names) {
    if (!name.endsWith('.lease')) continue;
    const file = join(dir, name);
    const [host, pid] = name.split('~');
    let text: string;
    try {
      if (host !== hostname() && Date.now() - statSync(file).mtimeMs > staleMs) continue;
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // released meanwhile: its ref is written, and refs are read after leases
    }
    if (host === hostname() && Number(pid) !== process.pid && !processAlive(Number(pid))) {
      rmSync(file, { force: true });
      continue;
    }
    live++;
    for (const line of text.split('\n')) if (line.length === 64) into.add(line);
  }
  return live;
}

