/**
 * Signed bundles through the built commands: imgport key generate, xcatexport --sign (native and
 * xCAT formats), the signature checked by the real ssh-keygen, imgport verify, xcatimport under
 * IMGPORT_SIGNATURES=require, the signer in imgport images, and signed snapshots for revert.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildBundle, json, run, world, type BuiltBundle } from './helpers.js';

const NAME = 'e2e-signed';
let scratch: string;
let v1: BuiltBundle;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'imgport-signed-'));
  v1 = await buildBundle(scratch, { name: NAME, version: 'v1' });
});
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The members of a gzip tar, in order, and one member's bytes. */
function tarList(path: string): string[] {
  return spawnSync('tar', ['-tzf', path], { encoding: 'utf8' }).stdout.trim().split('\n');
}
function tarCat(path: string, member: string): Buffer {
  return spawnSync('tar', ['-xzOf', path, member]).stdout;
}

test('key generate → export --sign → ssh-keygen and imgport verify agree → import under require records the signer → signed snapshots revert', async (t) => {
  const maker = world('imgport-e2e-maker-');
  const site = world('imgport-e2e-site-');
  t.after(maker.cleanup);
  t.after(site.cleanup);
  assert.equal((await run('xcatimport', [v1.path], maker.env)).code, 0);

  const key = join(maker.dir, 'imgport_ed25519');
  const gen = await run('imgport', ['key', 'generate', key, '-C', 'alice@site', '--json'], maker.env);
  assert.equal(gen.code, 0, gen.stderr);
  const k = json(gen);
  assert.equal((await run('imgport', ['key', 'generate', key], maker.env)).code, 1, 'an existing key is never overwritten');

  const native = join(maker.dir, 'signed.tgz');
  const ex = await run('xcatexport', [NAME, native, '--sign', key, '--detached-sig', '--json'], maker.env);
  assert.equal(ex.code, 0, ex.stderr);
  assert.deepEqual(json(ex).signer, { fingerprint: k.fingerprint, key, detached: `${native}.sig` });
  assert.deepEqual(tarList(native).slice(0, 3), ['SHA256SUMS', 'SHA256SUMS.sig', 'manifest.cfg']);
  const xcat = join(maker.dir, 'signed-xcat.tgz');
  assert.equal((await run('xcatexport', [NAME, xcat, '--sign', key, '--format', 'xcat'], maker.env)).code, 0);
  assert.deepEqual(tarList(xcat).slice(0, 3), [`${NAME}/`, `${NAME}/SHA256SUMS`, `${NAME}/SHA256SUMS.sig`]);

  // The importing site's trust store holds the line key generate printed.
  const allowed = join(site.dir, 'allowed_signers');
  writeFileSync(allowed, `${k.allowedSignersLine}\n`);
  writeFileSync(join(site.dir, 'sig'), tarCat(native, 'SHA256SUMS.sig'));
  const ssh = spawnSync('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'alice@site', '-n', 'imgport-bundle', '-s', join(site.dir, 'sig')], {
    input: tarCat(native, 'SHA256SUMS'),
    encoding: 'utf8',
  });
  assert.equal(ssh.status, 0, ssh.stderr);
  // The detached signature covers the whole bundle file, for a catalog's downloads.
  const whole = spawnSync('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'alice@site', '-n', 'imgport-bundle', '-s', `${native}.sig`], {
    input: readFileSync(native),
    encoding: 'utf8',
  });
  assert.equal(whole.status, 0, whole.stderr);

  const env = { ...site.env, IMGPORT_SIGNATURES: 'require', IMGPORT_ALLOWED_SIGNERS: allowed, IMGPORT_REVOKED_SIGNERS: join(site.dir, 'revoked') };
  const ver = await run('imgport', ['verify', native, '--json'], env);
  assert.equal(ver.code, 0, ver.stderr);
  assert.deepEqual(json(ver).signature.signer, { principal: 'alice@site', fingerprint: k.fingerprint, keyType: 'ssh-ed25519', trusted: true });
  const unsignedVerify = await run('imgport', ['verify', v1.path], env);
  assert.deepEqual([unsignedVerify.code, /\[SIGNATURE_MISSING\]/.test(unsignedVerify.stderr)], [1, true], unsignedVerify.stderr);

  const refused = await run('xcatimport', [v1.path], env);
  assert.deepEqual([refused.code, /\[SIGNATURE_MISSING\]/.test(refused.stderr)], [1, true], refused.stderr);
  const imp = await run('xcatimport', [native, '--json'], env);
  assert.equal(imp.code, 0, imp.stderr);
  assert.equal(json(imp).signature.signer.principal, 'alice@site');
  const impX = await run('xcatimport', [xcat, '-f', 'gpu', '--json'], env);
  assert.equal(impX.code, 0, impX.stderr);
  assert.equal(json(impX).signature.signer.fingerprint, k.fingerprint);

  const images = await run('imgport', ['images', '--json'], env);
  const mine = json(images).images.find((i: { osimage: { imagename: string } }) => i.osimage.imagename === NAME);
  assert.equal(mine.signature.signer.principal, 'alice@site');
  assert.match((await run('imgport', ['images'], env)).stdout, new RegExp(`${NAME} .* alice@site`));

  // Bundle (.tgz) snapshots are signed with IMGPORT_SIGNING_KEY, so a revert passes the require policy; unsigned ones do not.
  const unsignedSnap = json(await run('imgport', ['snapshot', NAME, '--tgz', '--json'], env));
  assert.equal(unsignedSnap.signer, undefined);
  const r1 = await run('imgport', ['revert', unsignedSnap.id], env);
  assert.deepEqual([r1.code, /\[SIGNATURE_MISSING\]/.test(r1.stderr)], [1, true], r1.stderr);
  const signedSnap = json(await run('imgport', ['snapshot', NAME, '--tgz', '--json'], { ...env, IMGPORT_SIGNING_KEY: key }));
  assert.equal(signedSnap.signer.fingerprint, k.fingerprint);
  const r2 = await run('imgport', ['revert', signedSnap.id], env);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(readFileSync(allowed, 'utf8'), `${k.allowedSignersLine}\n`);
});
