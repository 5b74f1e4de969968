/**
 * Read-only uses create nothing: an export (failed or not), a listing and a dry run on a fresh
 * node leave no table file, no directory; a successful import leaves none of imgport's
 * bookkeeping behind.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ExportService, ImportService } from '@imgport/engine';
import { ImgportError } from '@imgport/runtime';
import { openTableStore } from '@imgport/tables';
import { makeNativeBundle, tempDir } from '../support/bundles.js';

const dir = tempDir('imgport-ro-');
after(() => rmSync(dir, { recursive: true, force: true }));

function everything(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      if (!r.includes('/rootimg/') && !r.endsWith('/rootimg')) {
        try {
          walk(r);
        } catch {
          // a file
        }
      }
    }
  };
  walk('');
  return out;
}

test('export of a missing image, listing and a dry run on a fresh node create no file, table or directory', async () => {
  const node = join(dir, 'fresh');
  mkdirSync(join(node, 'install'), { recursive: true });
  const bundle = await makeNativeBundle(dir, { name: 'ro-img' });
  const tables = await openTableStore(`sqlite:${join(node, 'etc-xcat')}`, { create: true });
  const deps = { tables, installRoot: join(node, 'install'), dataDir: join(node, 'data') };
  try {
    await assert.rejects(new ExportService(deps).run('missing', { destination: join(dir, 'out.tgz') }), (e: unknown) => e instanceof ImgportError && e.code === 'IMAGE_NOT_FOUND');
    assert.deepEqual(await tables.listImages(), []);
    const r = await new ImportService(deps).run(bundle, { dryRun: true });
    assert.equal(r.dryRun, true);
  } finally {
    await tables.close();
  }
  assert.deepEqual(everything(node), ['install']);
  assert.equal(existsSync(join(dir, 'out.tgz')), false);
});

test('a successful import leaves no .imgport directory behind', async () => {
  const node = join(dir, 'used');
  mkdirSync(join(node, 'install'), { recursive: true });
  const bundle = await makeNativeBundle(dir, { name: 'ro-img2' });
  const tables = await openTableStore(`sqlite:${join(node, 'etc-xcat')}`, { create: true });
  try {
    await new ImportService({ tables, installRoot: join(node, 'install'), dataDir: join(node, 'data') }).run(bundle);
  } finally {
    await tables.close();
  }
  assert.deepEqual(readdirSync(join(node, 'install')), ['netboot']);
  assert.deepEqual(readdirSync(join(node, 'etc-xcat')).sort(), ['kit', 'kitcomponent', 'kitrepo', 'linuximage', 'litefile', 'osimage'].map((t) => `${t}.sqlite`));
});
