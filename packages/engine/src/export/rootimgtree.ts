/**
 * Stock xCAT's statelite bundles carry rootimgtree.gz: `find rootimg | cpio -H newc -o | gzip`
 * run in rootimgdir, so every name starts with `rootimg`, and stock imgimport unpacks it with
 * `cpio -idum` in rootimgdir (imgport.pm make_bundle / make_files). Our root image packer
 * writes packimage's names ('.' for the root, then relative paths); this transform re-prefixes
 * a cpio newc stream entry by entry. Headers are copied field for field (inode and link counts
 * too, so hardlinks stay hardlinks); only the name changes.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { CpioParser, cpioPadding, encodeCpioHeader, encodeCpioTrailer, type CpioEntry } from '@imgport/format';

export class CpioPrefixer extends Transform {
  private readonly parser: CpioParser;
  private written = 0;
  /** Data bytes of the current entry, which its padding follows. */
  private size = 0;

  constructor(private readonly prefix: string) {
    super();
    this.parser = new CpioParser({
      entry: (e) => this.onEntry(e),
      data: (chunk) => this.out(chunk),
      entryEnd: () => this.out(cpioPadding(this.size)),
      end: () => this.out(encodeCpioTrailer(this.written)),
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.parser.push(chunk);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.parser.end();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  private out(buf: Buffer): void {
    if (buf.length === 0) return;
    this.written += buf.length;
    this.push(buf);
  }

  private onEntry(e: CpioEntry): void {
    const rel = e.name.split('/').filter((s) => s !== '' && s !== '.').join('/');
    const { namesize: _namesize, ...fields } = e.header;
    this.out(encodeCpioHeader(fields, rel === '' ? this.prefix : `${this.prefix}/${rel}`));
    if (e.type === 'symlink') {
      // The parser hands a symlink's target (its data) over whole, before its end.
      const target = Buffer.from(e.linkname ?? '', 'utf8');
      this.out(target);
      this.size = target.length;
    } else {
      this.size = e.header.filesize;
    }
  }
}
