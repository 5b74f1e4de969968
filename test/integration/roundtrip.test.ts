/**
 * Round trip: import → export → import on another "management node" (another install root and
 * database) gives the same rows and the same tree — modes, owners, times, links and hashes — for
 * every method and both bundle formats, on SQLite and MariaDB.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { treeListing } from '@imgport/archive';
import { ExportService, ImportService } from '@imgport/engine';
import type { Row, TableStore } from '@imgport/tables';
import { makeNativeBundle, tempDir } from '../support/bundles.js';
import { BACKENDS, openStore } from '../support/stores.js';

interface Node {
  root: string;
  data: string;
  tables: TableStore;
  url: string;
}

/** Rows with the install root written as <R>, so two nodes' rows compare. */
function portable(row: Row | undefined, root: string): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row ?? {})) out[k] = typeof v === 'string' ? v.split(root).join('<R>') : v;
  return out;
}

for (const backend of BACKENDS) {
  describe(`round trip on ${backend.name}`, () => {
    const dir = tempDir('imgport-rt-');
    const nodes: Node[] = [];
    const node = async (): Promise<Node> => {
      const root = join(dir, `node${nodes.length}`, 'install');
      mkdirSync(root, { recursive: true });
      const url = await backend.fresh(dir);
      const n = { root, data: join(dir, `node${nodes.length}`, 'data'), tables: await openStore(url), url };
      nodes.push(n);
      return n;
    };
    after(async () => {
      for (const n of nodes) {
        await n.tables.close();
        await backend.drop(n.url);
      }
      rmSync(dir, { recursive: true, force: true });
    });

    const cases = [
      { method: 'netboot', format: 'native' },
      { method: 'netboot', format: 'xcat' },
      { method: 'statelite', format: 'native' },
      { method: 'install', format: 'native' },
      { method: 'install', format: 'xcat' },
    ] as const;
    for (const c of cases) {
      test(`${c.method} through the ${c.format} format`, async () => {
        const a = await node();
        const b = await node();
        const name = `rt-${c.method}-${c.format}`;
        const litefile = c.method === 'statelite' ? '"x","/etc/adjtime","tmpfs",,\n"x","/var/log/","persistent",,\n' : undefined;
        const bundle = await makeNativeBundle(dir, {
          name,
          method: c.method,
          extras: [{ file: 'setup.sh', content: '#!/bin/sh\necho hi\n', dest: '/install/postscripts' }],
          lines: ['osimage.comments round trip', 'linuximage.addkcmdline console=ttyS0'],
          ...(litefile ? { litefile } : {}),
        });
        await new ImportService({ tables: a.tables, installRoot: a.root, dataDir: a.data }).run(bundle);
        const out = join(dir, `${name}.${c.format}.tgz`);
        const exported = await new ExportService({ tables: a.tables, installRoot: a.root, dataDir: a.data }).run(name, {
          destination: out,
          format: c.format,
          include: 'all',
          extras: [`${a.root}/postscripts/setup.sh:postscripts`],
        });
        assert.equal(exported.path, out);
        // Both nodes have their own install root, neither /install: bundles spell it /install/, no flag needed.
        await new ImportService({ tables: b.tables, installRoot: b.root, dataDir: b.data }).run(out);

        const ra = await a.tables.getImage(name);
        const rb = await b.tables.getImage(name);
        assert.deepEqual(portable(rb.osimage, b.root), portable(ra.osimage, a.root));
        assert.deepEqual(portable(rb.linuximage, b.root), portable(ra.linuximage, a.root));
        assert.deepEqual(rb.litefile, ra.litefile);
        assert.equal(ra.osimage?.comments, 'round trip');
        // Directory mtimes of the image's parents are the import's own time on each node.
        const opts = { root: false, dirMtimes: false };
        const sub = c.method === 'install' ? 'custom' : 'netboot';
        assert.deepEqual(treeListing(join(b.root, sub), opts), treeListing(join(a.root, sub), opts));
        assert.deepEqual(treeListing(join(b.root, 'postscripts'), opts), treeListing(join(a.root, 'postscripts'), opts));
      });
    }
  });
}
