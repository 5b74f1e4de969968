/**
 * OpenSSH's allowed_signers trust store (ssh-keygen(1), ALLOWED SIGNERS) and a revocation list of
 * public keys, parsed and matched the way `ssh-keygen -Y verify` / `find-principals` do. Pure.
 */
import { ImgportError } from '@imgport/runtime';
import { certificateTimeProblem, type SshCertificate } from './certificates.js';
import { parsePublicKeyLine, type SshPublicKey } from './keys.js';
import { WireError } from './wire.js';

export interface AllowedSigner {
  /** The principals pattern-list as written (`alice@example.com,*@ops.example.com`). */
  principals: string;
  certAuthority: boolean;
  /** namespaces= pattern-list; undefined: any namespace. */
  namespaces?: string;
  /** valid-after= / valid-before=, seconds since the epoch. */
  validAfter?: number;
  validBefore?: number;
  key: SshPublicKey;
  line: number;
}

/** Parses the whole file; a malformed line is an error naming it (a trust store must not be half read). */
export function parseAllowedSigners(text: string, source = 'allowed_signers'): AllowedSigner[] {
  const out: AllowedSigner[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source} line ${i + 1}`;
    try {
      out.push(parseLine(line, i + 1));
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new ImgportError('CONFIG_INVALID', `${where}: ${msg}`, { where, cause: err });
    }
  });
  return out;
}

function parseLine(line: string, n: number): AllowedSigner {
  let [principals, rest] = field(line);
  if (principals === '') throw new Error('no principals');
  let opts: Omit<AllowedSigner, 'principals' | 'key' | 'line'> = { certAuthority: false };
  if (!looksLikeKey(rest)) {
    const [optText, after] = field(rest);
    opts = parseOptions(optText);
    rest = after;
  }
  const { key } = parsePublicKeyLine(rest, 'key');
  return { principals, ...opts, key, line: n };
}

const looksLikeKey = (s: string) => /^(ssh-|ecdsa-|sk-)\S*\s/.test(s);

/** One space-delimited field, where double quotes may hold spaces (and are removed when whole). */
function field(s: string): [string, string] {
  let i = 0;
  let quoted = false;
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ' ' || c === '\t')) break;
  }
  if (quoted) throw new Error('unterminated quote');
  let f = s.slice(0, i);
  if (f.length >= 2 && f.startsWith('"') && f.endsWith('"') && !f.slice(1, -1).includes('"')) f = f.slice(1, -1);
  return [f, s.slice(i).trim()];
}

function parseOptions(text: string): Omit<AllowedSigner, 'principals' | 'key' | 'line'> {
  const out: Omit<AllowedSigner, 'principals' | 'key' | 'line'> = { certAuthority: false };
  for (const opt of splitOptions(text)) {
    const eq = opt.indexOf('=');
    const name = (eq < 0 ? opt : opt.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : unquote(opt.slice(eq + 1), name);
    if (name === 'cert-authority' && value === undefined) out.certAuthority = true;
    else if (name === 'namespaces' && value !== undefined) out.namespaces = value;
    else if (name === 'valid-after' && value !== undefined) out.validAfter = parseTime(value, name);
    else if (name === 'valid-before' && value !== undefined) out.validBefore = parseTime(value, name);
    else throw new Error(`unknown option "${opt}" (cert-authority, namespaces=, valid-after=, valid-before=)`);
  }
  return out;
}

function splitOptions(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  if (out.some((o) => o === '')) throw new Error(`empty option in "${text}"`);
  return out;
}

function unquote(v: string, name: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1);
  throw new Error(`${name}= needs a double-quoted value`);
}

/** YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]: local time unless it ends in Z, as ssh-keygen reads it. */
export function parseTime(v: string, name = 'time'): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/.exec(v);
  if (!m) throw new Error(`${name}="${v}" is not YYYYMMDD[HHMM[SS]][Z]`);
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const ms = m[7] ? Date.UTC(y, mo - 1, d, h, mi, s) : new Date(y, mo - 1, d, h, mi, s).getTime();
  if (Number.isNaN(ms) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) throw new Error(`${name}="${v}" is not a valid date`);
  return Math.floor(ms / 1000);
}

/** ssh_config(5) PATTERNS: `*` and `?` wildcards, comma-separated, `!` negates (and wins). */
export function matchPatternList(value: string, list: string): boolean {
  let matched = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (matchPattern(value, pattern)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function matchPattern(value: string, pattern: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 's');
  return re.test(value);
}

export type TrustVerdict =
  | { trusted: true; principals: string; line: number; certificate?: { keyId: string; principal: string } }
  | { trusted: false; reason: 'unknown' | 'namespace' | 'expired' | 'not-yet-valid' | 'certificate'; message: string };

/**
 * Whether `key` may sign under `namespace` at `now` (seconds), optionally as `principal` (ssh-keygen's
 * -I). The first line that accepts wins; otherwise the most telling refusal among lines naming the key.
 */
export function checkTrust(
  signers: AllowedSigner[],
  key: SshPublicKey,
  o: { namespace: string; now: number; principal?: string; source?: string; certificate?: SshCertificate },
): TrustVerdict {
  const src = o.source ?? 'allowed_signers';
  if (o.certificate) return checkCertificateTrust(signers, o.certificate, { ...o, source: src });
  let refusal: Extract<TrustVerdict, { trusted: false }> | undefined;
  for (const s of signers) {
    if (!s.key.blob.equals(key.blob)) continue;
    if (o.principal !== undefined && !matchPatternList(o.principal, s.principals)) continue;
    const at = `${src} line ${s.line}`;
    if (s.certAuthority) {
      refusal ??= { trusted: false, reason: 'certificate', message: `${at} trusts this key only as a certificate authority, and the bundle is signed by the key itself` };
      continue;
    }
    if (s.namespaces !== undefined && !matchPatternList(o.namespace, s.namespaces)) {
      refusal = { trusted: false, reason: 'namespace', message: `${at}: ${s.principals} is trusted only for namespaces "${s.namespaces}", not "${o.namespace}"` };
      continue;
    }
    if (s.validAfter !== undefined && o.now < s.validAfter) {
      refusal = { trusted: false, reason: 'not-yet-valid', message: `${at}: ${s.principals} is not valid before ${new Date(s.validAfter * 1000).toISOString()}` };
      continue;
    }
    if (s.validBefore !== undefined && o.now > s.validBefore) {
      refusal = { trusted: false, reason: 'expired', message: `${at}: ${s.principals} expired at ${new Date(s.validBefore * 1000).toISOString()}` };
      continue;
    }
    return { trusted: true, principals: s.principals, line: s.line };
  }
  return refusal ?? { trusted: false, reason: 'unknown', message: `the signing key is not in ${src}${o.principal !== undefined ? ` for ${o.principal}` : ''}` };
}

/** A line's namespaces= and validity, shared by plain keys and certificate authorities. */
function lineProblem(s: AllowedSigner, at: string, o: { namespace: string; now: number }): Extract<TrustVerdict, { trusted: false }> | undefined {
  if (s.namespaces !== undefined && !matchPatternList(o.namespace, s.namespaces)) {
    return { trusted: false, reason: 'namespace', message: `${at}: ${s.principals} is trusted only for namespaces "${s.namespaces}", not "${o.namespace}"` };
  }
  if (s.validAfter !== undefined && o.now < s.validAfter) {
    return { trusted: false, reason: 'not-yet-valid', message: `${at}: ${s.principals} is not valid before ${new Date(s.validAfter * 1000).toISOString()}` };
  }
  if (s.validBefore !== undefined && o.now > s.validBefore) {
    return { trusted: false, reason: 'expired', message: `${at}: ${s.principals} expired at ${new Date(s.validBefore * 1000).toISOString()}` };
  }
  return undefined;
}

/**
 * A certificate is trusted through a cert-authority line naming its CA key: one of its
 * principals (the one asked for, when one is) must match the line's patterns, and the
 * certificate must be valid now, as `ssh-keygen -Y verify` requires.
 */
function checkCertificateTrust(signers: AllowedSigner[], cert: SshCertificate, o: { namespace: string; now: number; principal?: string; source: string }): TrustVerdict {
  let refusal: Extract<TrustVerdict, { trusted: false }> | undefined;
  for (const s of signers) {
    if (!s.certAuthority || !s.key.blob.equals(cert.ca.blob)) continue;
    const at = `${o.source} line ${s.line}`;
    const wanted = o.principal !== undefined ? [o.principal] : cert.principals;
    const principal = wanted.find((p) => cert.principals.includes(p) && matchPatternList(p, s.principals));
    if (principal === undefined) {
      refusal ??= { trusted: false, reason: 'unknown', message: `${at}: the certificate "${cert.keyId}" is for ${cert.principals.join(', ') || 'no principal'}, none of them matching ${s.principals}` };
      continue;
    }
    const time = certificateTimeProblem(cert, o.now);
    if (time) {
      refusal = { trusted: false, reason: time.includes('expired') ? 'expired' : 'not-yet-valid', message: `${at}: ${time}` };
      continue;
    }
    const problem = lineProblem(s, at, o);
    if (problem) {
      refusal = problem;
      continue;
    }
    return { trusted: true, principals: principal, line: s.line, certificate: { keyId: cert.keyId, principal } };
  }
  return refusal ?? { trusted: false, reason: 'unknown', message: `the certificate's CA is not a cert-authority in ${o.source}` };
}

const KRL_MAGIC = 'SSHKRL\n\0';

/** A revocation list: OpenSSH public keys one a line (`#` comments). Binary KRLs are refused by name. */
export function parseRevokedKeys(data: Buffer, source = 'revoked_signers'): Buffer[] {
  if (data.subarray(0, 8).toString('latin1') === KRL_MAGIC) {
    throw new ImgportError('CONFIG_INVALID', `${source} is a binary KRL, which imgport does not read: list the revoked public keys one a line instead`, { where: source });
  }
  const out: Buffer[] = [];
  data.toString('utf8').split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      out.push(parsePublicKeyLine(line, 'key').key.blob);
    } catch (err) {
      const where = `${source} line ${i + 1}`;
      throw new ImgportError('CONFIG_INVALID', `${where}: ${err instanceof WireError ? err.message : String(err)}`, { where });
    }
  });
  return out;
}
