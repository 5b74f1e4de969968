/**
 * SHA256SUMS in coreutils sha256sum(1) format, so `sha256sum -c SHA256SUMS` checks our bundles
 * and we read the files it writes: `<64 hex>  <name>` (text mode) or `<64 hex> *<name>`
 * (binary mode). Names holding "\" or a newline are written the coreutils way: the line starts
 * with "\" and the name has "\\" and "\n" escapes.
 */
import { ImgportError } from '@imgport/runtime';
import { normalizeMemberName } from './paths.js';
import { at, byteOrder, quote } from './util.js';

const LINE = /^([0-9A-Fa-f]{64}) [ *](.+)$/s;
const HEX = /^[0-9a-f]{64}$/;

function bad(n: number, problem: string): never {
  const where = `SHA256SUMS line ${n}`;
  throw new ImgportError('BUNDLE_INVALID', `${where}: ${problem}`, { where });
}

function unescapeName(name: string, n: number): string {
  return name.replace(/\\(.?)/gs, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === 'r') return '\r';
    return bad(n, `unknown escape "\\${c}" in an escaped name`);
  });
}

/** Member name → lowercase hex digest. Names are normalised bundle member names. */
export function parseSha256Sums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, i) => {
    const n = i + 1;
    // coreutils skips comment lines; blank lines carry nothing.
    if (raw.trim() === '' || raw.startsWith('#')) return;
    const escaped = raw.startsWith('\\');
    const m = LINE.exec(escaped ? raw.slice(1) : raw);
    if (!m) bad(n, `expected "<64 hex digits>  <name>", found ${quote(raw)}`);
    const [, hex, rawName] = m as unknown as [string, string, string];
    const name = escaped ? unescapeName(rawName, n) : rawName;
    const member = at(`SHA256SUMS line ${n}`, () => normalizeMemberName(name));
    if (sums.has(member)) bad(n, `${quote(member)} is listed twice`);
    sums.set(member, hex.toLowerCase());
  });
  return sums;
}

/** Lines sorted by name (byte order), two spaces between digest and name, trailing newline. */
export function formatSha256Sums(entries: Iterable<[string, string]>): string {
  const rows = [...entries];
  const seen = new Set<string>();
  for (const [name, hex] of rows) {
    if (normalizeMemberName(name) !== name) {
      throw new ImgportError('INTERNAL', `SHA256SUMS: ${quote(name)} is not a normalised member name`);
    }
    if (!HEX.test(hex)) throw new ImgportError('INTERNAL', `SHA256SUMS: ${quote(hex)} for ${quote(name)} is not a lowercase sha256`);
    if (seen.has(name)) throw new ImgportError('INTERNAL', `SHA256SUMS: ${quote(name)} given twice`);
    seen.add(name);
  }
  rows.sort(([a], [b]) => byteOrder(a, b));
  return rows.map(([name, hex]) => formatLine(name, hex)).join('');
}

function formatLine(name: string, hex: string): string {
  if (!/[\\\n\r]/.test(name)) return `${hex}  ${name}\n`;
  const escaped = name.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return `\\${hex}  ${escaped}\n`;
}
