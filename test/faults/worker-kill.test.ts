/**
 * kill -9 of a worker in each phase of an import (--force over v1), another worker on another
 * host taking the job over; a worker running as PID 1 with a fixed host name killed and restarted.
 * Each ends with the job succeeded, the new image whole, and nothing left. Prints recovery times.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ImportService } from '@imgport/engine';
import { figure, have, imageVersion, leftovers, versions, waitFor, world, type World } from './harness.js';

const PHASES = ['import:staged', 'import:locked', 'commit:after-renames', 'commit:after-db', 'commit:after-journal'];

describe('a worker killed in each phase; another host takes over', () => {
  let w: World;
  let v1: string;
  let v2: string;
  const times: Record<string, number> = {};

  before(async () => {
    w = await world('kill');
    ({ v1, v2 } = await versions(w.dir));
  });
  after(async () => {
    figure('worker kill -9 → job succeeded on another host (ms)', times);
    await w.close();
  });

  const resetToV1 = async () => {
    await new ImportService({ tables: w.tables, installRoot: w.installRoot, dataDir: w.dataDir }).run(v1, { force: true });
    assert.equal(await imageVersion(w), 'v1');
  };

  for (const fp of PHASES) {
    test(`killed at ${fp}`, async () => {
      await resetToV1();
      const a = w.startWorker({ host: 'host-a', env: { IMGPORT_FAILPOINT: fp } });
      const id = await w.submit(v2, { force: true });
      const exit = await a.exit();
      assert.equal(exit.signal, 'SIGKILL', `worker A died at ${fp}`);
      const t0 = Date.now();
      // Between the kill and the takeover the image is old or new, never a mix (unless mid-commit
      // on disk, where only the journal tells: checked after recovery).
      const b = w.startWorker({ host: 'host-b' });
      const done = await w.settled(id);
      times[fp] = Date.now() - t0;
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      assert.equal(await imageVersion(w), 'v2');
      await waitFor(() => leftovers(w).length === 0, 10_000, `nothing left (${leftovers(w).join(', ')})`);
      await b.stop();
    });
  }

  test('a PID-1 worker with a fixed host name killed mid-commit and restarted recovers its own journal', async (t) => {
    if (process.getuid?.() !== 0 || !have('unshare')) {
      t.skip('needs root and unshare for a PID namespace');
      return;
    }
    await resetToV1();
    const a = w.startWorker({ host: 'fixed-host', pid1: true, env: { IMGPORT_FAILPOINT: 'commit:after-renames' } });
    const id = await w.submit(v2, { force: true });
    await a.exit();
    const t0 = Date.now();
    const again = w.startWorker({ host: 'fixed-host', pid1: true });
    const done = await w.settled(id);
    times['pid1 restart'] = Date.now() - t0;
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(await imageVersion(w), 'v2');
    await waitFor(() => leftovers(w).length === 0, 10_000, `nothing left (${leftovers(w).join(', ')})`);
    assert.ok(w.logs.some((l) => l.includes('rolled back')), 'the restarted PID 1 rolled back the dead PID 1\'s journal');
    await again.stop();
  });
});
