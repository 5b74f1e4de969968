/**
 * OpenSSH's private key file (`openssh-key-v1`, PROTOCOL.key), unencrypted ed25519 only: the
 * kind imgport signs with in-process. Anything else (an encrypted key, RSA, ECDSA, a FIDO key)
 * is reported as `external` so the caller hands it to `ssh-keygen -Y sign`.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { ed25519PublicBlob, parsePublicKeyBlob, type SshPublicKey } from './keys.js';
import { armor, dearmor, sshString, u32, WireError, WireReader } from './wire.js';

const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const LABEL = 'OPENSSH PRIVATE KEY';

export interface Ed25519PrivateKey {
  kind: 'ed25519';
  publicKey: SshPublicKey;
  privateKey: KeyObject;
  comment: string;
}

/** A key imgport cannot use itself: why, so the caller can say it is handing it to ssh-keygen. */
export interface ExternalKey {
  kind: 'external';
  reason: string;
}

export function parsePrivateKey(text: string, what = 'private key'): Ed25519PrivateKey | ExternalKey {
  if (!text.includes(`-----BEGIN ${LABEL}-----`)) {
    return { kind: 'external', reason: `${what} is not in the OpenSSH private key format` };
  }
  const data = dearmor(LABEL, text, what);
  const r = new WireReader(data, what);
  if (!r.bytes(MAGIC.length, 'magic').equals(MAGIC)) throw new WireError(`${what}: not an openssh-key-v1 key`);
  const cipher = r.text('cipher name');
  const kdf = r.text('kdf name');
  r.string('kdf options');
  const n = r.uint32('key count');
  if (cipher !== 'none' || kdf !== 'none') return { kind: 'external', reason: `${what} is encrypted (${cipher})` };
  if (n !== 1) throw new WireError(`${what}: holds ${n} keys; expected 1`);
  const pubBlob = r.string('public key');
  const priv = new WireReader(r.string('private section'), `${what} private section`);
  r.end();
  const type = new WireReader(pubBlob, what).text('key type');
  if (type !== 'ssh-ed25519') return { kind: 'external', reason: `${what} is a ${type} key` };
  const check1 = priv.uint32('check');
  const check2 = priv.uint32('check');
  if (check1 !== check2) throw new WireError(`${what}: check bytes differ (a corrupt or wrongly decrypted key)`);
  if (priv.text('key type') !== 'ssh-ed25519') throw new WireError(`${what}: private section of another key type`);
  const pk = priv.string('ed25519 public');
  const sk = priv.string('ed25519 secret');
  const comment = priv.text('comment');
  const pad = priv.rest;
  for (let i = 0; i < pad.length; i++) if (pad[i] !== i + 1) throw new WireError(`${what}: bad padding`);
  if (pk.length !== 32 || sk.length !== 64 || !sk.subarray(32).equals(pk)) throw new WireError(`${what}: malformed ed25519 key`);
  const publicKey = parsePublicKeyBlob(pubBlob, what);
  if (!ed25519PublicBlob(pk).equals(pubBlob)) throw new WireError(`${what}: public and private halves do not match`);
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: sk.subarray(0, 32).toString('base64url'), x: pk.toString('base64url') },
    format: 'jwk',
  });
  return { kind: 'ed25519', publicKey, privateKey, comment };
}

/** A new ed25519 key pair as OpenSSH writes it: the private key file and the `.pub` line. */
export function generateEd25519(comment: string): { privateText: string; publicLine: string; key: Ed25519PrivateKey } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pk = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const pubBlob = ed25519PublicBlob(pk);
  const check = randomBytes(4).readUInt32BE(0);
  const section = Buffer.concat([u32(check), u32(check), sshString('ssh-ed25519'), sshString(pk), sshString(Buffer.concat([seed, pk])), sshString(comment)]);
  const padLen = (8 - (section.length % 8)) % 8;
  const pad = Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1));
  const body = Buffer.concat([MAGIC, sshString('none'), sshString('none'), sshString(''), u32(1), sshString(pubBlob), sshString(Buffer.concat([section, pad]))]);
  const parsed = parsePublicKeyBlob(pubBlob);
  return {
    privateText: armor(LABEL, body),
    publicLine: `ssh-ed25519 ${pubBlob.toString('base64')}${comment ? ` ${comment}` : ''}\n`,
    key: { kind: 'ed25519', publicKey: parsed, privateKey, comment },
  };
}
