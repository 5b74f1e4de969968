/**
 * The OCI client against a registry that misbehaves on purpose (test/support/fault-registry.ts):
 * a connection reset in the middle of a chunk, a 416, a bearer challenge, a registry with and
 * without the referrers API, one that refuses the empty config media type, wrong bytes served,
 * and downloads cut off (resumed inside the stream, and across runs from a .part file).
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { artifactStream, findSignature, parseOciReference, pullToFile, pushBundle, Registry, resolveArtifact, summarizeBundle, type Artifact } from '@imgport/catalog';
import { scanBundle } from '@imgport/archive';
import { makeNativeBundle, tempDir } from '../support/bundles.js';
import { startFaultRegistry, type Faults, type FaultRegistry } from '../support/fault-registry.js';

let dir: string;
let bundle: string;

before(async () => {
  dir = tempDir('imgport-oci-faults-');
  bundle = await makeNativeBundle(dir, { name: 'faulty', method: 'netboot', rootFiles: 3000 });
});

async function withRegistry(t: { after(fn: () => Promise<void>): void }, faults: Faults = {}): Promise<FaultRegistry> {
  const r = await startFaultRegistry(faults);
  t.after(() => r.close());
  return r;
}

const ref = (r: FaultRegistry, tag = 'v1') => parseOciReference(`oci://${r.host}/sites/faulty:${tag}`);
const client = (r: FaultRegistry, extra: ConstructorParameters<typeof Registry>[1] = {}) => new Registry(r.host, { plainHttp: true, chunkBytes: 4096, ...extra });

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** The members a rebuilt tar holds, by name → sha256, read by the archive layer's own scanner. */
async function members(tar: Buffer): Promise<Map<string, string>> {
  const { Readable } = await import('node:stream');
  return (await scanBundle(Readable.from([tar]))).files;
}

async function expectedMembers(): Promise<Map<string, string>> {
  const s = await summarizeBundle(bundle);
  return new Map(s.members.map((m) => [m.name, m.digest.slice('sha256:'.length)]));
}

test('a chunk upload cut off by a reset and a chunk refused with 416 resume from what the registry holds', async (t) => {
  const r = await withRegistry(t, { resetPatchAfter: 1500, refuseNextPatch: false });
  const reg = client(r);
  const first = pushBundle(bundle, reg, ref(r));
  const pushed = await first;
  assert.ok(pushed.layers.some((l) => l.size > 4096), 'a member spans several chunks');
  assert.equal(r.faults.resetPatchAfter, undefined, 'the reset happened');
  r.faults.refuseNextPatch = true;
  const again = await pushBundle(bundle, reg, parseOciReference(`oci://${r.host}/other/faulty:v1`));
  assert.equal(r.faults.refuseNextPatch, false, 'the 416 happened');
  assert.ok(again.layers.every((l) => l.how === 'uploaded'));
  const a = await resolveArtifact(reg, ref(r));
  assert.deepEqual(await members(await readAll(artifactStream(a))), await expectedMembers());
  // Resent bytes are the part of one chunk the registry lost, not the bundle again.
  assert.ok(pushed.bytesUploaded < pushed.bytesTotal + 4096 + 8192, `${pushed.bytesUploaded} bytes sent for ${pushed.bytesTotal}`);
});

test('cross-repository mount: a member present in another repository is mounted, not uploaded', async (t) => {
  const r = await withRegistry(t);
  const reg = client(r);
  await pushBundle(bundle, reg, ref(r));
  const sent = reg.stats.bytesUploaded;
  const second = await pushBundle(bundle, reg, parseOciReference(`oci://${r.host}/mirror/faulty:v1`), { mountFrom: ['sites/faulty'] });
  assert.ok(second.layers.every((l) => l.how === 'present' || l.how === 'mounted'));
  assert.ok(second.layers.some((l) => l.how === 'mounted'));
  assert.ok(reg.stats.bytesUploaded - sent < 8192, 'only manifests went up');
});

test('a bearer-token challenge is answered with the configured credentials; without them the push is UNAUTHORIZED', async (t) => {
  const r = await withRegistry(t, { bearer: { username: 'ci', password: 's3cret' } });
  const pushed = await pushBundle(bundle, client(r, { credentials: { username: 'ci', password: 's3cret' } }), ref(r));
  assert.equal(pushed.layers.length, 5);
  await assert.rejects(pushBundle(bundle, client(r), ref(r, 'v2')), (e: Error & { code?: string }) => e.code === 'UNAUTHORIZED');
});

