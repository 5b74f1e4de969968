/**
 * The behaviour every TableStore must have, written once and run against both real backends
 * (sqlite.test.ts, mysql.test.ts). Not a test file itself: each backend supplies a Harness.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { COLUMNS, KEYS, type ImageRows, type KitRows, type Row, type TableName, type TableStore } from '../../src/model.js';
import { columnType } from '../../src/schema.js';
import { openTableStore } from '../../src/index.js';

export interface Harness {
  kind: 'sqlite' | 'mysql';
  /** The URL of an empty database (no xCAT tables) for the next test. */
  fresh(): Promise<string>;
  /** Runs raw SQL against the storage of one table, to set up what xCAT would have left. */
  exec(url: string, table: TableName, sql: string): Promise<void>;
  /** Each column's name and declared type (upper case), in table order. */
  columns(url: string, table: TableName): Promise<Array<[string, string]>>;
  /** The primary key columns in key order. */
  primaryKey(url: string, table: TableName): Promise<string[]>;
  /** A URL where no database can be reached. */
  unreachable: string;
}

/** A whole row as the store returns it: every known column, NULL unless given. */
export function full(table: TableName, values: Row): Row {
  return Object.fromEntries(COLUMNS[table].map((c) => [c, values[c] ?? null]));
}

export function image(name: string, os = 'rhels8.5.0', arch = 'x86_64', method = 'netboot'): ImageRows {
  return {
    osimage: { profile: 'compute', imagetype: 'linux', provmethod: method, osname: 'Linux', osvers: os, osarch: arch },
    linuximage: { rootimgdir: `/install/netboot/${os}/${arch}/compute` },
    litefile: method === 'statelite' ? [{ file: '/etc/ntp.conf', options: 'tmpfs' }, { file: '/var/log/' }] : [],
  };
}

/** xCAT 2.8's osimage: no nfsrootopts, no environvar, unquoted names. */
const OLD_OSIMAGE = COLUMNS.osimage.filter((c) => c !== 'nfsrootopts' && c !== 'environvar');

