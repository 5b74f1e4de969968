/**
 * `imgport` subcommands through a server: jobs (which exist only there), and the snapshot
 * store and image list as the API offers them. `prune` and `recover` stay inline: the API has
 * no route for them.
 */
import { Option, type Command } from 'commander';
import type { ImportResult, SnapshotInfo } from '@imgport/engine';
import type { Row } from '@imgport/tables';
import { parseCount, sub } from './program.js';
import type { JobDoc } from './remote-client.js';
import type { Remote } from './remote-context.js';
import { jobsSummary, jobSummary } from './remote-report.js';
import { imagesSummary, importSummary, snapshotLine, snapshotsSummary } from './report.js';
import type { Cli, CommonFlags, Outcome, Ui } from './run.js';
import { JOB_STATES, JOB_TYPES } from '@imgport/contract';


type JobsFlags = CommonFlags & { type?: string; state?: string; limit?: number };

// Loaded when a command runs, not when the program is defined: they bring the runtime along.
const client = () => import('./remote-client.js');
const follow = () => import('./remote-follow.js');

export function defineJobs(program: Command, cli: Cli): void {
  sub<JobsFlags>(program, cli, 'jobs', "the server's recent jobs, newest first", (_, f) => ({
    remote: async (r, ui) => {
      const query = { type: f.type, state: f.state, limit: f.limit === undefined ? undefined : String(f.limit) };
      const page = await r.client.json<{ jobs: JobDoc[]; total: number }>('GET', '/v1/jobs', { query, signal: ui.signal });
      return { doc: page, human: jobsSummary(page.jobs, page.total) };
    },
  }))
    .addOption(new Option('--type <type>', 'only jobs of this type').choices([...JOB_TYPES]))
    .addOption(new Option('--state <state>', 'only jobs in this state').choices([...JOB_STATES]))
    .option('--limit <n>', 'how many (default 50, at most 500)', parseCount);

  sub(program, cli, 'job <id>', "one job's status on the server", ([id]) => ({
    remote: async (r, ui) => {
      const { jobPath } = await follow();
      const st = await r.client.json<JobDoc>('GET', jobPath(id!), { signal: ui.signal });
      return { doc: st, human: jobSummary(st) };
    },
  }));

  sub(program, cli, 'cancel <id>', 'cancel a queued or running job on the server', ([id]) => ({
    remote: async (r, ui) => {
      const { jobPath } = await follow();
      const st = await r.client.json<JobDoc>('DELETE', jobPath(id!), { signal: ui.signal });
      const how = st.state === 'cancelled' ? 'cancelled' : `${st.state}; asked to stop (an import rolls back)`;
      return { doc: st, human: `Job ${st.id}: ${how}` };
    },
  }));
}

/** One image through the bulk snapshot API: a parent job with one child. */
export async function remoteSnapshot(r: Remote, ui: Ui, image: string, label?: string): Promise<Outcome> {
  const [{ RemoteError, knownCode }, { runJob }] = await Promise.all([client(), follow()]);
  const body = { images: [image], ...(label !== undefined ? { label } : {}) };
  const { result } = await runJob(r, ui, () => r.client.json<{ id: string }>('POST', '/v1/snapshots', { json: body, signal: ui.signal }));
  const res = result as { snapshots: SnapshotInfo[]; failed: Array<{ image: string; error: { code: string; message: string } }> };
  const info = res.snapshots[0];
  if (!info) {
    const e = res.failed[0]?.error ?? { code: 'INTERNAL', message: 'the server reported no snapshot' };
    throw new RemoteError(knownCode(e.code, 'INTERNAL'), `snapshot of ${image} failed: ${e.message}`);
  }
  return { doc: info, human: `Snapshot taken: ${snapshotLine(info)}` };
}

export async function remoteSnapshots(r: Remote, ui: Ui, image?: string): Promise<Outcome> {
  const { snapshots } = await r.client.json<{ snapshots: SnapshotInfo[] }>('GET', '/v1/snapshots', { query: { image }, signal: ui.signal });
  return { doc: { snapshots }, human: snapshotsSummary(snapshots, image) };
}

export async function remoteRevert(r: Remote, ui: Ui, id: string): Promise<Outcome> {
  const { runJob } = await follow();
  const path = `/v1/snapshots/${encodeURIComponent(id)}/revert`;
  const job = await runJob(r, ui, () => r.client.json<{ id: string }>('POST', path, { signal: ui.signal }));
  const res = job.result as ImportResult;
  return { doc: { revertedTo: id, ...res }, human: `Reverted ${res.name} to snapshot ${id}\n${importSummary(res)}\n  job ${job.id} on ${r.client.server}` };
}

export async function remoteDeleteSnapshot(r: Remote, ui: Ui, id: string): Promise<Outcome> {
  const path = `/v1/snapshots/${encodeURIComponent(id)}`;
  const { deleted: info } = await r.client.json<{ deleted: SnapshotInfo }>('DELETE', path, { signal: ui.signal });
  return { doc: { deleted: info }, human: `Deleted snapshot ${info.id} (${info.path})` };
}

export async function remoteImages(r: Remote, ui: Ui): Promise<Outcome> {
  const doc = await r.client.json<{ images: Array<{ osimage: Row; linuximage: Row | null }> }>('GET', '/v1/images', { signal: ui.signal });
  const rows = doc.images.map((i) => (i.linuximage ? { osimage: i.osimage, linuximage: i.linuximage } : { osimage: i.osimage }));
  return { doc, human: imagesSummary(rows) };
}
