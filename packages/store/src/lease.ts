/**
 * Leases: a writer registers `<store>/leases/<host>~<pid>~<random>.lease` before it writes or
 * reuses any object, and appends every digest it will reference (one per line) BEFORE it
 * checks that the object exists. It writes its ref while the lease is held and removes the
 * lease after. The collector reads leases before refs, twice (see store.ts); so an object a live
 * writer relies on is either marked, or restored, or found missing by the writer, who writes it.
 *
 * The first line names the writer as the engine's journals and locks do (host identity, boot id,
 * pid and process start time), so a lease left by a dead writer whose pid was given to another
 * process since is recognised as dead, not taken for a live writer.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { currentOwner, isOwner, ownerState, processAlive, type Owner } from '@imgport/runtime';

export class Lease {
  private fd: number;
  private closed = false;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'wx', 0o644);
    writeSync(this.fd, `${JSON.stringify({ owner: currentOwner(), at: new Date().toISOString() })}\n`);
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
  const me = currentOwner();
  return new Lease(join(dir, `${me.host}~${me.pid}~${randomBytes(6).toString('hex')}.lease`));
}

/**
 * Whether a lease's writer may still run: by its owner line, or (a lease of an earlier version,
 * which named only host and pid in the file name) by host and pid.
 */
function writerState(name: string, head: string): 'alive' | 'dead' | 'unknown' {
  let owner: Owner | undefined;
  try {
    const parsed = (JSON.parse(head) as { owner?: unknown }).owner;
    if (isOwner(parsed)) owner = parsed;
  } catch {
    // Not yet written (a lease is created, then its first line written) or an older format.
  }
  if (owner) return ownerState(owner);
  const [host, pid] = name.split('~');
  if (host !== hostname()) return 'unknown';
  return Number(pid) === process.pid || processAlive(Number(pid)) ? 'alive' : 'dead';
}

/**
 * Every digest live leases hold. A lease of a dead writer of this host is removed; one of
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
    let text: string;
    let age: number;
    try {
      age = Date.now() - statSync(file).mtimeMs;
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // released meanwhile: its ref is written, and refs are read after leases
    }
    const state = writerState(name, text.slice(0, text.indexOf('\n') + 1 || text.length));
    if (state === 'dead') {
      rmSync(file, { force: true });
      continue;
    }
    if (state === 'unknown' && age > staleMs) continue;
    live++;
    for (const line of text.split('\n')) if (line.length === 64) into.add(line);
  }
  return live;
}
