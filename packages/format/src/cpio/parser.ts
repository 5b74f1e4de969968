/**
 * A push parser for cpio newc archives: feed it chunks as they arrive (`push`), then `end()`.
 * It calls back synchronously with each entry, the entry's data as views into the pushed
 * chunks (never copied), and the end of each entry. Headers and names split across chunks are
 * gathered in a small buffer. Modelled on tar-stream's extract.js (the state machine), with
 * the codec in header.ts.
 */
import { ImgportError } from '@imgport/runtime';
import { CPIO_HEADER_SIZE, CPIO_TRAILER, cpioEntryType, decodeCpioHeader, pad4 } from './header.js';
import type { CpioEntryType, CpioHeader } from './header.js';

export interface CpioEntry {
  header: CpioHeader;
  /** The name as stored (UTF-8 decoded), not yet checked for safety. */
  name: string;
  type: CpioEntryType;
  /** Symlink target (the entry's data). */
  linkname?: string;
}

export interface CpioEvents {
  /** A new entry. For a symlink this comes once its target has been read. */
  entry(e: CpioEntry): void;
  /** Regular-file data: a view into the pushed chunk, valid only during the call. */
  data(chunk: Buffer): void;
  /** All of the current entry's data has been delivered. */
  entryEnd(): void;
  /** TRAILER!!! was read; anything after it (block padding) is ignored. */
  end(): void;
}

export interface CpioParserOptions {
  /** Largest namesize accepted (including the NUL); bigger is corrupt or hostile. */
  maxNameSize?: number;
  /** Largest symlink target accepted, in bytes. */
  maxLinkSize?: number;
}

type State = 'header' | 'name' | 'data' | 'link' | 'pad' | 'done';

export class CpioParser {
  private state: State = 'header';
  /** Bytes still wanted by the header/name/pad/data/link state. */
  private need = CPIO_HEADER_SIZE;
  /** Partial header or name gathered across chunks. */
  private held: Buffer | null = null;
  private heldLen = 0;
  private heldAt = 0;
  private header: CpioHeader | null = null;
  private name = '';
  private linkParts: Buffer[] = [];
  private sum = 0;
  /** Archive offset of the next byte to be consumed; of the current entry's header. */
  private pos = 0;
  private entryAt = 0;
  private readonly maxNameSize: number;
  private readonly maxLinkSize: number;

  constructor(
    private readonly events: CpioEvents,
    opts: CpioParserOptions = {},
  ) {
    this.maxNameSize = opts.maxNameSize ?? 65536;
    this.maxLinkSize = opts.maxLinkSize ?? 4096;
  }

