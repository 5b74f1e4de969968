/**
 * OpenSSH's sshsig signature format (PROTOCOL.sshsig): the armored `SSH SIGNATURE` blob, the data
 * a signer signs, and in-process signing and verification. Pure: no fs, no network.
 */
import { createHash, sign as cryptoSign } from 'node:crypto';
import type { Ed25519PrivateKey } from './private-key.js';
import { fingerprint, parsePublicKeyBlob, verifySshSignature, type SshPublicKey } from './keys.js';
import { ED25519_CERT, parseCertificate, type SshCertificate } from './certificates.js';
import { armor, dearmor, sshString, u32, WireError, WireReader } from './wire.js';

const MAGIC = Buffer.from('SSHSIG', 'latin1');
const LABEL = 'SSH SIGNATURE';
/** A signature file larger than this is not a signature (an RSA-16384 one is under 5 KiB). */
export const MAX_SIGNATURE_BYTES = 16 * 1024;

export interface SshSig {
  /** The key that made the signature (a certificate's own key when signed with one). */
  publicKey: SshPublicKey;
  /** When the signer presented an OpenSSH certificate (ed25519 only). */
  certificate?: SshCertificate;
  namespace: string;
  hashAlgorithm: 'sha256' | 'sha512';
  /** The inner SSH signature blob (algorithm + bytes). */
  signature: Buffer;
}

/** The bytes actually signed: the preamble, namespace, reserved, hash algorithm and H(message). */
export function signedData(namespace: string, hashAlgorithm: 'sha256' | 'sha512', message: Buffer): Buffer {
  return signedDataOfDigest(namespace, hashAlgorithm, createHash(hashAlgorithm).update(message).digest());
}

/** The same, from H(message) computed elsewhere (a large file hashed as a stream). */
export function signedDataOfDigest(namespace: string, hashAlgorithm: 'sha256' | 'sha512', digest: Buffer): Buffer {
  return Buffer.concat([MAGIC, sshString(namespace), sshString(''), sshString(hashAlgorithm), sshString(digest)]);
}

/** Signs a message given as its sha512 digest, as `ssh-keygen -Y sign` would sign the message. */
export function signSshSigDigest(key: Ed25519PrivateKey, namespace: string, sha512: Buffer): string {
  const raw = cryptoSign(null, signedDataOfDigest(namespace, 'sha512', sha512), key.privateKey);
  return encodeSshSig({ publicKey: key.publicKey, namespace, hashAlgorithm: 'sha512', signature: Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]) });
}

export function decodeSshSig(text: string, what = 'signature'): SshSig {
  if (Buffer.byteLength(text) > MAX_SIGNATURE_BYTES) throw new WireError(`${what} is ${Buffer.byteLength(text)} bytes; a signature is at most ${MAX_SIGNATURE_BYTES}`);
  const r = new WireReader(dearmor(LABEL, text, what), what);
  if (!r.bytes(6, 'magic').equals(MAGIC)) throw new WireError(`${what}: not an SSHSIG blob`);
  const version = r.uint32('version');
  if (version !== 1) throw new WireError(`${what}: sshsig version ${version}; only version 1 is known`);
  const keyBlob = r.string('public key');
  const certificate = new WireReader(keyBlob, what).text('key type') === ED25519_CERT ? parseCertificate(keyBlob, `${what} certificate`) : undefined;
  const publicKey = certificate ? certificate.key : parsePublicKeyBlob(keyBlob, `${what} public key`);
  const namespace = r.text('namespace');
  r.string('reserved');
  const hashAlgorithm = r.text('hash algorithm');
  if (hashAlgorithm !== 'sha256' && hashAlgorithm !== 'sha512') throw new WireError(`${what}: hash algorithm "${hashAlgorithm}" (expected sha256 or sha512)`);
  const signature = r.string('signature');
  r.end();
  return { publicKey, ...(certificate ? { certificate } : {}), namespace, hashAlgorithm, signature };
}

export function encodeSshSig(sig: SshSig): string {
  const blob = Buffer.concat([
    MAGIC,
    u32(1),
    sshString(sig.certificate?.blob ?? sig.publicKey.blob),
    sshString(sig.namespace),
    sshString(''),
    sshString(sig.hashAlgorithm),
    sshString(sig.signature),
  ]);
  return armor(LABEL, blob);
}

/** Signs `message` in-process, as `ssh-keygen -Y sign -n <namespace>` does (sha512). */
export function signSshSig(key: Ed25519PrivateKey, namespace: string, message: Buffer): string {
  const raw = cryptoSign(null, signedData(namespace, 'sha512', message), key.privateKey);
  const signature = Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]);
  return encodeSshSig({ publicKey: key.publicKey, namespace, hashAlgorithm: 'sha512', signature });
}

export type SigCheck =
  | { ok: true; publicKey: SshPublicKey; fingerprint: string }
  | { ok: false; reason: 'namespace' | 'mismatch'; message: string; publicKey: SshPublicKey; fingerprint: string };

/** Whether `sig` signs `message` under `namespace` (trust is a separate question). */
export function checkSshSig(sig: SshSig, namespace: string, message: Buffer): SigCheck {
  const fp = fingerprint(sig.publicKey);
  if (sig.namespace !== namespace) {
    return { ok: false, reason: 'namespace', publicKey: sig.publicKey, fingerprint: fp, message: `the signature is for namespace "${sig.namespace}", not "${namespace}"` };
  }
  const good = verifySshSignature(sig.publicKey, sig.signature, signedData(namespace, sig.hashAlgorithm, message));
  if (!good) return { ok: false, reason: 'mismatch', publicKey: sig.publicKey, fingerprint: fp, message: `the signature by ${fp} does not match the signed data (changed after signing, or a signature of something else)` };
  return { ok: true, publicKey: sig.publicKey, fingerprint: fp };
}
