/**
 * imgport's sshsig against the real OpenSSH: our signatures verified by `ssh-keygen -Y verify`,
 * ssh-keygen's verified by us, and the same verdict from both on the same allowed_signers and
 * revocation files (principal patterns, namespaces=, valid-after/valid-before, cert-authority).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BUNDLE_NAMESPACE,
  checkSshSig,
  checkTrust,
  decodeSshSig,
  generateEd25519,
  parseAllowedSigners,
  parsePrivateKey,
  parseRevokedKeys,
  signSshSig,
} from '@imgport/trust';
import { loadSigningKey } from '@imgport/engine';

const message = Buffer.from('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  kernel\n');

function sshKeygen(args: string[], input?: Buffer): { code: number; out: string } {
  const r = spawnSync('ssh-keygen', args, { input, encoding: 'buffer' });
  return { code: r.status ?? -1, out: `${r.stdout?.toString() ?? ''}${r.stderr?.toString() ?? ''}` };
}

describe('sshsig interoperability with ssh-keygen', () => {
  let dir: string;
  const keys: Record<string, string> = {};
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'imgport-sshsig-'));
    for (const [name, args] of [
      ['ed', ['-t', 'ed25519']],
      ['rsa', ['-t', 'rsa', '-b', '2048']],
      ['p256', ['-t', 'ecdsa', '-b', '256']],
      ['p384', ['-t', 'ecdsa', '-b', '384']],
      ['p521', ['-t', 'ecdsa', '-b', '521']],
    ] as const) {
      keys[name] = join(dir, name);
      assert.equal(sshKeygen(['-q', ...args, '-N', '', '-C', `${name}@site`, '-f', keys[name]!]).code, 0);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const sshSign = (key: string, ns = BUNDLE_NAMESPACE) => {
    const r = spawnSync('ssh-keygen', ['-Y', 'sign', '-f', key, '-n', ns], { input: message });
    assert.equal(r.status, 0, r.stderr.toString());
    return r.stdout.toString();
  };
  const pubOf = (key: string) => readFileSync(`${key}.pub`, 'utf8').trim();

  test('our ed25519 signature (and our key file) are accepted by ssh-keygen', () => {
    const g = generateEd25519('alice@site');
    writeFileSync(join(dir, 'ours'), g.privateText, { mode: 0o600 });
    writeFileSync(join(dir, 'ours.sig'), signSshSig(g.key, BUNDLE_NAMESPACE, message));
    writeFileSync(join(dir, 'ours.allowed'), `alice@site ${g.publicLine}`);
    const v = sshKeygen(['-Y', 'verify', '-f', join(dir, 'ours.allowed'), '-I', 'alice@site', '-n', BUNDLE_NAMESPACE, '-s', join(dir, 'ours.sig')], message);
    assert.equal(v.code, 0, v.out);
    assert.match(v.out, /Good "imgport-bundle" signature for alice@site/);
    // ssh-keygen reads our private key file: the public half it derives is ours.
    assert.equal(sshKeygen(['-y', '-f', join(dir, 'ours')]).out.trim(), g.publicLine.trim());
  });

  test("ssh-keygen's signatures with ed25519, RSA and ECDSA P-256/384/521 keys verify here; a changed message does not", () => {
    for (const name of ['ed', 'rsa', 'p256', 'p384', 'p521']) {
      const sig = decodeSshSig(sshSign(keys[name]!));
      assert.deepEqual(checkSshSig(sig, BUNDLE_NAMESPACE, message).ok, true, name);
      assert.deepEqual(checkSshSig(sig, BUNDLE_NAMESPACE, Buffer.concat([message, Buffer.from('x')])).ok, false, name);
    }
  });

  test('an ssh-keygen ed25519 key file (unencrypted) signs in-process; an RSA one is left to ssh-keygen; both sign files ssh-keygen verifies', async () => {
    const ed = parsePrivateKey(readFileSync(keys.ed!, 'utf8'));
    assert.equal(ed.kind, 'ed25519');
    assert.equal(parsePrivateKey(readFileSync(keys.rsa!, 'utf8')).kind, 'external');
    const file = join(dir, 'big');
    writeFileSync(file, Buffer.alloc(3 * 1024 * 1024 + 7, 'x'));
    writeFileSync(join(dir, 'both.allowed'), `ed@site ${pubOf(keys.ed!)}\nrsa@site ${pubOf(keys.rsa!)}\n`);
    for (const [name, via] of [['ed', 'in-process'], ['rsa', 'ssh-keygen']] as const) {
      const key = loadSigningKey(keys[name]!);
      assert.equal(key.via, via);
      writeFileSync(join(dir, 'big.sig'), await key.signFile(file));
      const v = sshKeygen(['-Y', 'verify', '-f', join(dir, 'both.allowed'), '-I', `${name}@site`, '-n', BUNDLE_NAMESPACE, '-s', join(dir, 'big.sig')], readFileSync(file));
      assert.equal(v.code, 0, `${name}: ${v.out}`);
    }
  });

  test('the same verdict as ssh-keygen -Y verify on the same allowed_signers files', () => {
    const sig = sshSign(keys.ed!);
    const wrongNs = sshSign(keys.ed!, 'git');
    writeFileSync(join(dir, 'sig'), sig);
    writeFileSync(join(dir, 'wrong-ns.sig'), wrongNs);
    const ed = pubOf(keys.ed!);
    const rsa = pubOf(keys.rsa!);
    const cases: Array<{ name: string; file: string; principal: string; sig?: string }> = [
      { name: 'exact principal', file: `alice@site ${ed}`, principal: 'alice@site' },
      { name: 'other principal', file: `alice@site ${ed}`, principal: 'bob@site' },
      { name: 'wildcard principal', file: `*@site ${ed}`, principal: 'alice@site' },
      { name: 'wildcard, other domain', file: `*@site ${ed}`, principal: 'alice@elsewhere' },
      { name: 'principal list with negation', file: `*@site,!eve@site ${ed}`, principal: 'eve@site' },
      { name: 'quoted principals', file: `"alice@site,bob@site" ${ed}`, principal: 'bob@site' },
      { name: 'namespaces allow', file: `alice@site namespaces="git,imgport-*" ${ed}`, principal: 'alice@site' },
      { name: 'namespaces deny', file: `alice@site namespaces="git" ${ed}`, principal: 'alice@site' },
      { name: 'expired', file: `alice@site valid-before="20200101Z" ${ed}`, principal: 'alice@site' },
      { name: 'not yet valid', file: `alice@site valid-after="20990101Z" ${ed}`, principal: 'alice@site' },
      { name: 'valid window', file: `alice@site valid-after="20200101",valid-before="20990101120000Z" ${ed}`, principal: 'alice@site' },
      { name: 'cert-authority does not trust a plain key', file: `*@site cert-authority ${ed}`, principal: 'alice@site' },
      { name: 'another key', file: `alice@site ${rsa}`, principal: 'alice@site' },
      { name: 'expired line, then a good one', file: `alice@site valid-before="20200101Z" ${ed}\nalice@site ${ed}`, principal: 'alice@site' },
      { name: 'signature for another namespace', file: `alice@site ${ed}`, principal: 'alice@site', sig: 'wrong-ns.sig' },
    ];
    const now = Math.floor(Date.now() / 1000);
    for (const c of cases) {
      const file = join(dir, 'allowed');
      writeFileSync(file, `${c.file}\n`);
      const theirs = sshKeygen(['-Y', 'verify', '-f', file, '-I', c.principal, '-n', BUNDLE_NAMESPACE, '-s', join(dir, c.sig ?? 'sig')], message).code === 0;
      const s = decodeSshSig(c.sig ? wrongNs : sig);
      const ours =
        checkSshSig(s, BUNDLE_NAMESPACE, message).ok &&
        checkTrust(parseAllowedSigners(readFileSync(file, 'utf8')), s.publicKey, { namespace: BUNDLE_NAMESPACE, now, principal: c.principal }).trusted;
      assert.equal(ours, theirs, `${c.name}: imgport says ${ours}, ssh-keygen says ${theirs}`);
    }
  });

  test('a key in the revocation list (-r) is refused by both; another key in it is not', () => {
    const sig = sshSign(keys.ed!);
    writeFileSync(join(dir, 'sig'), sig);
    writeFileSync(join(dir, 'allowed'), `alice@site ${pubOf(keys.ed!)}\n`);
    for (const [name, revoked, expected] of [
      ['revoked', `# gone\n${pubOf(keys.ed!)}\n`, true],
      ['not revoked', `${pubOf(keys.rsa!)}\n`, false],
    ] as const) {
      const rl = join(dir, 'revoked');
      writeFileSync(rl, revoked);
      const theirs = sshKeygen(['-Y', 'verify', '-f', join(dir, 'allowed'), '-I', 'alice@site', '-n', BUNDLE_NAMESPACE, '-s', join(dir, 'sig'), '-r', rl], message).code !== 0;
      const ours = parseRevokedKeys(readFileSync(rl)).some((b) => b.equals(decodeSshSig(sig).publicKey.blob));
      assert.deepEqual([ours, theirs], [expected, expected], name);
    }
  });

  test('ed25519 certificates: the same verdict as ssh-keygen for cert-authority lines, principals, validity, namespaces and revocation', () => {
    const ca = join(dir, 'ca');
    const user = join(dir, 'user');
    assert.equal(sshKeygen(['-q', '-t', 'ed25519', '-N', '', '-C', 'ca', '-f', ca]).code, 0);
    assert.equal(sshKeygen(['-q', '-t', 'ed25519', '-N', '', '-C', 'user', '-f', user]).code, 0);
    const certSig = (validity: string) => {
      const c = sshKeygen(['-q', '-s', ca, '-I', 'alice-key', '-n', 'alice@site,ops@site', '-V', validity, `${user}.pub`]);
      assert.equal(c.code, 0, c.out);
      return sshSign(`${user}-cert.pub`);
    };
    const sigs = { now: certSig('-1d:+1d'), expired: certSig('-3d:-1d'), future: certSig('+1d:+2d') };
    const caPub = pubOf(ca);
    const cases: Array<{ name: string; file: string; principal: string; sig?: keyof typeof sigs; revoked?: string }> = [
      { name: 'CA trusted for the principal', file: `*@site cert-authority ${caPub}`, principal: 'alice@site' },
      { name: 'second principal of the cert', file: `ops@site cert-authority ${caPub}`, principal: 'ops@site' },
      { name: 'principal not in the cert', file: `*@site cert-authority ${caPub}`, principal: 'bob@site' },
      { name: 'line pattern not matching', file: `*@other cert-authority ${caPub}`, principal: 'alice@site' },
      { name: 'CA key without cert-authority', file: `*@site ${caPub}`, principal: 'alice@site' },
      { name: "the cert's own key on a plain line", file: `alice@site ${pubOf(user)}`, principal: 'alice@site' },
      { name: 'CA line for other namespaces', file: `*@site cert-authority,namespaces="git" ${caPub}`, principal: 'alice@site' },
      { name: 'expired certificate', file: `*@site cert-authority ${caPub}`, principal: 'alice@site', sig: 'expired' },
      { name: 'certificate not yet valid', file: `*@site cert-authority ${caPub}`, principal: 'alice@site', sig: 'future' },
      { name: 'revoked CA', file: `*@site cert-authority ${caPub}`, principal: 'alice@site', revoked: caPub },
      { name: 'revoked user key', file: `*@site cert-authority ${caPub}`, principal: 'alice@site', revoked: pubOf(user) },
      { name: 'another key revoked', file: `*@site cert-authority ${caPub}`, principal: 'alice@site', revoked: pubOf(keys.rsa!) },
    ];
    const now = Math.floor(Date.now() / 1000);
    const verdicts: boolean[] = [];
    for (const c of cases) {
      const sigText = sigs[c.sig ?? 'now'];
      writeFileSync(join(dir, 'cert.sig'), sigText);
      writeFileSync(join(dir, 'allowed'), `${c.file}\n`);
      writeFileSync(join(dir, 'revoked'), `${c.revoked ?? ''}\n`);
      const theirs = sshKeygen(['-Y', 'verify', '-f', join(dir, 'allowed'), '-I', c.principal, '-n', BUNDLE_NAMESPACE, '-s', join(dir, 'cert.sig'), '-r', join(dir, 'revoked')], message).code === 0;
      const s = decodeSshSig(sigText);
      assert.ok(s.certificate, 'signed with the certificate');
      const mine = [s.publicKey.blob, s.certificate.blob, s.certificate.ca.blob];
      const revoked = parseRevokedKeys(readFileSync(join(dir, 'revoked'))).some((b) => mine.some((m) => m.equals(b)));
      const ours =
        !revoked &&
        checkSshSig(s, BUNDLE_NAMESPACE, message).ok &&
        checkTrust(parseAllowedSigners(readFileSync(join(dir, 'allowed'), 'utf8')), s.publicKey, { namespace: BUNDLE_NAMESPACE, now, principal: c.principal, certificate: s.certificate }).trusted;
      assert.equal(ours, theirs, `${c.name}: imgport says ${ours}, ssh-keygen says ${theirs}`);
      verdicts.push(ours);
    }
    assert.deepEqual(verdicts, [true, true, false, false, false, false, false, false, false, false, false, true]);
  });
});