test('the signature is a referrer: through the referrers API where there is one, else under the sha256-<hex> tag', async (t) => {
  for (const referrersApi of [true, false]) {
    const r = await withRegistry(t, { referrersApi });
    const reg = client(r);
    const pushed = await pushBundle(bundle, reg, ref(r), { sign: async () => Buffer.from('not really an sshsig') });
    assert.equal(pushed.signature?.via, referrersApi ? 'referrers' : 'tag');
    assert.equal(r.manifests.has(pushed.digest.replace(':', '-')), !referrersApi);
    const sig = await findSignature(await resolveArtifact(reg, ref(r)));
    assert.equal(sig?.toString(), 'not really an sshsig');
  }
});

test('a registry refusing the empty config media type gets the artifact type in config.mediaType, and it still pulls', async (t) => {
  const r = await withRegistry(t, { rejectEmptyConfig: true });
  const reg = client(r);
  const pushed = await pushBundle(bundle, reg, ref(r));
  assert.equal(pushed.config, 'legacy');
  const doc = JSON.parse(r.manifests.get('v1')!.bytes.toString());
  assert.equal(doc.config.mediaType, 'application/vnd.imgport.bundle.v1');
  assert.equal(doc.artifactType, undefined);
  assert.deepEqual(await members(await readAll(artifactStream(await resolveArtifact(reg, ref(r))))), await expectedMembers());
});

test('wrong bytes from the registry fail the pull with CHECKSUM_MISMATCH before the archive ends', async (t) => {
  const r = await withRegistry(t);
  const reg = client(r);
  await pushBundle(bundle, reg, ref(r));
  const a = await resolveArtifact(reg, ref(r));
  r.faults.corruptBlobs = true;
  const got: Buffer[] = [];
  await assert.rejects(
    (async () => {
      for await (const c of artifactStream(a)) got.push(c as Buffer);
    })(),
    (e: Error & { code?: string }) => e.code === 'CHECKSUM_MISMATCH' && /^layer manifest\.cfg: /.test(e.message),
  );
  assert.ok(Buffer.concat(got).length < 2048, 'nothing after the first layer was passed on');
  const part = join(dir, 'corrupt.tar.part');
  await assert.rejects(pullToFile(a, part, { resume: false }), (e: Error & { code?: string }) => e.code === 'CHECKSUM_MISMATCH');
});

test('a download cut off mid-layer resumes with a Range request inside the same stream', async (t) => {
  const r = await withRegistry(t);
  const reg = client(r);
  await pushBundle(bundle, reg, ref(r));
  const a = await resolveArtifact(reg, ref(r));
  const big = a.members.reduce((x, m) => (m.size > x.size ? m : x));
  r.faults.resetGetAfter = Math.floor(big.size / 2);
  assert.deepEqual(await members(await readAll(artifactStream(a))), await expectedMembers());
  assert.equal(r.faults.resetGetAfter, undefined, 'the reset happened');
  assert.ok(r.requests.some((q) => q.startsWith(`GET /v2/sites/faulty/blobs/${big.digest}`)));
  const total = a.members.reduce((n, m) => n + m.size, 0);
  assert.ok(reg.stats.bytesDownloaded <= total, `${reg.stats.bytesDownloaded} bytes downloaded for ${total}`);
});

test('a pull to a file stopped half-way goes on from its .part: the second run fetches only the rest', async (t) => {
  const r = await withRegistry(t);
  const reg = client(r);
  await pushBundle(bundle, reg, ref(r));
  const a: Artifact = await resolveArtifact(reg, ref(r));
  const part = join(dir, 'half.tar.part');
  const stop = new AbortController();
  await assert.rejects(
    pullToFile(a, part, { resume: false, signal: stop.signal, onProgress: (p) => p.bytesDone > a.size / 2 && stop.abort() }),
  );
  const fresh = new Registry(r.host, { plainHttp: true });
  const second = await pullToFile(await resolveArtifact(fresh, ref(r)), part, { resume: true });
  assert.ok(second.bytesResumed > 0, 'what the first run wrote is kept');
  assert.ok(second.bytesFetched + second.bytesResumed >= a.members.reduce((n, m) => n + m.size, 0));
  assert.ok(second.bytesFetched < a.size * 0.6, `the second run fetched ${second.bytesFetched} of ${a.size}`);
  assert.equal(statSync(part).size, a.size);
  assert.deepEqual(await members(readFileSync(part)), await expectedMembers());
});

after(async () => {
  const { rmSync } = await import('node:fs');
  rmSync(dir, { recursive: true, force: true });
});
