import type { ExportResult, ImportResult } from '@imgport/engine';
import type { JobDoc } from './remote-client.js';
import { importSummary, table } from './report.js';
import { formatBytes } from './units.js';

/** `imgport jobs`: one line per job, newest first. */
export function jobsSummary(jobs: JobDoc[], total: number): string {
  if (jobs.length === 0) return 'No jobs';
  const rows = jobs.map((j) => [j.id, j.type, j.state, j.image ?? '', progressCell(j), j.createdAt]);
  const shown = total > jobs.length ? `\n(${jobs.length} of ${total}; --limit shows more)` : '';
  return table([['ID', 'TYPE', 'STATE', 'IMAGE', 'PROGRESS', 'CREATED'], ...rows]) + shown;
}

/** A running job's phase and percent; a failed one's error code. */
function progressCell(j: JobDoc): string {
  if (j.error) return j.error.code;
  if (j.state === 'running') return `${j.progress.phase} ${Math.round(j.progress.percent)}%`;
  return '';
}

/** `imgport job <id>`. */
export function jobSummary(j: JobDoc): string {
  const p = j.progress;
  const bytes = p.bytesTotal > 0 ? `${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}` : formatBytes(p.bytesDone);
  const lines = [
    `${j.id}  ${j.type}  ${j.state}${j.image ? `  ${j.image}` : ''}`,
    `  progress: ${p.phase} ${Math.round(p.percent)}%, ${bytes}`,
    `  attempts: ${j.attempts}; created ${j.createdAt}, updated ${j.updatedAt}`,
  ];
  if (j.error) lines.push(`  error: ${j.error.message} [${j.error.code}]`);
  for (const c of j.children ?? []) lines.push(`  child ${c.id}  ${c.image ?? ''}  ${c.state}`);
  if (j.state === 'succeeded' && j.type === 'import') lines.push(importSummary(j.result as ImportResult));
  if (j.state === 'succeeded' && j.type === 'export') {
    const r = j.result as ExportResult;
    lines.push(`  bundle: ${formatBytes(r.bytes)}, sha256 ${r.sha256} (download: GET /v1/jobs/${j.id}/bundle)`);
  }
  return lines.join('\n');
}
