/**
 * The payload of a bundle being assembled: members in bundle order, each claimed once. Two
 * different files may not share a member name (a flat xCAT layout, and an import that places
 * files by basename, could not tell them apart); the same file named twice is one member.
 */
import type { BundleEntry } from '@imgport/archive';
import { RESERVED_MEMBERS } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';

/** A root image tree the pack step turns into an archive before the bundle is written. */
export interface PackJob {
  /** The rootimg/ directory. */
  tree: string;
  /** 'cpio': entries relative to the tree (packimage's layout); 'rootimgtree': under rootimg/ (stock imgexport's). */
  layout: 'cpio' | 'rootimgtree';
}

export type PayloadSource = BundleEntry['source'] | { pack: PackJob };

export interface Payload {
  member: string;
  source: PayloadSource;
  precompressed?: boolean;
  mode?: number;
  mtime?: Date;
}

export class Members {
  readonly items: Payload[] = [];
  private readonly owners = new Map<string, string>();

  /** Adds a file member (unless this very file is already in), returns the member name. */
  addFile(member: string, file: string, what: string, precompressed = false): string {
    if (this.claim(member, file, what)) this.items.push({ member, source: { file }, precompressed });
    return member;
  }

  addData(member: string, data: string, what: string): string {
    if (this.claim(member, `<${what}>`, what)) this.items.push({ member, source: { data } });
    return member;
  }

  addDir(member: string, mode: number, mtime: Date, what: string): void {
    // Claimed without the slash: a file and a directory of one name cannot both be members.
    if (this.claim(member, `<dir ${member}>`, what)) this.items.push({ member: `${member}/`, source: { dir: true }, mode, mtime });
  }

  addPack(member: string, job: PackJob, what: string): string {
    if (this.claim(member, `<pack ${job.tree}>`, what)) this.items.push({ member, source: { pack: job }, precompressed: true });
    return member;
  }

  private claim(member: string, owner: string, what: string): boolean {
    if (RESERVED_MEMBERS.includes(member)) {
      throw new ImgportError('UNSUPPORTED', `${what}: ${owner} would be stored as ${member}, a name the bundle reserves`, { where: what });
    }
    const had = this.owners.get(member);
    if (had === undefined) {
      this.owners.set(member, owner);
      return true;
    }
    if (had === owner) return false;
    throw new ImgportError(
      'UNSUPPORTED',
      `${what}: ${owner} and ${had} would both be stored as ${member}; rename one of them`,
      { where: what },
    );
  }
}