  /** Archive bytes consumed so far. */
  get offset(): number {
    return this.pos;
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.need, chunk.length - i);
        const view = chunk.subarray(i, i + n);
        if (this.header!.crc) this.addSum(view);
        i += n;
        this.pos += n;
        this.need -= n;
        this.events.data(view);
        if (this.need === 0) this.dataDone();
        continue;
      }
      if (this.state === 'pad') {
        const n = Math.min(this.need, chunk.length - i);
        i += n;
        this.pos += n;
        this.need -= n;
        if (this.need === 0) this.startHeader();
        continue;
      }
      if (this.state === 'link') {
        const n = Math.min(this.need, chunk.length - i);
        this.linkParts.push(Buffer.from(chunk.subarray(i, i + n))); // tiny, and must outlive the chunk
        i += n;
        this.pos += n;
        this.need -= n;
        if (this.need === 0) this.linkDone();
        continue;
      }
      // header or name: a fixed number of bytes, possibly split across chunks
      let block: Buffer;
      let at: number;
      let start: number;
      if (this.held === null && chunk.length - i >= this.need) {
        block = chunk;
        at = i;
        start = this.pos;
        i += this.need;
        this.pos += this.need;
      } else {
        if (this.held === null) {
          this.held = Buffer.allocUnsafe(this.need);
          this.heldLen = 0;
          this.heldAt = this.pos;
        }
        const n = Math.min(this.need - this.heldLen, chunk.length - i);
        chunk.copy(this.held, this.heldLen, i, i + n);
        this.heldLen += n;
        i += n;
        this.pos += n;
        if (this.heldLen < this.need) continue;
        block = this.held;
        at = 0;
        start = this.heldAt;
        this.held = null;
      }
      if (this.state === 'header') this.onHeader(block, at, start);
      else this.onName(block, at);
    }
  }

  /** The input is complete: anything short of the trailer is a truncated archive. */
  end(): void {
    if (this.state === 'done') return;
    const inEntry = this.header && this.state !== 'header' ? ` inside entry "${this.name || '?'}"` : '';
    throw new ImgportError('BUNDLE_INVALID', `cpio: truncated archive at offset ${this.pos}${inEntry} (no TRAILER!!!)`, {
      where: `offset ${this.pos}`,
    });
  }

  private fail(message: string, at = this.entryAt): never {
    throw new ImgportError('BUNDLE_INVALID', `cpio: ${message} (entry at offset ${at})`, { where: `offset ${at}` });
  }

  private onHeader(block: Buffer, at: number, start: number): void {
    this.entryAt = start;
    const h = decodeCpioHeader(block, at, start);
    if (h.namesize < 2) this.fail(`empty name (namesize ${h.namesize})`);
    if (h.namesize > this.maxNameSize) this.fail(`namesize ${h.namesize} exceeds ${this.maxNameSize}`);
    this.header = h;
    this.name = '';
    this.state = 'name';
    this.need = h.namesize + pad4(CPIO_HEADER_SIZE + h.namesize);
  }

  private onName(block: Buffer, at: number): void {
    const h = this.header!;
    if (block[at + h.namesize - 1] !== 0) this.fail('name is not NUL-terminated');
    this.name = block.toString('utf8', at, at + h.namesize - 1);
    if (this.name === CPIO_TRAILER) {
      this.state = 'done';
      this.events.end();
      return;
    }
    const type = cpioEntryType(h.mode);
    if (type === undefined) this.fail(`"${this.name}": unknown file type in mode 0${h.mode.toString(8)}`);
    this.sum = 0;
    if (type === 'symlink') {
      if (h.filesize === 0 || h.filesize > this.maxLinkSize) this.fail(`"${this.name}": symlink target of ${h.filesize} bytes`);
      this.linkParts = [];
      this.state = 'link';
      this.need = h.filesize;
      return;
    }
    if (type !== 'file' && h.filesize !== 0) this.fail(`"${this.name}": ${type} with ${h.filesize} bytes of data`);
    this.events.entry({ header: h, name: this.name, type });
    if (h.filesize > 0) {
      this.state = 'data';
      this.need = h.filesize;
    } else {
      this.dataDone();
    }
  }

  private linkDone(): void {
    const target = Buffer.concat(this.linkParts);
    this.linkParts = [];
    if (this.header!.crc) this.addSum(target);
    this.checkSum();
    this.events.entry({ header: this.header!, name: this.name, type: 'symlink', linkname: target.toString('utf8') });
    this.events.entryEnd();
    this.startPad();
  }

  private dataDone(): void {
    this.checkSum();
    this.events.entryEnd();
    this.startPad();
  }

  private startPad(): void {
    this.need = pad4(this.header!.filesize);
    if (this.need > 0) this.state = 'pad';
    else this.startHeader();
  }

  private startHeader(): void {
    this.state = 'header';
    this.need = CPIO_HEADER_SIZE;
  }

  private addSum(view: Uint8Array): void {
    let s = this.sum;
    for (let k = 0; k < view.length; k++) s += view[k]!;
    this.sum = s % 0x100000000;
  }

  private checkSum(): void {
    const h = this.header!;
    if (h.crc && h.check !== this.sum) this.fail(`"${this.name}": checksum ${h.check} does not match data (${this.sum})`);
  }
}
