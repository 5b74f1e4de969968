import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ImportPayload, SnapshotPayload } from '@imgport/jobs';
import { addInstallImage, addNetbootImage, errorOf, startApi, type Harness } from '../test/support/harness.js';

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

interface Image {
  name: string;
  ready: boolean;
  missing: string[];
  osimage: Record<string, string | null>;
  linuximage: Record<string, string | null> | null;
  litefile?: unknown[];
}

describe('images, exports and snapshots', () => {
  let h: Harness;
  const dirs: Record<string, string> = {};
  before(async () => {
    h = await startApi();
    await addInstallImage(h, 'inst-ok');
    await addInstallImage(h, 'inst-missing', { withTemplate: false, os: 'sles15', arch: 'ppc64le' });
    dirs.nb = await addNetbootImage(h, 'nb-ok', 'netboot', ['kernel', 'initrd-stateless.gz', 'rootimg.cpio.xz']);
    dirs.sl = await addNetbootImage(h, 'sl-tree', 'statelite', ['kernel', 'initrd-statelite.gz', 'rootimg/']);
    dirs.bad = await addNetbootImage(h, 'nb-bare', 'netboot', ['initrd-statelite.gz']);
  });
  after(() => h.close());
  afterEach(() => h.fake.submitted.splice(0));

  test('GET /v1/images: both rows of each image and readiness for nodeset', async () => {
    const { images } = (await (await h.call('/v1/images')).json()) as { images: Image[] };
    const summary = Object.fromEntries(images.map((i) => [i.name, [i.ready, i.missing]]));
    assert.deepEqual(summary, {
      'inst-missing': [false, [join(h.dirs.install, 'custom', 'sles15', 'ppc64le', 'inst-missing.tmpl')]],
      'inst-ok': [true, []],
      'nb-bare': [
        false,
        [
          join(dirs.bad!, 'kernel'),
          join(dirs.bad!, 'initrd-stateless.gz'),
          `${join(dirs.bad!, 'rootimg')}/ or ${dirs.bad}/{rootimg.cpio.gz,rootimg.cpio.xz,rootimg.tar.gz,rootimg.tar.xz,rootimg.gz,rootimg.sfs}`,
        ],
      ],
      'nb-ok': [true, []],
      'sl-tree': [true, []],
    });
    const nb = images.find((i) => i.name === 'nb-ok')!;
    assert.equal(nb.osimage.provmethod, 'netboot');
    assert.equal(nb.linuximage?.rootimgdir, dirs.nb);
    const filtered = (await (await h.call('/v1/images?method=install&arch=ppc64le')).json()) as { images: Image[] };
    assert.deepEqual(filtered.images.map((i) => i.name), ['inst-missing']);
    const globbed = (await (await h.call('/v1/images?name=nb-*')).json()) as { images: Image[] };
    assert.deepEqual(globbed.images.map((i) => i.name), ['nb-bare', 'nb-ok']);
  });

  test('GET /v1/images/:name: rows, litefile rows and readiness; unknown 404', async () => {
    const img = (await (await h.call('/v1/images/sl-tree')).json()) as Image;
    assert.deepEqual([img.name, img.ready, img.missing, img.litefile], ['sl-tree', true, [], []]);
    assert.deepEqual(await errorOf(await h.call('/v1/images/nope')), {
      status: 404,
      code: 'IMAGE_NOT_FOUND',
      message: 'image nope not found in the osimage table',
    });
  });

  test('POST /v1/exports: 202 for a known image, 404 for an unknown one, 400 for bad fields', async () => {
    const res = await h.call('/v1/exports', json({ image: 'inst-ok', format: 'xcat', include: 'all' }));
    assert.equal(res.status, 202);
    assert.deepEqual(h.fake.submitted.map((s) => [s.type, s.payload]), [['export', { image: 'inst-ok', format: 'xcat', include: 'all' }]]);
    assert.deepEqual(await errorOf(await h.call('/v1/exports', json({ image: 'ghost' }))), {
      status: 404,
      code: 'IMAGE_NOT_FOUND',
      message: 'image ghost not found in the osimage table',
    });
    assert.deepEqual(await errorOf(await h.call('/v1/exports', json({ image: 'inst-ok', format: 'zip' }))), {
      status: 400,
      code: 'BAD_REQUEST',
      message: 'body.format: Invalid option: expected one of "native"|"xcat"',
    });
    assert.equal(h.fake.submitted.length, 1);
  });

  test('POST /v1/snapshots resolves names, selectors and all into one parent job', async () => {
    const cases: Array<[unknown, string[]]> = [
      [{ images: ['nb-ok', 'inst-ok', 'nb-ok'], label: 'before upgrade' }, ['nb-ok', 'inst-ok']],
      [{ selector: { name: 'nb-*' } }, ['nb-bare', 'nb-ok']],
      [{ selector: { method: 'statelite' } }, ['sl-tree']],
      [{ selector: { os: 'sles15', arch: 'ppc64le' } }, ['inst-missing']],
      [{ all: true }, ['inst-missing', 'inst-ok', 'nb-bare', 'nb-ok', 'sl-tree']],
    ];
    for (const [body, images] of cases) {
      const res = await h.call('/v1/snapshots', json(body));
      assert.equal(res.status, 202, JSON.stringify(body));
      const sub = h.fake.submitted.pop()!;
      assert.deepEqual([sub.type, (sub.payload as SnapshotPayload).images], ['snapshot', images]);
      const children = h.fake.jobs.get(sub.id)?.children?.length;
      assert.equal(children, images.length);
    }
  });

  test('POST /v1/snapshots: unknown images and empty selections are 404, ambiguous bodies 400', async () => {
    assert.deepEqual(await errorOf(await h.call('/v1/snapshots', json({ images: ['nb-ok', 'x1', 'x2'] }))), {
      status: 404,
      code: 'IMAGE_NOT_FOUND',
      message: 'no such image: x1, x2',
    });
    assert.deepEqual(await errorOf(await h.call('/v1/snapshots', json({ selector: { name: 'zz*' } }))), {
      status: 404,
      code: 'IMAGE_NOT_FOUND',
      message: 'no image matches the selector {"name":"zz*"}',
    });
    for (const body of [{}, { all: true, images: ['nb-ok'] }, { label: 'x' }]) {
      assert.deepEqual(await errorOf(await h.call('/v1/snapshots', json(body))), {
        status: 400,
        code: 'BAD_REQUEST',
        message: 'body: give exactly one of "images", "selector" or "all"',
      });
    }
    assert.equal((await errorOf(await h.call('/v1/snapshots', json({ all: false })))).code, 'BAD_REQUEST');
    assert.equal(h.fake.submitted.length, 0);
  });

  test('snapshot store: list, revert (an import with force, through the spool) and delete', async () => {
    const snap = await h.snapshots.create('inst-ok', { label: 'l1' });
    const list = (await (await h.call('/v1/snapshots?image=inst-ok')).json()) as { snapshots: Array<{ id: string; label?: string }> };
    assert.deepEqual(list.snapshots.map((s) => [s.id, s.label]), [[snap.id, 'l1']]);
    assert.deepEqual(((await (await h.call('/v1/snapshots')).json()) as { snapshots: unknown[] }).snapshots.length, 1);

    const res = await h.call(`/v1/snapshots/${encodeURIComponent(snap.id)}/revert`, { method: 'POST' });
    assert.equal(res.status, 202);
    const payload = h.fake.submitted[0]?.payload as ImportPayload;
    const spooled = payload.source.kind === 'spool' ? payload.source.path : '';
    assert.match(spooled, new RegExp(`^${join(h.dirs.data, 'spool')}/[0-9a-f-]{36}\\.bundle$`), 'its own spool link');
    assert.deepEqual(payload, { source: { kind: 'spool', path: spooled, sha256: snap.sha256, size: snap.bytes }, force: true, name: 'inst-ok' });
    // A hard link: the worker removing the spooled file leaves the snapshot.
    assert.equal((await stat(spooled)).ino, (await stat(snap.path)).ino);
    const second = await h.call(`/v1/snapshots/${snap.id}/revert`, { method: 'POST' });
    assert.notEqual(((await second.json()) as { id: string }).id, ((await res.json()) as { id: string }).id);

    const del = await h.call(`/v1/snapshots/${snap.id}`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal(((await del.json()) as { deleted: { id: string } }).deleted.id, snap.id);
    assert.deepEqual(await errorOf(await h.call(`/v1/snapshots/${snap.id}`, { method: 'DELETE' })), {
      status: 404,
      code: 'NOT_FOUND',
      message: `snapshot ${snap.id} not found`,
    });
    assert.equal((await errorOf(await h.call('/v1/snapshots/not-an-id/revert', { method: 'POST' }))).status, 400);
  });
});
