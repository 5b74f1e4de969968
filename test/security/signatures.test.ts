/**
 * Attacks on signed bundles, one test each: every hostile bundle is made here (signed with keys
 * made here), fed to the real ImportService under a trust policy, and must be refused with its
 * own error code before anything is written; the policy's three modes are checked alongside.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { spawnSync } from 'node:child_process';
import { stageBundle } from '@imgport/archive';
import { loadSigningKey, type SignaturePolicy } from '@imgport/engine';
import { encodeCpioArchive, formatSha256Sums } from '@imgport/format';
import type { ErrorCode } from '@imgport/runtime';
import {
  BUNDLE_NAMESPACE,
  encodeSshSig,
  fingerprint,
  generateEd25519,
  parsePublicKeyBlob,
  parsePublicKeyLine,
  signedData,
  signSshSig,
  sshMpint,
  sshString,
  type Ed25519PrivateKey,
} from '@imgport/trust';
import { createHash } from 'node:crypto';
import { refused, site, type Site } from './helpers.js';

type Member = [name: string, data: Buffer];

const rootimg = () =>
  gzipSync(
    encodeCpioArchive([
      { name: '.', type: 'dir', mode: 0o755, mtime: 1_700_000_000 },
      { name: 'etc', type: 'dir', mode: 0o755, mtime: 1_700_000_000 },
      { name: 'etc/hostname', type: 'file', mode: 0o644, mtime: 1_700_000_000, data: Buffer.from('node01\n') },
    ]),
  );

function payload(name = 'signed-img', profile = 'compute'): Member[] {
  const cfg = [`name ${name}`, 'os rhels8.5.0', 'arch x86_64', `profile ${profile}`, 'method netboot', 'kernel kernel', 'initrd initrd-stateless.gz', 'rootimg rootimg.cpio.gz', ''];
  return [
    ['manifest.cfg', Buffer.from(cfg.join('\n'))],
    ['kernel', Buffer.from(`vmlinuz of ${name}`)],
    ['initrd-stateless.gz', gzipSync(`initrd of ${name}`)],
    ['rootimg.cpio.gz', rootimg()],
  ];
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sumsOf = (files: Member[]) => Buffer.from(formatSha256Sums(files.map(([n, d]) => [n, sha(d)])));

/** SHA256SUMS, its signature, then the payload: what xcatexport --sign writes. */
function signed(files: Member[], key: Ed25519PrivateKey, ns = BUNDLE_NAMESPACE): Member[] {
  const sums = sumsOf(files);
  return [['SHA256SUMS', sums], ['SHA256SUMS.sig', Buffer.from(signSshSig(key, ns, sums))], ...files];
}

async function tgz(members: Member[]): Promise<Buffer> {
  const p = pack();
  for (const [name, data] of members) p.entry({ name, mode: 0o644, mtime: new Date(1_700_000_000_000) }, data);
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  return gzipSync(Buffer.concat(parts));
}

const parsePublicKeyLineOf = (line: string) => parsePublicKeyLine(line).key;
const alice = generateEd25519('alice@site');
const mallory = generateEd25519('mallory@elsewhere');

