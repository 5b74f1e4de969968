/** The console's pages: small typed functions over `html`, which escapes every value. */
import type { SnapshotInfo } from '@imgport/engine';
import type { JobState, JobStatus } from '@imgport/jobs';
import type { Row } from '@imgport/tables';
import type { SnapshotDiff } from './diff.js';
import { bytes, eta, stamp, when } from './format.js';
import { html, seg, type Html } from './html.js';
import { isFinished, JOB_STATES } from '@imgport/contract';

export const ASSETS = '/ui/assets';

export interface PageCtx {
  /** The session's CSRF token; undefined on the sign-in page. */
  csrf?: string;
  title: string;
  nav?: 'images' | 'jobs' | 'import';
}

const csrfField = (csrf: string | undefined) => html`<input type="hidden" name="_csrf" value="${csrf ?? ''}">`;

export function page(p: PageCtx, body: Html): Html {
  const link = (href: string, key: PageCtx['nav'], text: string) =>
    html`<a href="${href}"${p.nav === key ? html` aria-current="page"` : ''}>${text}</a>`;
  const nav = p.csrf
    ? html`<nav>${link('/ui/images', 'images', 'Images')}${link('/ui/jobs', 'jobs', 'Jobs')}${link('/ui/import', 'import', 'Import')}<a href="/admin/queues">Queue dashboard</a>
<form method="post" action="/ui/logout" class="inline">${csrfField(p.csrf)}<button type="submit" class="link">Sign out</button></form></nav>`
    : '';
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title} · imgport</title><link rel="icon" href="data:,"><link rel="stylesheet" href="${ASSETS}/console.css">
<script src="${ASSETS}/htmx.min.js" defer></script><script src="${ASSETS}/sse.js" defer></script><script src="${ASSETS}/console.js" defer></script>
</head><body><header><a class="brand" href="/ui/images">imgport</a>${nav}</header>
<main><h1>${p.title}</h1>${body}</main></body></html>`;
}

export function loginPage(error?: string, next?: string): Html {
  return page(
    { title: 'Sign in' },
    html`${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="/ui/login" class="card narrow">
<input type="hidden" name="next" value="${next ?? ''}">
<label>API token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button>
<p class="hint">One of the server's IMGPORT_TOKENS. The session lasts 8 hours of inactivity.</p></form>`,
  );
}

export function errorPage(csrf: string | undefined, status: number, code: string, message: string, back?: string): Html {
  return page(
    { title: `Error ${status}`, ...(csrf ? { csrf } : {}) },
    html`<p class="error" role="alert"><strong>${code}</strong>: ${message}</p><p><a href="${back ?? '/ui/images'}">Back</a></p>`,
  );
}

export interface ImageSummary {
  name: string;
  osimage: Row;
  ready: boolean;
  missing: string[];
  last?: SnapshotInfo;
  snapshots: number;
}

const signerOf = (s: SnapshotInfo | undefined): string | undefined => {
  const v = (s as { signer?: unknown } | undefined)?.signer;
  return typeof v === 'string' ? v : undefined;
};

const readiness = (ready: boolean, missing: string[]) =>
  ready ? html`<span class="ok">ready</span>` : html`<span class="bad" title="${missing.join('\n')}">missing ${missing.length}</span>`;

