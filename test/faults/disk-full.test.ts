/**
 * An install root on a small filesystem that fills (a loop-mounted ext4 image): the import that
 * does not fit fails at once with DISK_FULL naming where (not retried, no raw stream error), the
 * image already there stays whole, and the failed one leaves nothing. Skipped, with a message,
 * where loop devices cannot be mounted (not root, no loop support).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeNativeBundle } from '../support/bundles.js';
import { figure, leftovers, waitFor, world, type World } from './harness.js';

function sh(cmd: string, args: string[]): { ok: boolean; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, err: `${r.stderr ?? ''}${r.error?.message ?? ''}` };
}

describe('an install root on a filesystem that fills', () => {
  let w: World | undefined;
  let mounted = false;
  let why = '';

  before(async () => {
    w = await world('diskfull');
    const img = join(w.dir, 'small.ext4');
    const steps: Array<[string, string[]]> = [
      ['truncate', ['-s', '48M', img]],
      ['mkfs.ext4', ['-q', '-F', '-N', '20000', img]],
      ['mount', ['-o', 'loop', img, w.installRoot]],
    ];
    for (const [cmd, args] of steps) {
      const r = sh(cmd, args);
      if (!r.ok) {
        why = `${cmd} failed: ${r.err.trim()}`;
        return;
      }
    }
    mounted = true;
  });
  after(async () => {
    if (mounted && w) sh('umount', [w.installRoot]);
    await w?.close();
  });

  test('the import that does not fit fails with DISK_FULL at once; the other image stays; nothing left', async (t) => {
    if (!mounted || !w) {
      t.skip(`no loop-mounted filesystem here (${why}); run as root where loop devices work`);
      return;
    }
    // About 20 MB expanded each: the first fits, the second does not.
    const bundle = await makeNativeBundle(w.dir, { name: 'big', rootFiles: 2000 });
    const worker = w.startWorker({ host: 'host-a' });
    const first = await w.settled(await w.submit(bundle, { profile: 'a' }), 180_000);
    assert.equal(first.state, 'succeeded', JSON.stringify(first.error));
    const second = await w.settled(await w.submit(bundle, { profile: 'b' }), 180_000);
    assert.equal(second.state, 'failed');
    assert.equal(second.error?.code, 'DISK_FULL', JSON.stringify(second.error));
    assert.match(second.error?.message ?? '', /disk full at /);
    assert.equal(second.attempts, 1, 'a full disk is not retried');
    const a = join(w.installRoot, 'netboot/rhels8.5.0/x86_64/a');
    for (const f of ['kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz', 'rootimg/usr/lib/lib1999.so']) assert.ok(existsSync(join(a, f)), `image a: ${f}`);
    assert.equal(existsSync(join(w.installRoot, 'netboot/rhels8.5.0/x86_64/b/kernel')), false);
    assert.deepEqual(await w.tables.getImage('rhels8.5.0-x86_64-netboot-b'), { litefile: [] });
    await waitFor(() => leftovers(w!).length === 0, 20_000, `nothing left (${leftovers(w!).join(', ')})`);
    figure('install root filled', { error: second.error?.code, message: second.error?.message, attempts: second.attempts, leftovers: 0 });
    await worker.stop();
  });
});
