/**
 * OpenSSH user certificates (PROTOCOL.certkeys) for ed25519 keys: a signer's key vouched for by
 * a CA key that an allowed_signers `cert-authority` line trusts. Other certificate types are
 * refused by name. Pure.
 */
import { parsePublicKeyBlob, verifySshSignature, type SshPublicKey } from './keys.js';
import { WireError, WireReader } from './wire.js';

export const ED25519_CERT = 'ssh-ed25519-cert-v01@openssh.com';
const USER_CERT = 1;

export interface SshCertificate {
  /** The whole certificate blob (what the sshsig carries as its public key). */
  blob: Buffer;
  /** The certified key: the one that made the signature. */
  key: SshPublicKey;
  serial: bigint;
  keyId: string;
  principals: string[];
  /** Seconds since the epoch; validBefore 2^64-1 means forever. */
  validAfter: bigint;
  validBefore: bigint;
  ca: SshPublicKey;
}

/** Parses an ed25519 user certificate and checks the CA's signature over it. */
export function parseCertificate(blob: Buffer, what = 'certificate'): SshCertificate {
  const r = new WireReader(blob, what);
  const type = r.text('certificate type');
  if (type !== ED25519_CERT) throw new WireError(`${what}: ${type} certificates are not supported (only ${ED25519_CERT})`);
  r.string('nonce');
  const pk = r.string('ed25519 key');
  if (pk.length !== 32) throw new WireError(`${what}: an ed25519 key has 32 bytes, not ${pk.length}`);
  const serial = r.bytes(8, 'serial').readBigUInt64BE(0);
  const certType = r.uint32('certificate kind');
  const keyId = r.text('key id');
  const principals: string[] = [];
  const pr = new WireReader(r.string('valid principals'), `${what} principals`);
  while (!pr.done) principals.push(pr.text('principal'));
  const validAfter = r.bytes(8, 'valid after').readBigUInt64BE(0);
  const validBefore = r.bytes(8, 'valid before').readBigUInt64BE(0);
  r.string('critical options');
  r.string('extensions');
  r.string('reserved');
  const caBlob = r.string('signature key');
  const signedLength = blob.length - r.rest.length;
  const signature = r.string('signature');
  r.end();
  if (certType !== USER_CERT) throw new WireError(`${what}: a host certificate cannot sign bundles`);
  const ca = parsePublicKeyBlob(caBlob, `${what} CA key`);
  if (!verifySshSignature(ca, signature, blob.subarray(0, signedLength), `${what} CA signature`)) {
    throw new WireError(`${what}: the CA's signature over the certificate does not verify`);
  }
  const key = parsePublicKeyBlob(Buffer.concat([lenPrefixed('ssh-ed25519'), lenPrefixed(pk)]), `${what} key`);
  return { blob, key, serial, keyId, principals, validAfter, validBefore, ca };
}

function lenPrefixed(data: string | Buffer): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data) : data;
  const n = Buffer.alloc(4);
  n.writeUInt32BE(b.length);
  return Buffer.concat([n, b]);
}

/** Why a certificate is not valid at `now` (seconds), or undefined when it is. */
export function certificateTimeProblem(c: SshCertificate, now: number): string | undefined {
  const t = BigInt(Math.floor(now));
  if (t < c.validAfter) return `the certificate "${c.keyId}" is not valid before ${new Date(Number(c.validAfter) * 1000).toISOString()}`;
  if (t >= c.validBefore) return `the certificate "${c.keyId}" expired at ${new Date(Number(c.validBefore) * 1000).toISOString()}`;
  return undefined;
}