export function imagesPage(csrf: string, images: ImageSummary[]): Html {
  const rows = images.map(
    (i) => html`<tr><td><input type="checkbox" name="images" value="${i.name}" aria-label="select ${i.name}"></td>
<td><a href="/ui/images/${seg(i.name)}">${i.name}</a></td><td>${i.osimage.osvers ?? '—'}</td><td>${i.osimage.osarch ?? '—'}</td>
<td>${i.osimage.provmethod ?? '—'}</td><td>${readiness(i.ready, i.missing)}</td>
<td>${i.last ? html`${stamp(i.last.timestamp)}${i.last.label ? html` <span class="tag">${i.last.label}</span>` : ''} <span class="muted">(${i.snapshots})</span>` : html`<span class="muted">none</span>`}</td>
<td>${signerOf(i.last) ?? html`<span class="muted">—</span>`}</td></tr>`,
  );
  return page(
    { title: 'Images', csrf, nav: 'images' },
    html`<form method="post" action="/ui/snapshots">${csrfField(csrf)}
<table><thead><tr><th></th><th>Image</th><th>OS</th><th>Arch</th><th>Method</th><th>Nodeset</th><th>Last snapshot</th><th>Signer</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="8" class="muted">No images in the osimage table yet. <a href="/ui/import">Import a bundle</a>.</td></tr>`}</tbody></table>
<fieldset class="bar"><legend>Bulk snapshot</legend><label>Label <input name="label" maxlength="64" placeholder="before-update"></label>
<button type="submit" name="scope" value="selected">Snapshot selected</button><button type="submit" name="scope" value="all">Snapshot all images</button></fieldset></form>`,
  );
}

export interface FileState {
  column: string;
  path: string;
  exists: boolean;
  /** A directory's first entries (rootimgdir: kernel, initrd, root image). */
  entries?: Array<{ name: string; dir: boolean; size: number }>;
}

export interface ImageDetail {
  name: string;
  osimage: Row;
  linuximage?: Row;
  litefile: Row[];
  ready: boolean;
  missing: string[];
  files: FileState[];
  snapshots: SnapshotInfo[];
}

const rowTable = (title: string, row: Row | undefined) =>
  html`<section class="card"><h2>${title}</h2>${
    row
      ? html`<table class="kv">${Object.entries(row)
          .filter(([, v]) => v !== null && v !== '')
          .map(([k, v]) => html`<tr><th>${k}</th><td><code>${v}</code></td></tr>`)}</table>`
      : html`<p class="bad">no row</p>`
  }</section>`;

/** Snapshots per page of an image's timeline. */
export const TIMELINE_PAGE = 100;

export function imagePage(csrf: string, d: ImageDetail, pageNo = 1): Html {
  const pages = Math.max(1, Math.ceil(d.snapshots.length / TIMELINE_PAGE));
  const p = Math.min(pageNo, pages);
  const from = (p - 1) * TIMELINE_PAGE;
  const pager =
    pages > 1
      ? html`<p class="filters">${p > 1 ? html`<a href="?page=${p - 1}">Newer</a>` : ''}<span class="muted">${from + 1}–${Math.min(from + TIMELINE_PAGE, d.snapshots.length)} of ${d.snapshots.length}</span>${p < pages ? html`<a href="?page=${p + 1}">Older</a>` : ''}</p>`
      : '';
  const timeline = d.snapshots.slice(from, from + TIMELINE_PAGE).map(
    (s, j) => ({ s, i: from + j }),
  ).map(
    ({ s, i }) => html`<li><div class="when">${stamp(s.timestamp)}</div><div>${s.label ? html`<span class="tag">${s.label}</span> ` : ''}${bytes(s.bytes)}
<span class="muted">sha256 ${s.sha256.slice(0, 12)}…</span>${i === d.snapshots.length - 1 ? html` <span class="muted">(first)</span>` : ''}</div>
<div class="actions"><a href="/ui/snapshots/${seg(s.id)}">${i < d.snapshots.length - 1 ? 'Diff with previous' : 'View'}</a>
<a href="/ui/snapshots/${seg(s.id)}/bundle" download>Download</a><a href="/ui/snapshots/${seg(s.id)}/revert" class="danger">Revert…</a></div></li>`,
  );
  return page(
    { title: d.name, csrf, nav: 'images' },
    html`<p>${readiness(d.ready, d.missing)} ${d.osimage.osvers ?? ''} ${d.osimage.osarch ?? ''} ${d.osimage.provmethod ?? ''}</p>
${d.missing.length ? html`<ul class="bad">${d.missing.map((m) => html`<li>missing: <code>${m}</code></li>`)}</ul>` : ''}
<div class="grid">${rowTable('osimage', d.osimage)}${rowTable('linuximage', d.linuximage)}</div>
<section class="card"><h2>Files</h2><table><thead><tr><th>Column</th><th>Path</th><th></th></tr></thead><tbody>
${d.files.map((f) => html`<tr><td>${f.column}</td><td><code>${f.path}</code>${f.entries?.length ? html`<ul class="entries">${f.entries.map((e) => html`<li><code>${e.name}</code> <span class="muted">${e.dir ? 'directory' : bytes(e.size)}</span></li>`)}</ul>` : ''}</td><td>${f.exists ? html`<span class="ok">present</span>` : html`<span class="bad">absent</span>`}</td></tr>`)}
</tbody></table>${d.litefile.length ? html`<h3>litefile</h3><table><tbody>${d.litefile.map((r) => html`<tr><td><code>${r.file ?? ''}</code></td><td>${r.options ?? ''}</td></tr>`)}</tbody></table>` : ''}</section>
<div class="grid"><section class="card"><h2>Snapshots (${d.snapshots.length})</h2>
${timeline.length ? html`${pager}<ol class="timeline">${timeline}</ol>${pager}` : html`<p class="muted">No snapshots yet.</p>`}</section>
<section class="card"><h2>Export</h2><form method="post" action="/ui/exports">${csrfField(csrf)}<input type="hidden" name="image" value="${d.name}">
<label>Format <select name="format"><option value="native">native (manifest.cfg)</option><option value="xcat">xcat (manifest.xml)</option></select></label>
<label class="check"><input type="checkbox" name="includeAll" value="1"> include every list file</label><button type="submit">Export</button></form>
<h2>Snapshot now</h2><form method="post" action="/ui/snapshots">${csrfField(csrf)}<input type="hidden" name="images" value="${d.name}"><input type="hidden" name="scope" value="selected">
<label>Label <input name="label" maxlength="64"></label><button type="submit">Snapshot</button></form>
<h2>Prune</h2><form method="post" action="/ui/images/${seg(d.name)}/prune">${csrfField(csrf)}
<label>Keep the newest <input type="number" name="keep" min="0" value="3" required></label>
<label>Type the image name to confirm <input name="confirm" required autocomplete="off" placeholder="${d.name}"></label><button type="submit" class="danger">Prune</button></form></section></div>`,
  );
}

export function snapshotPage(csrf: string, s: SnapshotInfo, previous: SnapshotInfo | undefined, diff: SnapshotDiff | undefined): Html {
  const list = (title: string, xs: string[]) =>
    html`<h3>${title} (${xs.length})</h3>${xs.length ? html`<ul class="paths">${xs.map((x) => html`<li><code>${x}</code></li>`)}</ul>` : html`<p class="muted">none</p>`}`;
  const diffView = !previous
    ? html`<p class="muted">This is the image's first snapshot: nothing to compare with.</p>`
    : diff
      ? html`<div class="grid3">${list('Added', diff.added)}${list('Removed', diff.removed)}${list('Changed', diff.changed)}</div>
${diff.rows?.length ? html`<h3>Rows</h3><table><thead><tr><th>Column</th><th>Before</th><th>After</th></tr></thead><tbody>${diff.rows.map((r) => html`<tr><td>${r.column}</td><td><code>${r.before ?? '∅'}</code></td><td><code>${r.after ?? '∅'}</code></td></tr>`)}</tbody></table>` : ''}`
      : html`<p class="notice" id="diff-unavailable">Diff not available: this server cannot compare snapshots yet.</p>`;
  return page(
    { title: `${s.image} @ ${stamp(s.timestamp)}`, csrf, nav: 'images' },
    html`<section class="card"><table class="kv"><tr><th>Snapshot</th><td><code>${s.id}</code></td></tr><tr><th>Label</th><td>${s.label ?? '—'}</td></tr>
<tr><th>Size</th><td>${bytes(s.bytes)}</td></tr><tr><th>sha256</th><td><code>${s.sha256}</code></td></tr><tr><th>Taken</th><td>${when(s.createdAt)}</td></tr>
<tr><th>Previous</th><td>${previous ? html`<a href="/ui/snapshots/${seg(previous.id)}">${stamp(previous.timestamp)}</a>` : '—'}</td></tr></table>
<p class="actions"><a href="/ui/images/${seg(s.image)}">Image</a><a href="/ui/snapshots/${seg(s.id)}/bundle" download>Download</a><a href="/ui/snapshots/${seg(s.id)}/revert" class="danger">Revert…</a></p></section>
<section class="card"><h2>Diff with previous</h2>${diffView}</section>`,
  );
}

