/**
 * `xcatimport --server`: a local bundle is streamed up as the request body (never held in
 * memory), an http(s) URL is handed to the server to fetch; then the job is followed to its end.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { ImportResult } from '@imgport/engine';
import { ImgportError } from '@imgport/runtime';
import type { ImportFlags } from './import-command.js';
import { RemoteError } from './remote-client.js';
import type { Remote } from './remote-context.js';
import { runJob } from './remote-follow.js';
import { importSummary } from './report.js';
import type { Outcome, Ui } from './run.js';

interface Accepted {
  id: string;
}

export async function importRemote(r: Remote, ui: Ui, source: string, flags: ImportFlags): Promise<Outcome> {
  const submit = /^https?:\/\//i.test(source) ? () => submitUrl(r, ui, source, flags) : () => upload(r, ui, source, flags);
  const { id, result } = await runJob(r, ui, submit);
  const res = result as ImportResult;
  return { doc: res, human: `${importSummary(res)}\n  job ${id} on ${r.client.server}` };
}

function submitUrl(r: Remote, ui: Ui, url: string, flags: ImportFlags): Promise<Accepted> {
  const body = {
    source: url,
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
    ...(flags.force ? { force: true } : {}),
    ...(flags.dryRun ? { dryRun: true } : {}),
    ...(flags.fromRoot !== undefined ? { fromRoot: flags.fromRoot } : {}),
  };
  return r.client.json<Accepted>('POST', '/v1/imports', { json: body, signal: ui.signal });
}

/** POST /v1/imports with the file as the body and the options in the query string. */
async function upload(r: Remote, ui: Ui, path: string, flags: ImportFlags): Promise<Accepted> {
  const fh = await openBundle(path);
  try {
    const { size } = await fh.stat();
    return await r.client.json<Accepted>('POST', '/v1/imports', {
      query: {
        name: flags.name,
        profile: flags.profile,
        force: flags.force ? 'true' : undefined,
        dryRun: flags.dryRun ? 'true' : undefined,
        fromRoot: flags.fromRoot,
      },
      body: counted(fh, size, ui),
      contentLength: size,
      contentType: 'application/gzip',
      signal: ui.signal,
    });
  } catch (err) {
    // The server removes a partial upload when the client goes away.
    if (ui.signal.aborted) throw new RemoteError('CANCELLED', `interrupted during the upload of ${path}; nothing was submitted`);
    throw err;
  } finally {
    await fh.close();
  }
}

async function openBundle(path: string): Promise<FileHandle> {
  const fh = await open(path, 'r').catch((err: Error) => {
    throw new ImgportError('NOT_FOUND', `cannot read bundle ${path}: ${err.message}`, { cause: err });
  });
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw new ImgportError('BAD_REQUEST', `bundle ${path} is not a file`);
  }
  return fh;
}

/** The file's bytes as they go out, drawn on the bar as the `receive` phase. */
async function* counted(fh: FileHandle, size: number, ui: Ui): AsyncGenerator<Uint8Array> {
  let done = 0;
  // autoClose off: the handle is closed by upload(), after fetch has let go of the stream.
  for await (const chunk of fh.createReadStream({ autoClose: false, highWaterMark: 1024 * 1024 })) {
    done += (chunk as Buffer).length;
    ui.progress.update({ phase: 'receive', percent: size > 0 ? (done / size) * 100 : 100, bytesDone: done, bytesTotal: size });
    yield chunk as Buffer;
  }
}
