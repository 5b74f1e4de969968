/**
 * Publishing and pulling through the built commands, against a real registry (Debian's
 * docker-registry) and skopeo as a second reader: imgport publish to oci:// (signed, the
 * signature as a referrer through the tag-schema fallback this registry needs), a re-publish
 * that uploads nothing, pull --import under IMGPORT_SIGNATURES=require, pull to a file that
 * imgport verify accepts, xcatimport of oci:// and of a file:// catalog entry, catalog build /
 * list / mirror, and a rolled-back index refused.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { buildBundle, json, run, world, type BuiltBundle, type World } from './helpers.js';

const NAME = 'e2e-publish';
let scratch: string;
let v1: BuiltBundle;
let registry: TestRegistry;
let maker: World;
let key: string;
let allowedLine: string;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'imgport-publish-'));
  v1 = await buildBundle(scratch, { name: NAME, version: 'v1' });
  registry = await startRegistry();
  maker = world('imgport-e2e-maker-');
  assert.equal((await run('xcatimport', [v1.path], maker.env)).code, 0);
  key = join(maker.dir, 'imgport_ed25519');
  const gen = await run('imgport', ['key', 'generate', key, '-C', 'alice@site', '--json'], maker.env);
  assert.equal(gen.code, 0, gen.stderr);
  allowedLine = (json(gen).allowedSignersLine as string).replace('namespaces="imgport-bundle"', 'namespaces="imgport-bundle,imgport-catalog"');
});
after(async () => {
  await registry?.stop();
  maker?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

/** An importing site that trusts alice and refuses anything unsigned. */
function site(t: { after(fn: () => void): void }): World {
  const w = world('imgport-e2e-site-');
  t.after(w.cleanup);
  const allowed = join(w.dir, 'allowed_signers');
  writeFileSync(allowed, `${allowedLine}\n`);
  w.env = { ...w.env, IMGPORT_SIGNATURES: 'require', IMGPORT_ALLOWED_SIGNERS: allowed };
  return w;
}

test('publish to a registry, skopeo reads the artifact, re-publish uploads nothing, pull --import and pull to a file under require', async (t) => {
  const ref = `oci://${registry.host}/images/${NAME}:v1`;
  const pub = await run('imgport', ['publish', NAME, ref, '--plain-http', '--sign', key, '--json'], maker.env);
  assert.equal(pub.code, 0, pub.stderr);
  const p = json(pub);
  assert.deepEqual(p.oci.layers.map((l: { name: string }) => l.name), ['SHA256SUMS', 'SHA256SUMS.sig', 'manifest.cfg', 'kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz']);
  assert.ok(p.oci.layers.every((l: { how: string }) => l.how === 'uploaded'));
  assert.equal(p.oci.signature.via, 'tag', 'distribution 2.8 has no referrers API: the tag-schema fallback is used');

  const raw = spawnSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/images/${NAME}:v1`], { encoding: 'utf8' });
  assert.equal(raw.status, 0, raw.stderr);
  const manifest = JSON.parse(raw.stdout);
  assert.equal(manifest.artifactType, 'application/vnd.imgport.bundle.v1');
  assert.deepEqual(manifest.config, { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 });
  assert.deepEqual(manifest.layers.map((l: { annotations: Record<string, string> }) => l.annotations['org.opencontainers.image.title']), p.oci.layers.map((l: { name: string }) => l.name));
  assert.equal(manifest.annotations['io.imgport.osimage.name'], NAME);
  const fallback = spawnSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/images/${NAME}:${p.oci.digest.replace(':', '-')}`], { encoding: 'utf8' });
  assert.equal(fallback.status, 0, fallback.stderr);
  assert.equal(JSON.parse(fallback.stdout).manifests[0].artifactType, 'application/vnd.imgport.signature.v1');

  const again = json(await run('imgport', ['publish', NAME, ref, '--plain-http', '--sign', key, '--json'], maker.env));
  assert.ok(again.oci.layers.every((l: { how: string }) => l.how === 'present'), 'every member is already there');
  assert.ok(again.oci.bytesUploaded < 16 * 1024, `a re-publish sends manifests only, not ${again.oci.bytesUploaded} bytes`);

  const s = site(t);
  const pulled = await run('imgport', ['pull', ref, 'pulled-one', '--import', '--plain-http', '--json'], s.env);
  assert.equal(pulled.code, 0, pulled.stderr);
  const r = json(pulled);
  assert.equal(r.name, 'pulled-one');
  assert.equal(r.signature.signer.principal, 'alice@site');

  const toFile = await run('imgport', ['pull', ref, '-o', s.dir, '--plain-http', '--json'], s.env);
  assert.equal(toFile.code, 0, toFile.stderr);
  assert.equal(json(toFile).file, join(s.dir, `${NAME}.tar`));
  assert.equal(existsSync(`${join(s.dir, `${NAME}.tar`)}.part`), false);
  assert.equal((await run('imgport', ['verify', join(s.dir, `${NAME}.tar`)], s.env)).code, 0);

  const xi = await run('xcatimport', [ref, '-f', 'gpu', '--plain-http', '--json'], s.env);
  assert.equal(xi.code, 0, xi.stderr);
  assert.equal(json(xi).name, 'rhels8.5.0-x86_64-netboot-gpu');

  const listed = json(await run('imgport', ['catalog', 'list', `oci://${registry.host}/images/${NAME}`, '--plain-http', '--json'], s.env));
  assert.deepEqual(listed.artifacts.map((a: { tag: string }) => a.tag), ['v1']);
});