export function revertPage(csrf: string, s: SnapshotInfo, error?: string): Html {
  return page(
    { title: `Revert ${s.image}`, csrf, nav: 'images' },
    html`${error ? html`<p class="error" role="alert">${error}</p>` : ''}<form method="post" action="/ui/snapshots/${seg(s.id)}/revert" class="card narrow">${csrfField(csrf)}
<p>This replaces image <strong>${s.image}</strong> (its rows and files) with the snapshot of <strong>${stamp(s.timestamp)}</strong>${s.label ? html` (<span class="tag">${s.label}</span>)` : ''}. The current state is snapshotted first.</p>
<label>Type the image name to confirm <input name="confirm" required autocomplete="off" placeholder="${s.image}"></label>
<button type="submit" class="danger">Revert</button> <a href="/ui/images/${seg(s.image)}">Cancel</a></form>`,
  );
}


function progressBar(st: JobStatus): Html {
  const pct = Math.max(0, Math.min(100, Math.round(st.progress.percent ?? 0)));
  return html`<div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${pct}"><div style="width:${pct}%"></div><span data-f="percent">${pct}%</span></div>`;
}

const stateTag = (s: JobState) => html`<span class="state ${s}" data-f="state">${s}</span>`;

function jobRow(st: JobStatus): Html {
  return html`<tr id="job-${st.id}"><td class="id"><a href="/ui/jobs/${seg(st.id)}" title="${st.id}">${st.id}</a></td><td>${st.type}</td><td>${st.image ?? '—'}</td><td>${stateTag(st.state)}</td>
<td>${st.progress.phase}</td><td>${progressBar(st)}</td><td>${bytes(st.progress.bytesDone)} / ${bytes(st.progress.bytesTotal)}</td><td>${eta(st) ?? '—'}</td>
<td>${Math.max(0, st.attempts - 1)}</td><td class="err">${st.error ? html`<span title="${st.error.code}">${st.error.message}</span>` : ''}</td><td title="${when(st.createdAt)}">${when(st.createdAt).slice(5, 19)}</td></tr>`;
}

