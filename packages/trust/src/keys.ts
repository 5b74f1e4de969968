/**
 * OpenSSH public keys (the `ssh-ed25519 AAAA… comment` line and its wire blob), their SHA256
 * fingerprints, and SSH signature blobs checked with Node's crypto. Pure: no fs, no network.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { sshString, WireError, WireReader } from './wire.js';

/** A well-formed key imgport does not verify with (a certificate): not garbage, but refused. */
export class UnsupportedKeyError extends WireError {}

export type KeyType = 'ssh-ed25519' | 'ssh-rsa' | 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521';

/** A certificate type: recognised so it can be refused by name rather than as garbage. */
export const CERT_TYPES = new Set([
  'ssh-ed25519-cert-v01@openssh.com',
  'ssh-rsa-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'sk-ssh-ed25519-cert-v01@openssh.com',
  'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com',
]);

export interface SshPublicKey {
  type: KeyType;
  /** The wire blob: what fingerprints and comparisons use. */
  blob: Buffer;
  readonly key: KeyObject;
}

const CURVES: Record<string, { name: string; crv: string; size: number; hash: string }> = {
  'ecdsa-sha2-nistp256': { name: 'nistp256', crv: 'P-256', size: 32, hash: 'sha256' },
  'ecdsa-sha2-nistp384': { name: 'nistp384', crv: 'P-384', size: 48, hash: 'sha384' },
  'ecdsa-sha2-nistp521': { name: 'nistp521', crv: 'P-521', size: 66, hash: 'sha512' },
};

const b64url = (b: Buffer) => b.toString('base64url');

/** Parses a public key blob; certificates and unknown types are errors that name the type. */
export function parsePublicKeyBlob(blob: Buffer, what = 'public key'): SshPublicKey {
  const r = new WireReader(blob, what);
  const type = r.text('key type');
  if (CERT_TYPES.has(type)) {
    throw new UnsupportedKeyError(`${what} is an OpenSSH certificate (${type}); imgport verifies signatures by plain keys only`);
  }
  if (type === 'ssh-ed25519') {
    const pk = r.string('ed25519 key');
    r.end();
    if (pk.length !== 32) throw new WireError(`${what}: an ed25519 key has 32 bytes, not ${pk.length}`);
    return lazyKey(type, blob, () => ({ kty: 'OKP', crv: 'Ed25519', x: b64url(pk) }));
  }
  if (type === 'ssh-rsa') {
    const e = r.mpint('rsa exponent');
    const n = r.mpint('rsa modulus');
    r.end();
    if (n.length * 8 < 2048 - 8) throw new WireError(`${what}: an RSA key of ${n.length * 8} bits is too small (2048 at least)`);
    return lazyKey(type, blob, () => ({ kty: 'RSA', n: b64url(n), e: b64url(e) }));
  }
  const curve = CURVES[type];
  if (curve) {
    const name = r.text('curve name');
    const q = r.string('ecdsa point');
    r.end();
    if (name !== curve.name) throw new WireError(`${what}: key type ${type} with curve ${name}`);
    if (q.length !== 1 + 2 * curve.size || q[0] !== 4) throw new WireError(`${what}: not an uncompressed ${curve.crv} point`);
    const x = q.subarray(1, 1 + curve.size);
    const y = q.subarray(1 + curve.size);
    return lazyKey(type as KeyType, blob, () => ({ kty: 'EC', crv: curve.crv, x: b64url(x), y: b64url(y) }));
  }
  throw new WireError(`${what}: key type "${type}" is not supported (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521)`);
}

/**
 * The crypto key is made on first use: a trust store of thousands of lines is compared by blob,
 * and only the signer's key is ever needed for a verification.
 */
function lazyKey(type: KeyType, blob: Buffer, jwk: () => JsonWebKey): SshPublicKey {
  let made: KeyObject | undefined;
  return {
    type,
    blob,
    get key() {
      made ??= createPublicKey({ key: jwk(), format: 'jwk' });
      return made;
    },
  };
}

/** `type base64 [comment]`, as in id_ed25519.pub, allowed_signers and authorized_keys. */
export function parsePublicKeyLine(line: string, what = 'public key'): { key: SshPublicKey; comment: string } {
  const m = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$/.exec(line.trim());
  if (!m) throw new WireError(`${what}: expected "<type> <base64 key> [comment]"`);
  const blob = Buffer.from(m[2]!, 'base64');
  const key = parsePublicKeyBlob(blob, what);
  if (key.type !== m[1]) throw new WireError(`${what}: the line says ${m[1]} but the key is ${key.type}`);
  return { key, comment: m[3] ?? '' };
}

export function formatPublicKeyLine(key: SshPublicKey, comment = ''): string {
  return `${key.type} ${key.blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** `SHA256:<base64 without padding>`, as ssh-keygen -l prints it. */
export function fingerprint(key: SshPublicKey | Buffer): string {
  const blob = Buffer.isBuffer(key) ? key : key.blob;
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

export function ed25519PublicBlob(pk: Buffer): Buffer {
  return Buffer.concat([sshString('ssh-ed25519'), sshString(pk)]);
}

/**
 * Checks an SSH signature blob (`string algorithm, string signature`) by `key` over `data`.
 * ssh-rsa (RSA with SHA-1) is refused, as OpenSSH refuses it for sshsig.
 */
export function verifySshSignature(key: SshPublicKey, sigBlob: Buffer, data: Buffer, what = 'signature'): boolean {
  const r = new WireReader(sigBlob, what);
  const alg = r.text('signature algorithm');
  const sig = r.string('signature bytes');
  r.end();
  switch (key.type) {
    case 'ssh-ed25519':
      if (alg !== 'ssh-ed25519') throw new WireError(`${what}: algorithm ${alg} for an ed25519 key`);
      if (sig.length !== 64) return false;
      return cryptoVerify(null, data, key.key, sig);
    case 'ssh-rsa': {
      if (alg === 'ssh-rsa') throw new WireError(`${what}: RSA with SHA-1 (ssh-rsa) is refused; sign with rsa-sha2-512 or an ed25519 key`);
      const hash = alg === 'rsa-sha2-256' ? 'sha256' : alg === 'rsa-sha2-512' ? 'sha512' : undefined;
      if (!hash) throw new WireError(`${what}: algorithm ${alg} for an RSA key`);
      return cryptoVerify(hash, data, key.key, sig);
    }
    default: {
      const curve = CURVES[key.type]!;
      if (alg !== key.type) throw new WireError(`${what}: algorithm ${alg} for an ${key.type} key`);
      const rs = new WireReader(sig, `${what} (ecdsa)`);
      const rr = rs.mpint('r');
      const ss = rs.mpint('s');
      rs.end();
      if (rr.length > curve.size || ss.length > curve.size) return false;
      const p1363 = Buffer.concat([Buffer.alloc(curve.size - rr.length), rr, Buffer.alloc(curve.size - ss.length), ss]);
      return cryptoVerify(curve.hash, data, { key: key.key, dsaEncoding: 'ieee-p1363' }, p1363);
    }
  }
}