test('an unsigned artifact is refused under require before anything is imported', async (t) => {
  const ref = `oci://${registry.host}/images/unsigned:v1`;
  assert.equal((await run('imgport', ['publish', NAME, ref, '--plain-http', '--unsigned'], maker.env)).code, 0);
  const s = site(t);
  const r = await run('imgport', ['pull', ref, '--import', '--plain-http', '--json'], s.env);
  assert.equal(r.code, 1);
  assert.equal(json(r).error.code, 'SIGNATURE_MISSING');
  assert.equal((await run('imgport', ['images', '--json'], s.env)).stdout.includes(NAME), false);
});

test('a file:// catalog: publish builds a signed index, list and xcatimport read it, mirror copies it, a rolled-back index is refused', async (t) => {
  const dir = join(scratch, 'catalog');
  const pub = await run('imgport', ['publish', NAME, `file://${dir}`, '--sign', key, '--json'], maker.env);
  assert.equal(pub.code, 0, pub.stderr);
  assert.equal(json(pub).catalog.version, 1);
  const s = site(t);
  const list = await run('imgport', ['catalog', 'list', `file://${dir}`, '--json'], s.env);
  assert.equal(list.code, 0, list.stderr);
  const l = json(list);
  assert.equal(l.version, 1);
  assert.equal(l.signature.signer.principal, 'alice@site');
  assert.deepEqual(l.entries.map((e: { name: string }) => e.name), [NAME]);
  assert.equal(l.entries[0].signer.fingerprint, l.signature.signer.fingerprint);

  const xi = await run('xcatimport', [`file://${dir}#${NAME}`, '--name', 'from-catalog', '--json'], s.env);
  assert.equal(xi.code, 0, xi.stderr);

  const mirror = join(scratch, 'mirror');
  const m = await run('imgport', ['catalog', 'mirror', dir, mirror, '--json'], s.env);
  assert.equal(m.code, 0, m.stderr);
  assert.deepEqual(readFileSync(join(mirror, 'index.json')), readFileSync(join(dir, 'index.json')), "upstream's signed index is kept byte for byte");
  assert.equal((await run('imgport', ['catalog', 'list', mirror], s.env)).code, 0);

  // Version 1 seen; the publisher moves on to 2; an attacker replays version 1.
  const old = readFileSync(join(dir, 'index.json'));
  const oldSig = readFileSync(join(dir, 'index.json.sig'));
  assert.equal((await run('imgport', ['catalog', 'build', dir, '--sign', key], maker.env)).code, 0);
  assert.equal((await run('imgport', ['catalog', 'list', dir], s.env)).code, 0);
  writeFileSync(join(dir, 'index.json'), old);
  writeFileSync(join(dir, 'index.json.sig'), oldSig);
  const replay = await run('imgport', ['catalog', 'list', dir, '--json'], s.env);
  assert.equal(replay.code, 1);
  assert.equal(json(replay).error.code, 'CATALOG_STALE');
});