export function jobRows(jobs: JobStatus[], state?: string): Html {
  // Refreshed every 2 s while something runs, every 5 s otherwise (a new job shows up).
  const every = jobs.some((j) => !isFinished(j.state)) ? '2s' : '5s';
  return html`<tbody id="job-rows" hx-get="/ui/jobs/rows${state ? `?state=${state}` : ''}" hx-trigger="every ${every}" hx-swap="outerHTML">
${jobs.length ? jobs.map(jobRow) : html`<tr><td colspan="11" class="muted">No ${state ?? ''} jobs.</td></tr>`}</tbody>`;
}

export function jobsPage(csrf: string, jobs: JobStatus[], total: number, state: string | undefined): Html {
  const filter = (s: string | undefined, text: string) =>
    html`<a href="/ui/jobs${s ? `?state=${s}` : ''}"${state === s ? html` aria-current="page"` : ''}>${text}</a>`;
  return page(
    { title: 'Jobs', csrf, nav: 'jobs' },
    html`<p class="filters">${filter(undefined, 'all')}${JOB_STATES.map((s) => filter(s, s))}
<span class="muted">${jobs.length} of ${total}, newest first. <noscript><a href="">Refresh</a></noscript></span></p>
<table class="jobs"><thead><tr><th>Job</th><th>Type</th><th>Image</th><th>State</th><th>Phase</th><th>Progress</th><th>Bytes</th><th>ETA</th><th>Retries</th><th>Error</th><th>Created</th></tr></thead>
${jobRows(jobs, state)}</table>`,
  );
}

