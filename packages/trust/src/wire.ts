/**
 * The SSH wire encoding (RFC 4251 §5): uint32, string, mpint. A reader over untrusted bytes that
 * names what it was reading when the data ends early.
 */
export class WireError extends Error {
  override readonly name = 'WireError';
}

export class WireReader {
  private off = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  get done(): boolean {
    return this.off >= this.buf.length;
  }

  get rest(): Buffer {
    return this.buf.subarray(this.off);
  }

  bytes(n: number, field: string): Buffer {
    if (n < 0 || this.off + n > this.buf.length) throw new WireError(`${this.what}: truncated at ${field}`);
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }

  uint32(field: string): number {
    return this.bytes(4, field).readUInt32BE(0);
  }

  string(field: string): Buffer {
    return this.bytes(this.uint32(field), field);
  }

  text(field: string): string {
    const b = this.string(field);
    const s = b.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(b)) throw new WireError(`${this.what}: ${field} is not UTF-8`);
    return s;
  }

  /** An mpint as an unsigned big-endian magnitude without leading zero bytes (negatives refused). */
  mpint(field: string): Buffer {
    const b = this.string(field);
    if (b.length > 0 && (b[0]! & 0x80) !== 0) throw new WireError(`${this.what}: ${field} is negative`);
    let i = 0;
    while (i < b.length && b[i] === 0) i++;
    return b.subarray(i);
  }

  end(): void {
    if (!this.done) throw new WireError(`${this.what}: ${this.buf.length - this.off} unexpected bytes after the last field`);
  }
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function sshString(data: Buffer | string): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([u32(b.length), b]);
}

export function sshMpint(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return sshString(m.length > 0 && (m[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), m]) : m);
}

/** Base64 wrapped at `width` columns between BEGIN/END lines, as OpenSSH writes its armor. */
export function armor(label: string, data: Buffer, width = 70): string {
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * The one armored block of `label` in `text`. More than one, text around it, or a body that is
 * not base64 is an error: a signature file holds exactly one signature.
 */
export function dearmor(label: string, text: string, what: string): Buffer {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  while (lines.length > 0 && lines[0] === '') lines.shift();
  const begins = lines.filter((l) => l === begin).length;
  if (begins === 0) throw new WireError(`${what}: no "${begin}" line`);
  if (begins > 1) throw new WireError(`${what}: it holds ${begins} signatures; exactly one is allowed`);
  if (lines[0] !== begin || lines[lines.length - 1] !== end) throw new WireError(`${what}: text before "${begin}" or after "${end}"`);
  const body = lines.slice(1, -1).join('');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) throw new WireError(`${what}: the body is not base64`);
  return Buffer.from(body, 'base64');
}