export function storeContract(h: Harness): void {
  const q = (n: string) => (h.kind === 'mysql' ? `\`${n}\`` : `"${n}"`);
  const open = async () => openTableStore(await h.fresh(), { create: true });
  const using = async (fn: (s: TableStore, url: string) => Promise<void>, url?: string) => {
    const u = url ?? (await h.fresh());
    const s = await openTableStore(u, { create: true });
    try {
      await fn(s, u);
    } finally {
      await s.close();
    }
  };
  const rejectsWith = (p: Promise<unknown>, code: string, text?: RegExp) =>
    assert.rejects(p, (e: Error & { code?: string }) => {
      assert.equal(e.code, code, e.message);
      if (text) assert.match(e.message, text);
      return true;
    });

  describe(`TableStore contract (${h.kind})`, () => {
    test('the first write creates missing tables the way xCAT does: types, order and primary key', async () => {
      await using(async (s, url) => {
        assert.equal(s.kind, h.kind);
        await s.writeImage('first', image('first'));
        for (const table of ['osimage', 'linuximage', 'litefile', 'kit', 'kitrepo', 'kitcomponent'] as const) {
          assert.deepEqual(await h.columns(url, table), COLUMNS[table].map((c) => [c, columnType(table, c)]));
          assert.deepEqual(await h.primaryKey(url, table), KEYS[table]);
        }
      });
    });

    test('writes and reads back an image: whole rows, unset columns NULL, litefile by file', async () => {
      await using(async (s) => {
        await s.writeImage('sl1', image('sl1', 'rhels8.5.0', 'x86_64', 'statelite'));
        assert.deepEqual(await s.getImage('sl1'), {
          osimage: full('osimage', { imagename: 'sl1', ...image('sl1', 'rhels8.5.0', 'x86_64', 'statelite').osimage }),
          linuximage: full('linuximage', { imagename: 'sl1', rootimgdir: '/install/netboot/rhels8.5.0/x86_64/compute' }),
          litefile: [
            full('litefile', { image: 'sl1', file: '/etc/ntp.conf', options: 'tmpfs' }),
            full('litefile', { image: 'sl1', file: '/var/log/' }),
          ],
        });
        assert.deepEqual(await s.getImage('absent'), { litefile: [] });
      });
    });

    test('values round-trip verbatim: quotes, backticks, SQL, unicode, empty string', async () => {
      await using(async (s) => {
        const odd = `it's "x" \`y\` '; DROP TABLE osimage; -- ü 漢字 \\ %_`;
        await s.writeImage('odd', { osimage: { description: odd, comments: '' }, linuximage: { addkcmdline: odd }, litefile: [] });
        const got = await s.getImage('odd');
        assert.equal(got.osimage?.description, odd);
        assert.equal(got.osimage?.comments, '');
        assert.equal(got.linuximage?.addkcmdline, odd);
      });
    });

    test('writeImage replaces every row of the image, litefile rows included, and is idempotent', async () => {
      await using(async (s) => {
        await s.writeImage('a', image('a', 'rhels8.5.0', 'x86_64', 'statelite'));
        await s.writeImage('b', image('b', 'rhels8.5.0', 'x86_64', 'statelite'));
        const next = { osimage: { provmethod: 'statelite', osvers: 'rhels9' }, linuximage: {}, litefile: [{ file: '/tmp/' }] };
        await s.writeImage('a', next);
        await s.writeImage('a', next);
        assert.deepEqual(await s.getImage('a'), {
          osimage: full('osimage', { imagename: 'a', provmethod: 'statelite', osvers: 'rhels9' }),
          linuximage: full('linuximage', { imagename: 'a' }),
          litefile: [full('litefile', { image: 'a', file: '/tmp/' })],
        });
        assert.equal((await s.getImage('b')).litefile.length, 2, 'another image is untouched');
      });
    });

    test('deleteImage removes the three kinds of rows, leaves other images, and is idempotent', async () => {
      await using(async (s) => {
        await s.writeImage('a', image('a', 'rhels8.5.0', 'x86_64', 'statelite'));
        await s.writeImage('b', image('b', 'rhels8.5.0', 'x86_64', 'statelite'));
        await s.deleteImage('a');
        await s.deleteImage('a');
        await s.deleteImage('never-existed');
        assert.deepEqual(await s.getImage('a'), { litefile: [] });
        assert.equal((await s.getImage('b')).litefile.length, 2);
      });
    });

    test('litefileRows: the rows of each image asked for, in that order, each sorted by file', async () => {
      await using(async (s, url) => {
        await s.writeImage('img', image('img', 'rhels8.5.0', 'x86_64', 'statelite'));
        // xCAT's own tools file shared rows under ALL (or '' for none).
        await h.exec(url, 'litefile', `INSERT INTO ${q('litefile')} (${q('image')}, ${q('file')}, ${q('options')}) VALUES ('ALL', '/etc/b', 'tmpfs'), ('ALL', '/etc/a', NULL), ('', '/etc/e', NULL)`);
        assert.deepEqual(await s.litefileRows(['', 'ALL']), [
          full('litefile', { image: '', file: '/etc/e' }),
          full('litefile', { image: 'ALL', file: '/etc/a' }),
          full('litefile', { image: 'ALL', file: '/etc/b', options: 'tmpfs' }),
        ]);
        assert.deepEqual(await s.litefileRows(['nothing']), []);
      });
    });

    test('kit rows travel with the image in one transaction, each replacing the row of its key; deleteImage keeps them', async () => {
      await using(async (s) => {
        const kits: KitRows = {
          kit: [{ kitname: 'cuda-12.4-1', basename: 'cuda', kitdir: '/install/kits/cuda-12.4-1', version: '12.4' }],
          kitrepo: [{ kitreponame: 'cuda-12.4-1-rhels-8-x86_64', kitname: 'cuda-12.4-1', kitrepodir: '/install/kits/cuda-12.4-1/repos/x' }],
          kitcomponent: [
            { kitcompname: 'cuda_compute-12.4-1-rhels-8-x86_64', kitname: 'cuda-12.4-1', kitreponame: 'cuda-12.4-1-rhels-8-x86_64' },
            { kitcompname: 'cuda_devel-12.4-1-rhels-8-x86_64', kitname: 'cuda-12.4-1' },
          ],
        };
        await s.writeImage('gpu', { ...image('gpu'), kits });
        await s.writeImage('gpu2', { ...image('gpu2'), kits: { kit: [{ kitname: 'cuda-12.4-1', basename: 'cuda', description: 'new' }], kitrepo: [], kitcomponent: [] } });
        assert.deepEqual(await s.kitRows('kit', 'kitname', 'cuda-12.4-1'), [full('kit', { kitname: 'cuda-12.4-1', basename: 'cuda', description: 'new' })]);
        assert.deepEqual(await s.kitRows('kitcomponent', 'kitname', 'cuda-12.4-1'), kits.kitcomponent.map((r) => full('kitcomponent', r)));
        assert.deepEqual(await s.kitRows('kitrepo', 'kitname', 'none'), []);
        await s.deleteImage('gpu');
        assert.equal((await s.kitRows('kitcomponent', 'kitname', 'cuda-12.4-1')).length, 2);
        await rejectsWith(s.writeImage('bad', { ...image('bad'), kits: { kit: [{ kitname: 'k' }, { kitname: 'k' }], kitrepo: [], kitcomponent: [] } }), 'BAD_REQUEST', /appears twice/);
        await rejectsWith(s.writeImage('bad', { ...image('bad'), kits: { kit: [{ kitname: 'k', kitdirx: '/x' }], kitrepo: [], kitcomponent: [] } }), 'BAD_REQUEST', /kitdirx/);
        assert.deepEqual(await s.getImage('bad'), { litefile: [] });
      });
    });

    test('restoreKits puts kit rows back as they were: replaced rows restored, added keys dropped, in one call', async () => {
      await using(async (s) => {
        const old = { kitname: 'mlnx-5.8', basename: 'mlnx', version: '5.8' };
        await s.writeImage('ib', { ...image('ib'), kits: { kit: [old], kitrepo: [], kitcomponent: [] } });
        // An import replaces the kit row and adds a component and a repo; undoing it:
        await s.writeImage('ib', {
          ...image('ib'),
          kits: { kit: [{ kitname: 'mlnx-5.8', basename: 'mlnx', version: '5.9' }], kitrepo: [{ kitreponame: 'mlnx-repo', kitname: 'mlnx-5.8' }], kitcomponent: [{ kitcompname: 'mlnx-comp', kitname: 'mlnx-5.8' }] },
        });
        await s.restoreKits({ kit: [old], kitrepo: [], kitcomponent: [] }, { kit: [], kitrepo: ['mlnx-repo'], kitcomponent: ['mlnx-comp', 'never-there'] });
        assert.deepEqual(await s.kitRows('kit', 'kitname', 'mlnx-5.8'), [full('kit', old)]);
        assert.deepEqual(await s.kitRows('kitrepo', 'kitname', 'mlnx-5.8'), []);
        assert.deepEqual(await s.kitRows('kitcomponent', 'kitname', 'mlnx-5.8'), []);
        assert.equal((await s.getImage('ib')).osimage?.imagename, 'ib', 'the image rows are not touched');
        await rejectsWith(s.restoreKits({ kit: [{ kitname: 'k', kitdirx: '/x' }], kitrepo: [], kitcomponent: [] }, { kit: ['mlnx-5.8'], kitrepo: [], kitcomponent: [] }), 'BAD_REQUEST', /kitdirx/);
        assert.equal((await s.kitRows('kit', 'kitname', 'mlnx-5.8')).length, 1, 'a refused restore drops nothing');
      });
    });

    test('a store opened before the tables existed sees what another store writes later', async () => {
      const url = await h.fresh();
      const early = await openTableStore(url, { create: true });
      const writer = await openTableStore(url, { create: true });
      try {
        assert.deepEqual(await early.getImage('later'), { litefile: [] });
        await writer.writeImage('later', image('later'));
        assert.equal((await early.getImage('later')).osimage?.imagename, 'later');
        assert.deepEqual((await early.listImages()).map((i) => i.osimage.imagename), ['later']);
      } finally {
        await early.close();
        await writer.close();
      }
    });

    test('unknown column: BAD_REQUEST naming column and table, nothing written', async () => {
      await using(async (s) => {
        const bad = { ...image('x'), linuximage: { rootimgdir: '/r', kernelopts: 'quiet' } };
        await rejectsWith(s.writeImage('x', bad), 'BAD_REQUEST', /"kernelopts".*linuximage/);
        assert.deepEqual(await s.getImage('x'), { litefile: [] });
      });
    });

    test('a bad litefile row fails the whole writeImage; the old rows stay', async () => {
      await using(async (s) => {
        await s.writeImage('a', image('a', 'rhels8.5.0', 'x86_64', 'statelite'));
        const before = await s.getImage('a');
        const bad: ImageRows = { osimage: { osvers: 'changed' }, linuximage: {}, litefile: [{ file: '/x' }, { file: '/y', mode: 'rw' }] };
        await rejectsWith(s.writeImage('a', bad), 'BAD_REQUEST', /"mode".*litefile/);
        assert.deepEqual(await s.getImage('a'), before);
      });
    });

    test('a statement failing mid-transaction rolls back the rows already replaced', async () => {
      await using(async (s) => {
        await s.writeImage('a', image('a', 'rhels8.5.0', 'x86_64', 'statelite'));
        const before = await s.getImage('a');
        // Valid row by row; the database rejects the second /dup after osimage and linuximage
        // were already deleted and re-inserted in the same transaction.
        const dup = { osimage: { osvers: 'changed' }, linuximage: { rootimgdir: '/new' }, litefile: [{ file: '/dup' }, { file: '/dup' }] };
        await rejectsWith(s.writeImage('a', dup), 'BAD_REQUEST', /litefile/);
        assert.deepEqual(await s.getImage('a'), before);
        await s.writeImage('a', image('a'));
        assert.equal((await s.getImage('a')).litefile.length, 0, 'the store still works after a rollback');
      });
    });

    test('listImages: glob, os, arch and method filters, sorted by name', async () => {
      await using(async (s, url) => {
        const images: Array<[string, string, string, string]> = [
          ['rhels8-compute', 'rhels8.5.0', 'x86_64', 'netboot'],
          ['Rhels8-upper', 'rhels8.5.0', 'x86_64', 'install'],
          ['rhels8.5-sl', 'rhels8.5.0', 'ppc64le', 'statelite'],
          ['a_b', 'sles15', 'x86_64', 'install'],
          ['axb', 'sles15', 'aarch64', 'netboot'],
        ];
        for (const [n, os, arch, m] of images) await s.writeImage(n, image(n, os, arch, m));
        // An osimage row without its linuximage row, as a half-defined xCAT image can be.
        await h.exec(url, 'osimage', `INSERT INTO ${q('osimage')} (${q('imagename')}, ${q('provmethod')}) VALUES ('bare', 'install')`);
        const names = async (f?: Parameters<TableStore['listImages']>[0]) => (await s.listImages(f)).map((i) => i.osimage.imagename);
        assert.deepEqual(await names(), ['Rhels8-upper', 'a_b', 'axb', 'bare', 'rhels8-compute', 'rhels8.5-sl']);
        assert.deepEqual(await names({ name: 'rhels8*' }), ['rhels8-compute', 'rhels8.5-sl']);
        assert.deepEqual(await names({ name: 'a_b' }), ['a_b']);
        assert.deepEqual(await names({ name: 'a?b' }), ['a_b', 'axb']);
        assert.deepEqual(await names({ name: '%' }), []);
        assert.deepEqual(await names({ os: 'sles15' }), ['a_b', 'axb']);
        assert.deepEqual(await names({ arch: 'x86_64', method: 'install' }), ['Rhels8-upper', 'a_b']);
        assert.deepEqual(await names({ name: '*', os: 'rhels8.5.0', arch: 'ppc64le' }), ['rhels8.5-sl']);
        const all = await s.listImages({ name: 'ba*' });
        assert.deepEqual(all, [{ osimage: full('osimage', { imagename: 'bare', provmethod: 'install' }) }]);
        const one = await s.listImages({ name: 'axb' });
        assert.deepEqual(one[0]?.linuximage, full('linuximage', { imagename: 'axb', rootimgdir: '/install/netboot/sles15/aarch64/compute' }));
      });
    });

    test("an existing older table is not altered; its missing columns are skipped when empty, refused when set", async () => {
      const url = await h.fresh();
      const cols = OLD_OSIMAGE.map((c) => `${q(c)} ${columnType('osimage', c)}`).join(', ');
      await h.exec(url, 'osimage', `CREATE TABLE ${q('osimage')} (${cols}, PRIMARY KEY (${q('imagename')}))`);
      const before = await h.columns(url, 'osimage');
      await using(async (s) => {
        await s.writeImage('old', { ...image('old'), osimage: { ...image('old').osimage, environvar: '' } });
        assert.equal((await s.getImage('old')).osimage?.environvar, null);
        await rejectsWith(
          s.writeImage('old', { ...image('old'), osimage: { osvers: 'new', environvar: 'A=1' } }),
          'UNSUPPORTED',
          /osimage\.environvar/,
        );
        assert.equal((await s.getImage('old')).osimage?.osvers, 'rhels8.5.0');
      }, url);
      assert.deepEqual(await h.columns(url, 'osimage'), before);
      assert.deepEqual(before.map(([c]) => c), OLD_OSIMAGE);
    });

    test('reopening finds the tables and the rows; ping works', async () => {
      const url = await h.fresh();
      await using(async (s) => s.writeImage('keep', image('keep')), url);
      await using(async (s) => {
        assert.equal((await s.getImage('keep')).osimage?.imagename, 'keep');
        assert.match(s.description, h.kind === 'sqlite' ? /^sqlite:\// : /^mysql:\/\/root@[^:]+:\d+\/\w+$/);
        await s.ping();
      }, url);
    });

    test('concurrent writes of different images and of one image all land whole', async () => {
      await using(async (s) => {
        const names = Array.from({ length: 8 }, (_, i) => `img${i}`);
        await Promise.all([
          ...names.map((n) => s.writeImage(n, image(n, 'rhels8.5.0', 'x86_64', 'statelite'))),
          ...names.map(() => s.writeImage('same', image('same', 'rhels8.5.0', 'x86_64', 'statelite'))),
        ]);
        for (const n of [...names, 'same']) assert.equal((await s.getImage(n)).litefile.length, 2, n);
      });
    });

    test('unreachable database: DB_UNAVAILABLE, retryable', async () => {
      await assert.rejects(openTableStore(h.unreachable), (e: Error & { code?: string; retryable?: boolean }) => {
        assert.equal(e.code, 'DB_UNAVAILABLE', e.message);
        assert.equal(e.retryable, true);
        return true;
      });
    });

    test('close is idempotent', async () => {
      const s = await open();
      await s.close();
      await s.close();
    });
  });
}