export function jobPage(csrf: string, st: JobStatus): Html {
  const done = isFinished(st.state);
  const isExport = st.type === 'export' && st.state === 'succeeded';
  const live = html`<section class="card live" id="live" data-job="${st.id}"${done ? '' : html` hx-ext="sse" sse-connect="/v1/jobs/${seg(st.id)}/events"`}>
<div${done ? '' : html` sse-swap="progress,state"`} hx-swap="none" class="figures">
<div><span class="label">State</span>${stateTag(st.state)}</div><div><span class="label">Phase</span><span data-f="phase">${st.progress.phase}</span></div>
<div><span class="label">Bytes</span><span data-f="bytes">${bytes(st.progress.bytesDone)} / ${bytes(st.progress.bytesTotal)}</span></div>
<div><span class="label">ETA</span><span data-f="eta">${eta(st) ?? '—'}</span></div><div><span class="label">Retries</span><span data-f="retries">${Math.max(0, st.attempts - 1)}</span></div>
</div>${progressBar(st)}<p class="error" role="alert" data-f="error"${st.error ? '' : html` hidden`}>${st.error ? html`<strong>${st.error.code}</strong>: ${st.error.message}` : ''}</p>
${done ? '' : html`<noscript><p class="muted">Live updates need JavaScript: <a href="">reload</a> to see the latest state.</p></noscript>`}</section>`;
  return page(
    { title: `Job ${st.id}`, csrf, nav: 'jobs' },
    html`${live}<section class="card"><table class="kv"><tr><th>Type</th><td>${st.type}</td></tr><tr><th>Image</th><td>${st.image ? html`<a href="/ui/images/${seg(st.image)}">${st.image}</a>` : '—'}</td></tr>
<tr><th>Created</th><td>${when(st.createdAt)}</td></tr><tr><th>Updated</th><td>${when(st.updatedAt)}</td></tr>
${st.parentId ? html`<tr><th>Part of</th><td><a href="/ui/jobs/${seg(st.parentId)}">${st.parentId}</a></td></tr>` : ''}</table>
${isExport ? html`<p><a class="button" href="/v1/jobs/${seg(st.id)}/bundle" download>Download bundle</a></p>` : ''}
${done ? '' : html`<form method="post" action="/ui/jobs/${seg(st.id)}/cancel">${csrfField(csrf)}<button type="submit" class="danger">Cancel job</button></form>`}
${st.children?.length ? html`<h2>Images</h2><table><tbody>${st.children.map((c) => html`<tr><td><a href="/ui/jobs/${seg(c.id)}">${c.id}</a></td><td>${c.image ?? ''}</td><td>${stateTag(c.state)}</td></tr>`)}</tbody></table>` : ''}
${st.result !== undefined ? html`<h2>Result</h2><pre>${JSON.stringify(st.result, null, 2)}</pre>` : ''}</section>`,
  );
}

export function importPage(csrf: string): Html {
  return page(
    { title: 'Import a bundle', csrf, nav: 'import' },
    html`<form method="post" action="/ui/imports" enctype="multipart/form-data" class="card narrow" id="upload">${csrfField(csrf)}
<label>Image name (optional) <input name="name" maxlength="128" placeholder="keep the bundle's"></label>
<label>Profile (optional) <input name="profile" maxlength="64"></label>
<label class="check"><input type="checkbox" name="force" value="1"> replace an existing image (snapshotted first)</label>
<label class="check"><input type="checkbox" name="dryRun" value="1"> dry run: plan only, write nothing</label>
<label>Bundle (.tgz, .tar, .tar.xz) <input type="file" name="bundle" required></label>
<button type="submit">Upload and import</button>
<div class="progress" id="upload-progress" hidden><div style="width:0%"></div><span>0%</span></div><p class="error" id="upload-error" role="alert" hidden></p></form>`,
  );
}
