import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { test } from 'node:test';
import {
  armor,
  checkSshSig,
  decodeSshSig,
  encodeSshSig,
  fingerprint,
  formatPublicKeyLine,
  generateEd25519,
  parsePrivateKey,
  parsePublicKeyBlob,
  parsePublicKeyLine,
  signedData,
  signSshSig,
  sshMpint,
  sshString,
  u32,
  WireError,
} from './index.js';

const message = Buffer.from('0123  kernel\n');

test('sshsig: an in-process ed25519 signature decodes to its parts and checks against the message', () => {
  const { key } = generateEd25519('alice@site');
  const text = signSshSig(key, 'imgport-bundle', message);
  assert.match(text, /^-----BEGIN SSH SIGNATURE-----\n(?:[A-Za-z0-9+/=]{1,70}\n)+-----END SSH SIGNATURE-----\n$/);
  const sig = decodeSshSig(text);
  assert.deepEqual(
    { type: sig.publicKey.type, blob: sig.publicKey.blob, namespace: sig.namespace, hash: sig.hashAlgorithm, sigLen: sig.signature.length },
    { type: 'ssh-ed25519', blob: key.publicKey.blob, namespace: 'imgport-bundle', hash: 'sha512', sigLen: 4 + 11 + 4 + 64 },
  );
  assert.equal(encodeSshSig(sig), text);
  const ok = checkSshSig(sig, 'imgport-bundle', message);
  assert.deepEqual({ ok: ok.ok, fingerprint: ok.fingerprint }, { ok: true, fingerprint: fingerprint(key.publicKey) });
});

test('sshsig: another message or namespace fails, naming why', () => {
  const { key } = generateEd25519('');
  const sig = decodeSshSig(signSshSig(key, 'imgport-bundle', message));
  const other = checkSshSig(sig, 'imgport-bundle', Buffer.from('0124  kernel\n'));
  assert.deepEqual([other.ok, !other.ok && other.reason], [false, 'mismatch']);
  const ns = checkSshSig(sig, 'git', message);
  assert.deepEqual([ns.ok, !ns.ok && ns.message], [false, 'the signature is for namespace "imgport-bundle", not "git"']);
});

test('sshsig: the signed data is preamble, namespace, reserved, hash name and digest', () => {
  const d = signedData('ns', 'sha256', Buffer.from('abc'));
  const digest = Buffer.from('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'hex');
  assert.deepEqual(d, Buffer.concat([Buffer.from('SSHSIG'), sshString('ns'), sshString(''), sshString('sha256'), sshString(digest)]));
});

test('sshsig: two signatures in one file, text around it, truncation and an oversized file are refused', () => {
  const { key } = generateEd25519('');
  const one = signSshSig(key, 'imgport-bundle', message);
  assert.throws(() => decodeSshSig(one + one), (e: Error) => e instanceof WireError && /holds 2 signatures/.test(e.message));
  assert.throws(() => decodeSshSig('hello\n' + one), /text before/);
  const blob = Buffer.from(one.split('\n').slice(1, -2).join(''), 'base64');
  assert.throws(() => decodeSshSig(armor('SSH SIGNATURE', blob.subarray(0, blob.length - 3))), /truncated at signature/);
  assert.throws(() => decodeSshSig('x'.repeat(20_000)), /at most 16384/);
});

test('sshsig: an RSA signature with SHA-1 (ssh-rsa) is refused; rsa-sha2-512 verifies', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const blob = Buffer.concat([sshString('ssh-rsa'), sshMpint(Buffer.from(jwk.e!, 'base64url')), sshMpint(Buffer.from(jwk.n!, 'base64url'))]);
  const pk = parsePublicKeyBlob(blob);
  const make = (alg: string, hash: string) =>
    decodeSshSig(
      encodeSshSig({
        publicKey: pk,
        namespace: 'imgport-bundle',
        hashAlgorithm: 'sha512',
        signature: Buffer.concat([sshString(alg), sshString(cryptoSign(hash, signedData('imgport-bundle', 'sha512', message), privateKey))]),
      }),
    );
  assert.equal(checkSshSig(make('rsa-sha2-512', 'sha512'), 'imgport-bundle', message).ok, true);
  assert.throws(() => checkSshSig(make('ssh-rsa', 'sha1'), 'imgport-bundle', message), /SHA-1 \(ssh-rsa\) is refused/);
});

test('keys: a public key line round-trips; the type must match the blob; certificates are named', () => {
  const { publicLine, key } = generateEd25519('bob@x');
  const parsed = parsePublicKeyLine(publicLine);
  assert.deepEqual({ blob: parsed.key.blob, comment: parsed.comment }, { blob: key.publicKey.blob, comment: 'bob@x' });
  assert.equal(formatPublicKeyLine(parsed.key, 'bob@x') + '\n', publicLine);
  const b64 = publicLine.split(' ')[1]!;
  assert.throws(() => parsePublicKeyLine(`ssh-rsa ${b64}`), /says ssh-rsa but the key is ssh-ed25519/);
  const cert = Buffer.concat([sshString('ssh-ed25519-cert-v01@openssh.com'), sshString(Buffer.alloc(32))]);
  assert.throws(() => parsePublicKeyBlob(cert), /is an OpenSSH certificate \(ssh-ed25519-cert-v01@openssh.com\)/);
  assert.throws(() => parsePublicKeyBlob(Buffer.concat([sshString('ssh-dss'), u32(0)])), /"ssh-dss" is not supported/);
});

test('keys: the fingerprint is SHA256 over the blob in unpadded base64, as ssh-keygen -l prints it', () => {
  // A key made by ssh-keygen, and what `ssh-keygen -lf` printed for it.
  const line = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDMTgBeWx910EzW542Pm8T5Vbsb+GYpQOhE3+6UrpsXP ext';
  assert.equal(fingerprint(parsePublicKeyLine(line).key), 'SHA256:I9BFncvhADdwhpdedNHiNm5YcwbzuZSsHAeDxlRmlho');
});

test('private key: a generated key file parses back to the same key; encrypted and RSA keys are external', () => {
  const { privateText, key } = generateEd25519('carol@x');
  const back = parsePrivateKey(privateText);
  assert.equal(back.kind, 'ed25519');
  assert.deepEqual(back.kind === 'ed25519' && { blob: back.publicKey.blob, comment: back.comment }, { blob: key.publicKey.blob, comment: 'carol@x' });
  assert.deepEqual(parsePrivateKey('ssh-ed25519 AAAA x'), { kind: 'external', reason: 'private key is not in the OpenSSH private key format' });
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0', 'latin1'), sshString('aes256-ctr'), sshString('bcrypt'), sshString(Buffer.alloc(24)), u32(1)]);
  assert.deepEqual(parsePrivateKey(armor('OPENSSH PRIVATE KEY', body)), { kind: 'external', reason: 'private key is encrypted (aes256-ctr)' });
});
