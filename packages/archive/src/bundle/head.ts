/**
 * The head of a bundle: `SHA256SUMS` and `SHA256SUMS.sig`, first in the tar (after an xCAT
 * image directory entry), held in memory and handed to a gate before any other member is
 * written, so a signature is checked before a byte of the payload lands anywhere.
 */
import { normalizeMemberName } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';

export const SUMS_MEMBER = 'SHA256SUMS';
export const SIG_MEMBER = 'SHA256SUMS.sig';
const MAX_HEAD_BYTES: Record<string, number> = { [SUMS_MEMBER]: 4 * 1024 * 1024, [SIG_MEMBER]: 16 * 1024 };

export interface BundleHead {
  /** '' or '<imagename>/' as the head members were found. */
  prefix: string;
  sums?: Buffer;
  sig?: Buffer;
}

/** Decides on the head; throws to refuse the bundle. Called exactly once per bundle. */
export type HeadGate = (head: BundleHead) => void | Promise<void>;

/** A head member's role when `name` is SHA256SUMS(.sig) at the top or directly in one directory. */
export function headRole(name: string): { prefix: string; base: typeof SUMS_MEMBER | typeof SIG_MEMBER } | undefined {
  const parts = name.split('/');
  const base = parts[parts.length - 1];
  if (parts.length > 2 || (base !== SUMS_MEMBER && base !== SIG_MEMBER)) return undefined;
  return { prefix: parts.length === 2 ? `${parts[0]}/` : '', base };
}

export class HeadCollector {
  private readonly head: BundleHead = { prefix: '' };
  private held: Array<{ name: string; data: Buffer }> = [];
  private closed = false;
  private sigSeen = false;

  constructor(private readonly gate: HeadGate) {}

  /**
   * Before member `name` is staged: a head member returns true (the caller reads it with
   * `take`); before staging any other file the caller must `close` the head (running the
   * gate). A signature anywhere but at the head, or a second one, is refused.
   */
  before(raw: string, type: 'file' | 'dir'): boolean {
    let name: string;
    try {
      name = normalizeMemberName(raw);
    } catch {
      return false; // the member checks name what is wrong with it
    }
    const role = type === 'file' ? headRole(name) : undefined;
    if (role?.base === SIG_MEMBER) {
      if (this.sigSeen) throw new ImgportError('SIGNATURE_INVALID', `the bundle carries two signatures ("${name}" again); a bundle has exactly one`, { where: name });
      this.sigSeen = true;
      if (this.closed) {
        throw new ImgportError('SIGNATURE_INVALID', `"${name}" comes after the payload; a signature must follow SHA256SUMS at the head of the bundle, so it is checked before anything is written`, { where: name });
      }
    }
    if (!this.closed && role && (this.held.length === 0 || role.prefix === this.head.prefix)) {
      if (role.base === SUMS_MEMBER && this.head.sums) return false;
      this.head.prefix = role.prefix;
      return true;
    }
    return false;
  }

  /** Reads a head member whole (small by construction: limits refuse anything larger). */
  async take(name: string, entry: AsyncIterable<Buffer | Uint8Array>): Promise<Buffer> {
    const base = headRole(name)!.base;
    const limit = MAX_HEAD_BYTES[base]!;
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of entry) {
      n += c.length;
      if (n > limit) {
        const code = base === SIG_MEMBER ? 'SIGNATURE_INVALID' : 'LIMIT_EXCEEDED';
        throw new ImgportError(code, `${name} is larger than ${limit} bytes${base === SIG_MEMBER ? ': that is no SSH signature' : ''}`, { where: name });
      }
      chunks.push(Buffer.from(c));
    }
    const data = Buffer.concat(chunks);
    if (base === SUMS_MEMBER) this.head.sums = data;
    else this.head.sig = data;
    this.held.push({ name, data });
    return data;
  }

  /** Runs the gate (once) and returns the head members to write, now that they are accepted. */
  async close(): Promise<Array<{ name: string; data: Buffer }>> {
    if (this.closed) return [];
    this.closed = true;
    await this.gate({ ...this.head });
    const out = this.held;
    this.held = [];
    return out;
  }

  get pending(): Array<{ name: string; data: Buffer }> {
    return this.held;
  }
}
