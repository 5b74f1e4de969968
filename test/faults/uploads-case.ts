/**
 * One bundle uploaded N times through the API under N profiles, two workers on two hosts: every
 * job must succeed (each upload has its own spool file; the first job to settle deletes only its
 * own), and nothing may be left in the spool or the work area. Shared by the full fault run (200)
 * and the npm-test smoke subset.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { makeNativeBundle } from '../support/bundles.js';
import { figure, leftovers, waitFor, type World } from './harness.js';

export async function manyUploads(w: World, n: number): Promise<void> {
  const bytes = readFileSync(await makeNativeBundle(w.dir, { name: 'many', rootFiles: 10 }));
  const api = await w.startApi();
  const workers = [w.startWorker({ host: 'host-a', env: { WORKER_CONCURRENCY: '2' } }), w.startWorker({ host: 'host-b', env: { WORKER_CONCURRENCY: '2' } })];
  const started = Date.now();
  const ids: string[] = [];
  const post = async (i: number) => {
    const r = await fetch(`${api.base}/v1/imports?profile=p${i}`, { method: 'POST', headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/gzip' }, body: bytes });
    assert.equal(r.status, 202, await r.clone().text());
    ids.push(((await r.json()) as { id: string }).id);
  };
  for (let i = 0; i < n; i += 20) await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, k) => post(i + k)));
  assert.equal(new Set(ids).size, n, 'one job per profile');
  const states: Record<string, number> = {};
  for (const id of ids) {
    const st = await w.settled(id, 600_000);
    states[st.state] = (states[st.state] ?? 0) + 1;
    if (st.state !== 'succeeded') states[`${st.error?.code}`] = (states[`${st.error?.code}`] ?? 0) + 1;
  }
  await waitFor(() => leftovers(w).length === 0, 20_000, `nothing left (${leftovers(w).slice(0, 5).join(', ')})`);
  figure(`${n} uploads of one bundle under ${n} profiles`, { ...states, lost: n - ids.length, seconds: Math.round((Date.now() - started) / 100) / 10, leftovers: leftovers(w).length });
  assert.deepEqual(states, { succeeded: n });
  assert.equal((await w.tables.listImages()).filter((i) => i.osimage.imagename?.includes('-p')).length, n);
  await Promise.all([...workers.map((p) => p.stop()), api.proc.stop()]);
}
