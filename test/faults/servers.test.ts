/**
 * Servers killed under a running import: Redis (AOF) killed and restarted mid-import; MariaDB
 * killed while the bundle stages and while the commit writes the rows; two workers (and an
 * inline xcatimport) importing one image at once. Each ends with the image old or new, every job
 * finished as expected, nothing left.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ImportService } from '@imgport/engine';
import { REPO } from '../support/bundles.js';
import { figure, imageVersion, leftovers, versions, waitFor, world, type World } from './harness.js';

describe('servers killed mid-import', () => {
  let w: World;
  let v1: string;
  let v2: string;
  const figures: Record<string, unknown> = {};

  before(async () => {
    w = await world('servers');
    ({ v1, v2 } = await versions(w.dir, 1500));
  });
  after(async () => {
    figure('servers killed mid-import', figures);
    await w.close();
  });

  const resetToV1 = async () => {
    await new ImportService({ tables: w.tables, installRoot: w.installRoot, dataDir: w.dataDir }).run(v1, { force: true });
  };
  const running = (id: string) => waitFor(async () => (await w.status(id))?.state === 'running', 30_000, `job ${id} running`, w.logs);
  const clean = () => waitFor(() => leftovers(w).length === 0, 15_000, `nothing left (${leftovers(w).join(', ')})`, w.logs);

  test('Redis killed -9 mid-import and restarted (AOF): the job still succeeds, once', async () => {
    await resetToV1();
    const worker = w.startWorker({ host: 'host-a' });
    const id = await w.submit(v2, { force: true });
    await running(id);
    const t0 = Date.now();
    await w.redis.kill9();
    await sleep(1000);
    await w.redis.restart();
    const done = await w.settled(id, 120_000);
    figures.redisRestartToSucceededMs = Date.now() - t0;
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(await imageVersion(w), 'v2');
    await clean();
    await worker.stop();
  });

  test('MariaDB killed -9 while the bundle stages, restarted: the job is retried and succeeds', async () => {
    await resetToV1();
    const worker = w.startWorker({ host: 'host-a' });
    const id = await w.submit(v2, { force: true });
    await running(id);
    await w.db.kill9();
    assert.equal(await imageVersion(w).catch(() => 'db down'), 'db down');
    await sleep(1500);
    await w.db.restart();
    const done = await w.settled(id, 120_000);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    figures.dbKilledStagingAttempts = done.attempts;
    assert.equal(await imageVersion(w), 'v2');
    await clean();
    await worker.stop();
  });

  test('MariaDB killed -9 as the commit writes the rows, restarted: rolled back from the journal, retried, succeeds', async () => {
    await resetToV1();
    const marker = join(w.dir, 'paused-before-db');
    const worker = w.startWorker({ host: 'host-a', env: { IMGPORT_PAUSEPOINT: `commit:before-db=${marker}` } });
    const id = await w.submit(v2, { force: true });
    await waitFor(() => existsSync(marker), 60_000, 'the commit to reach the row write', w.logs);
    await w.db.kill9();
    const t0 = Date.now();
    rmSync(marker);
    // The row write fails; the rollback restores the files but cannot restore the rows: the
    // journal stays (abandoned) with its backups until the database is back.
    await waitFor(() => w.logs.some((l) => l.includes('rollback could not finish')), 30_000, 'the failed rollback', w.logs);
    assert.ok(existsSync(join(w.installRoot, '.imgport/journal')), 'the journal is kept');
    await w.db.restart();
    const done = await w.settled(id, 120_000);
    figures.dbKilledCommitToSucceededMs = Date.now() - t0;
    figures.dbKilledCommitAttempts = done.attempts;
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(await imageVersion(w), 'v2');
    await clean();
    await worker.stop();
  });

  test('two workers and an inline xcatimport change one image at once: serialised, old or new, never mixed', async () => {
    await resetToV1();
    const a = w.startWorker({ host: 'host-a' });
    const b = w.startWorker({ host: 'host-b' });
    const ids = [await w.submit(v2, { force: true }), await w.submit(v1, { force: true })];
    const inline = spawn(process.execPath, [join(REPO, 'packages/cli/bin/xcatimport.js'), v2, '--force', '--json'], { env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    inline.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => inline.on('exit', r));
    const results = await Promise.all(ids.map((id) => w.settled(id, 120_000)));
    for (const r of results) assert.equal(r.state, 'succeeded', JSON.stringify(r.error));
    // The inline run either got the image lock or was told it is LOCKED; never a mix.
    if (code !== 0) assert.match(out, /LOCKED/);
    figures.inlineAgainstWorkers = code === 0 ? 'imported' : 'LOCKED';
    assert.ok(['v1', 'v2'].includes(await imageVersion(w)));
    await clean();
    await Promise.all([a.stop(), b.stop()]);
  });
});