describe('signed bundle attacks and the trust policy', () => {
  let s: Site;
  let allowed: string;
  let revoked: string;
  beforeEach(async () => {
    s = await site();
    allowed = join(s.dir, 'allowed_signers');
    revoked = join(s.dir, 'revoked_signers');
    writeFileSync(allowed, `alice@site namespaces="${BUNDLE_NAMESPACE}" ${alice.publicLine}`);
  });
  afterEach(async () => {
    await s.close();
  });

  const importAs = async (members: Member[], policy: SignaturePolicy = 'warn', profile?: string) =>
    s.service({ trust: { policy, allowedSigners: allowed, revokedSigners: revoked } }).run(Readable.from(await tgz(members)), profile ? { profile } : {});

  /** Refused with `code` in each of `policies`, and nothing was written to the install root or the tables. */
  async function refusedIn(members: Member[], code: ErrorCode, pattern: RegExp, policies: SignaturePolicy[] = ['require', 'warn', 'off']): Promise<void> {
    for (const policy of policies) {
      await refused(importAs(members, policy), code, pattern);
      assert.deepEqual(readdirSync(s.root).filter((n) => n !== '.imgport'), [], `${policy}: nothing placed`);
      assert.deepEqual(await s.tables.listImages(), [], `${policy}: no rows`);
    }
  }

  test('require: a bundle signed by a trusted key imports, and the signer is in the result', async () => {
    const r = await importAs(signed(payload(), alice.key), 'require');
    assert.deepEqual(r.signature, {
      status: 'signed',
      policy: 'require',
      signer: { principal: 'alice@site', fingerprint: fingerprint(alice.key.publicKey), keyType: 'ssh-ed25519', trusted: true },
      warnings: [],
    });
    assert.deepEqual(r.warnings, []);
  });

  test('require: an unsigned bundle is refused (SIGNATURE_MISSING); warn imports it with a warning; off says nothing', async () => {
    const files = payload();
    const unsigned: Member[] = [...files, ['SHA256SUMS', sumsOf(files)]];
    await refusedIn(unsigned, 'SIGNATURE_MISSING', /not signed .*IMGPORT_SIGNATURES=require/, ['require']);
    const warned = await importAs(unsigned, 'warn');
    assert.deepEqual([warned.signature?.status, warned.warnings.filter((w) => /not signed/.test(w)).length], ['unsigned', 1]);
    const off = await importAs(unsigned, 'off', 'other');
    assert.deepEqual([off.signature?.status, off.warnings.filter((w) => /sign/.test(w))], ['unsigned', []]);
  });

  test('an unknown signer is refused under require (SIGNER_UNTRUSTED) and imported with a warning under warn', async () => {
    const bundle = signed(payload(), mallory.key);
    await refusedIn(bundle, 'SIGNER_UNTRUSTED', /who is not trusted: the signing key is not in/, ['require']);
    const r = await importAs(bundle, 'warn');
    assert.deepEqual(r.signature?.signer, { principal: null, fingerprint: fingerprint(mallory.key.publicKey), keyType: 'ssh-ed25519', trusted: false });
    assert.match(r.warnings.join('\n'), /signed by SHA256:\S+, who is not trusted/);
  });

  test('a flipped byte in any member is refused in every mode', async () => {
    const good = signed(payload(), alice.key);
    for (let i = 0; i < good.length; i++) {
      const bad = good.map(([n, d]): Member => [n, Buffer.from(d)]);
      const [name, data] = bad[i]!;
      // In the signature, a byte of the signature bytes themselves (the armor's last base64 line).
      const at = name === 'SHA256SUMS.sig' ? data.lastIndexOf('\n-----END') - 5 : Math.floor(data.length / 2);
      data[at] = data[at]! ^ (name === 'SHA256SUMS.sig' ? 0x01 : 0x20);
      const expected: Record<string, [ErrorCode, RegExp]> = {
        SHA256SUMS: ['SIGNATURE_INVALID', /does not match the signed data/],
        'SHA256SUMS.sig': ['SIGNATURE_INVALID', /does not match|not base64|truncated/],
      };
      const [code, pattern] = expected[name] ?? ['CHECKSUM_MISMATCH', new RegExp(`${name.replace('.', '\\.')}: sha256 mismatch`)];
      if (name === 'rootimg.cpio.gz') {
        // The root image expands while it streams: gzip's own CRC may speak before our hash.
        for (const policy of ['require', 'warn', 'off'] as const) {
          await assert.rejects(importAs(bad, policy), (e: Error & { code?: string }) => ['CHECKSUM_MISMATCH', 'BUNDLE_INVALID'].includes(e.code ?? ''));
          assert.deepEqual(await s.tables.listImages(), []);
        }
        continue;
      }
      await refusedIn(bad, code, pattern);
    }
  });

  test('a signature from another bundle is refused in every mode', async () => {
    const other = signed(payload('other-img'), alice.key);
    const mine = signed(payload(), alice.key);
    mine[1] = other[1]!;
    await refusedIn(mine, 'SIGNATURE_INVALID', /does not match the signed data/);
  });

  test('a signature made for another namespace is refused in every mode', async () => {
    await refusedIn(signed(payload(), alice.key, 'git'), 'SIGNATURE_INVALID', /namespace "git", not "imgport-bundle"/);
  });

  test('an expired signer is refused in every mode where trust is consulted (SIGNER_EXPIRED)', async () => {
    writeFileSync(allowed, `alice@site valid-before="20200101Z" ${alice.publicLine}`);
    await refusedIn(signed(payload(), alice.key), 'SIGNER_EXPIRED', /alice@site expired at 2020-01-01T00:00:00.000Z/, ['require', 'warn']);
  });

  test('a revoked signer is refused in every mode (SIGNER_REVOKED)', async () => {
    writeFileSync(revoked, `# compromised 2026-11-30\n${alice.publicLine}`);
    await refusedIn(signed(payload(), alice.key), 'SIGNER_REVOKED', /a key revoked in/);
  });

  test('a signature after the root image is refused in every mode', async () => {
    const [sums, sig, ...files] = signed(payload(), alice.key);
    const late: Member[] = [sums!, ...files, sig!];
    // require refuses at the first payload member already: the head held no signature.
    await refusedIn(late, 'SIGNATURE_MISSING', /not signed/, ['require']);
    await refusedIn(late, 'SIGNATURE_INVALID', /comes after the payload; a signature must follow SHA256SUMS/, ['warn', 'off']);
  });

  test('two signatures are refused in every mode (two members, or two blocks in one member)', async () => {
    const good = signed(payload(), alice.key);
    const again = signSshSig(mallory.key, BUNDLE_NAMESPACE, good[0]![1]);
    await refusedIn([good[0]!, good[1]!, ['SHA256SUMS.sig', Buffer.from(again)], ...good.slice(2)], 'SIGNATURE_INVALID', /two signatures/);
    await refusedIn([good[0]!, ['SHA256SUMS.sig', Buffer.concat([good[1]![1], Buffer.from(again)])], ...good.slice(2)], 'SIGNATURE_INVALID', /holds 2 signatures/);
  });

  test('an oversized signature is refused in every mode, before it is read whole', async () => {
    const good = signed(payload(), alice.key);
    good[1] = ['SHA256SUMS.sig', Buffer.alloc(1024 * 1024, 'A')];
    await refusedIn(good, 'SIGNATURE_INVALID', /larger than 16384 bytes: that is no SSH signature/);
  });

  test('an RSA signature with SHA-1 (ssh-rsa) is refused in every mode', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = publicKey.export({ format: 'jwk' });
    const pk = parsePublicKeyBlob(Buffer.concat([sshString('ssh-rsa'), sshMpint(Buffer.from(jwk.e!, 'base64url')), sshMpint(Buffer.from(jwk.n!, 'base64url'))]));
    const files = payload();
    const sums = sumsOf(files);
    const raw = cryptoSign('sha1', signedData(BUNDLE_NAMESPACE, 'sha512', sums), privateKey);
    const sig = encodeSshSig({ publicKey: pk, namespace: BUNDLE_NAMESPACE, hashAlgorithm: 'sha512', signature: Buffer.concat([sshString('ssh-rsa'), sshString(raw)]) });
    writeFileSync(allowed, `rsa@site ssh-rsa ${pk.blob.toString('base64')}\n`);
    await refusedIn([['SHA256SUMS', sums], ['SHA256SUMS.sig', Buffer.from(sig)], ...files], 'SIGNATURE_INVALID', /RSA with SHA-1 \(ssh-rsa\) is refused/);
  });

  test('a trusted key without the imgport-bundle namespace is refused in every mode where trust is consulted', async () => {
    writeFileSync(allowed, `alice@site namespaces="git,file" ${alice.publicLine}`);
    await refusedIn(signed(payload(), alice.key), 'SIGNER_UNTRUSTED', /alice@site is trusted only for namespaces "git,file", not "imgport-bundle"/, ['require', 'warn']);
  });

  test('the signature is judged before any payload member is written, and a bad one stops the read there', async () => {
    const good = signed(payload(), alice.key);
    const staging = join(s.dir, 'stage');
    let seenAtGate: string[] | undefined;
    await stageBundle(Readable.from(await tgz(good)), staging, {
      headGate: () => {
        seenAtGate = readdirSync(join(staging, 'files'));
      },
    });
    assert.deepEqual(seenAtGate, []);
    // A bad signature followed by a 1 GiB member that never ends: refused at the member's header.
    const tar = await tgz([good[0]!, ['SHA256SUMS.sig', Buffer.from(signSshSig(mallory.key, 'git', good[0]![1]))]]);
    let served = 0;
    const endless = Readable.from(
      (async function* () {
        const { gunzipSync } = await import('node:zlib');
        const head = gunzipSync(tar).subarray(0, -1024); // without the end-of-archive blocks
        const h = Buffer.alloc(512);
        h.write('rootimg.cpio.gz', 0);
        h.write('0000644\0', 100);
        h.write('0000000\0', 108);
        h.write('0000000\0', 116);
        h.write('10000000000\0', 124); // 1 GiB
        h.write('00000000000\0', 136);
        h.write('0', 156);
        h.write('ustar\u000000', 257);
        h.fill(' ', 148, 156);
        let sum = 0;
        for (const b of h) sum += b;
        h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
        yield Buffer.concat([head, h]);
        served = head.length + 512;
        for (;;) {
          served += 65536;
          yield Buffer.alloc(65536);
        }
      })(),
    );
    mkdirSync(join(s.dir, 'x'));
    await refused(s.service({ trust: { policy: 'warn', allowedSigners: allowed } }).run(endless), 'SIGNATURE_INVALID', /namespace "git"/);
    assert.ok(served < 4 * 1024 * 1024, `read ${served} bytes past a bad signature`);
    assert.equal(existsSync(join(s.root, 'netboot')), false);
  });

  test('a bundle signed with an ed25519 certificate (through ssh-keygen) is trusted by its cert-authority line, and revoked with its CA', async () => {
    const ca = join(s.dir, 'ca');
    const user = join(s.dir, 'user');
    for (const k of [ca, user]) assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', k]).status, 0);
    assert.equal(spawnSync('ssh-keygen', ['-q', '-s', ca, '-I', 'build-host-7', '-n', 'builder@site', '-V', '-1d:+1d', `${user}.pub`]).status, 0);
    const key = loadSigningKey(`${user}-cert.pub`);
    assert.equal(key.via, 'ssh-keygen');
    const files = payload();
    const sums = sumsOf(files);
    const bundle: Member[] = [['SHA256SUMS', sums], ['SHA256SUMS.sig', await key.sign(sums)], ...files];
    const caLine = spawnSync('cat', [`${ca}.pub`], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(allowed, `*@site cert-authority,namespaces="${BUNDLE_NAMESPACE}" ${caLine}\n`);
    const r = await importAs(bundle, 'require');
    assert.deepEqual(
      { ...r.signature?.signer, fingerprint: undefined },
      { principal: 'builder@site', fingerprint: undefined, keyType: 'ssh-ed25519-cert-v01@openssh.com', trusted: true, certificate: { keyId: 'build-host-7', ca: fingerprint(parsePublicKeyLineOf(caLine)) } },
    );
    writeFileSync(revoked, `${caLine}\n`);
    await refused(importAs(bundle, 'warn', 'other'), 'SIGNER_REVOKED', /a key revoked in/);
  });
});
