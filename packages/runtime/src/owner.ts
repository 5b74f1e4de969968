/**
 * Who owns a journal, a lock or a store lease, in a form that survives containers and hosts: the
 * host identity (IMGPORT_HOST_ID, else the host name), the kernel's boot id, the pid and the
 * process start time (field 22 of /proc/<pid>/stat). A restarted container's PID 1 has the same
 * pid and host name as the one that died but another start time, so it is recognised as a
 * different process; so is an unrelated process that was given a recycled pid.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { processAlive } from './process.js';

export interface Owner {
  host: string;
  boot: string;
  pid: number;
  /** Start time in clock ticks since boot; '' where /proc is not available. */
  start: string;
}

function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** Field 22 of /proc/<pid>/stat; undefined when the process does not exist (or no /proc). */
export function processStart(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: count after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[22 - 3];
}

let me: Owner | undefined;

/** This process (computed once; IMGPORT_HOST_ID overrides the host name, e.g. in a container). */
export function currentOwner(): Owner {
  if (!me || me.pid !== process.pid) {
    me = { host: process.env.IMGPORT_HOST_ID || hostname(), boot: readBootId(), pid: process.pid, start: processStart(process.pid) ?? '' };
  }
  return me;
}

export function sameOwner(a: Owner, b: Owner): boolean {
  return a.host === b.host && a.boot === b.boot && a.pid === b.pid && a.start === b.start;
}

/** True for a value shaped like an Owner (read back from a file). */
export function isOwner(o: unknown): o is Owner {
  const x = o as Partial<Owner> | null;
  return typeof x === 'object' && x !== null && typeof x.host === 'string' && typeof x.boot === 'string' && Number.isInteger(x.pid) && typeof x.start === 'string';
}

/**
 * 'dead' when the owner certainly no longer runs: same host identity and either another boot, or
 * no process with that pid and start time. 'alive' for this process or a live local one;
 * 'unknown' for another host (only a lease can tell).
 */
export function ownerState(o: Owner): 'alive' | 'dead' | 'unknown' {
  const self = currentOwner();
  if (sameOwner(o, self)) return 'alive';
  if (o.host !== self.host) return 'unknown';
  if (o.boot && self.boot && o.boot !== self.boot) return 'dead';
  if (o.pid === self.pid && o.start !== self.start) return 'dead';
  if (!processAlive(o.pid)) return 'dead';
  const start = processStart(o.pid);
  if (o.start && start !== undefined && start !== o.start) return 'dead';
  return 'alive';
}

export function describeOwner(o: Owner): string {
  return `process ${o.pid} on ${o.host}`;
}
