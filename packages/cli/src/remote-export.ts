/**
 * `xcatexport --server`: the export runs as a job on the server, then its bundle is downloaded
 * to the destination with the inline rules, the engine's own (resolveDestination,
 * writeAtomically) — a directory gets `<image>.tgz`, the default is `./<image>.tgz`, the file is
 * written under a temp name beside it and renamed when complete and checked, and removed on any
 * failure.
 */
import { pipeline } from 'node:stream/promises';
import { resolveDestination, writeAtomically, type Destination, type ExportResult } from '@imgport/engine';
import { ImgportError } from '@imgport/runtime';
import type { ExportFlags } from './export-command.js';
import { RemoteError, type ApiClient } from './remote-client.js';
import type { Remote } from './remote-context.js';
import { jobPath, runJob } from './remote-follow.js';
import { exportSummary } from './report.js';
import type { Outcome, Ui } from './run.js';

export async function exportRemote(r: Remote, ui: Ui, image: string, destination: string | undefined, flags: ExportFlags): Promise<Outcome> {
  // Checked before the job is submitted: a typo in the destination should not cost an export.
  const dest = await resolveDestination(image, destination);
  const body = {
    image,
    format: flags.format,
    ...(flags.extra.length > 0 ? { extras: flags.extra } : {}),
    ...(flags.include !== undefined ? { include: flags.include } : {}),
  };
  const { id, result } = await runJob(r, ui, () => r.client.json<{ id: string }>('POST', '/v1/exports', { json: body, signal: ui.signal }));
  // `bundle` is the file's path on the server: of no use here, where `path` is the download.
  const { bundle: _onServer, ...res } = result as ExportResult & { bundle?: string };
  await download(r.client, id, dest, res.sha256, ui);
  const local: ExportResult = { ...res, path: dest.path };
  return { doc: local, human: `${exportSummary(local)}\n  job ${id} on ${r.client.server}` };
}

/** GET /v1/jobs/<id>/bundle into the atomic writer, checked (length, the job's sha256) before the rename. */
async function download(client: ApiClient, id: string, dest: Destination, sha256: string, ui: Ui): Promise<void> {
  const res = await client.send('GET', jobPath(id, '/bundle'), { accept: 'application/gzip', signal: ui.signal });
  const total = Number(res.headers.get('content-length') ?? 0);
  try {
    await writeAtomically(
      dest,
      async (out) => {
        let bytes = 0;
        await pipeline(async function* () {
          for await (const chunk of res.body!) {
            bytes += chunk.length;
            yield chunk;
            ui.progress.update({ phase: 'write', percent: total > 0 ? (bytes / total) * 100 : 0, bytesDone: bytes, bytesTotal: total });
          }
        }, out);
        if (total > 0 && out.bytes !== total) throw new ImgportError('IO_ERROR', `the download of job ${id}'s bundle ended after ${out.bytes} of ${total} bytes`);
        const got = await out.hash.digest();
        if (got !== sha256) throw new ImgportError('CHECKSUM_MISMATCH', `the bundle downloaded from job ${id} has sha256 ${got}, the job recorded ${sha256}`);
      },
      ui.signal,
    );
  } catch (err) {
    throw downloadError(err, id, client.server, ui.signal);
  }
}

function downloadError(err: unknown, id: string, server: string, signal: AbortSignal): ImgportError {
  const keep = `the bundle stays on the server for \`GET /v1/jobs/${id}/bundle\``;
  if (signal.aborted) return new RemoteError('CANCELLED', `interrupted during the download; the partial file was removed (${keep})`);
  if (err instanceof ImgportError) return err;
  // A cut connection surfaces from the body as `TypeError: terminated`; a disk failure has a syscall.
  if ((err as NodeJS.ErrnoException).syscall) return new ImgportError('IO_ERROR', `writing the bundle: ${(err as Error).message}`, { cause: err });
  const cause = (err as { cause?: { message?: unknown } }).cause?.message;
  const why = typeof cause === 'string' ? cause : err instanceof Error ? err.message : String(err);
  return new RemoteError('IO_ERROR', `the download from ${server} broke (${why}); ${keep}`, { cause: err });
}
