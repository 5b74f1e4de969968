import type { ExportResult, ImportResult, SnapshotInfo } from '@imgport/engine';
import type { Row } from '@imgport/tables';
import { formatBytes, formatDuration } from './units.js';

/** Long path lists (many extras) are cut here; --json always has them all. */
const MAX_PATHS = 20;

function list(title: string, items: string[]): string[] {
  if (items.length === 0) return [];
  const shown = items.slice(0, MAX_PATHS).map((p) => `    ${p}`);
  if (items.length > MAX_PATHS) shown.push(`    … and ${items.length - MAX_PATHS} more (--json lists all)`);
  return [`  ${title}:`, ...shown];
}

function warnings(ws: string[]): string[] {
  return ws.map((w) => `  warning: ${w}`);
}

export function importSummary(r: ImportResult): string {
  const verb = r.dryRun ? 'Dry run: would import' : 'Imported';
  const lines = [
    `${verb} ${r.name} (${r.method}) in ${formatDuration(r.durationMs)}: ${r.entries} entries, ${formatBytes(r.bytes)} read`,
    ...list(r.dryRun ? 'would write' : 'wrote', r.paths),
    `  rows${r.dryRun ? ' (not written)' : ''}: ${rowsLine(r)}`,
  ];
  if (r.snapshot) lines.push(`  snapshot of the replaced image: ${r.snapshot.id} (${r.snapshot.path})`);
  if (r.signature?.signer) lines.push(`  signed by: ${signerLine(r.signature.signer)}`);
  lines.push(...warnings(r.warnings));
  if (r.dryRun) lines.push('  nothing was written');
  return lines.join('\n');
}

/** `osimage provmethod=netboot osvers=… ; linuximage rootimgdir=… ; litefile 3 rows`. */
function rowsLine(r: ImportResult): string {
  const os = pick(r.rows.osimage, ['provmethod', 'osvers', 'osarch', 'profile']);
  const linux = pick(r.rows.linuximage, ['template', 'rootimgdir']);
  return `osimage ${os}; linuximage ${linux || '(no path columns)'}; litefile ${r.rows.litefile.length} rows`;
}

function pick(row: Row, cols: string[]): string {
  return cols
    .filter((c) => row[c] !== undefined && row[c] !== null && row[c] !== '')
    .map((c) => `${c}=${row[c]}`)
    .join(' ');
}

export function exportSummary(r: ExportResult): string {
  return [
    `Exported ${r.image} (${r.method}, ${r.format} format) in ${formatDuration(r.durationMs)}`,
    `  bundle: ${r.path} (${formatBytes(r.bytes)}, sha256 ${r.sha256})`,
    ...(r.signer ? [`  signed with: ${r.signer.fingerprint} (${r.signer.key})`] : []),
    `  members: ${r.members.length} (${r.members.slice(0, 6).join(', ')}${r.members.length > 6 ? ', …' : ''})`,
    ...warnings(r.warnings),
  ].join('\n');
}

export function signerLine(s: { principal: string | null; fingerprint: string; keyType: string; trusted: boolean }): string {
  return s.trusted ? `${s.principal} (${s.keyType} ${s.fingerprint})` : `${s.keyType} ${s.fingerprint}, not a trusted signer`;
}

export function snapshotLine(s: SnapshotInfo): string {
  const label = s.label ? `  "${s.label}"` : '';
  return `${s.id}  ${formatBytes(s.bytes).padStart(10)}  ${s.createdAt}${label}\n    ${s.path}`;
}

export function snapshotsSummary(items: SnapshotInfo[], image?: string): string {
  if (items.length === 0) return image ? `No snapshots of ${image}` : 'No snapshots';
  return [`${items.length} snapshot${items.length === 1 ? '' : 's'}:`, ...items.map(snapshotLine)].join('\n');
}

export function imagesSummary(images: Array<{ osimage: Row; linuximage?: Row; signature?: { signer: { principal: string | null; fingerprint: string; trusted: boolean } | null } | null }>): string {
  if (images.length === 0) return 'No images';
  const rows = images.map(({ osimage: o, linuximage: l, signature: sig }) => [
    o.imagename ?? '',
    o.provmethod ?? '',
    o.osvers ?? '',
    o.osarch ?? '',
    l?.rootimgdir ?? l?.template ?? (l ? '' : '(no linuximage row)'),
    !sig ? '-' : !sig.signer ? 'unsigned' : sig.signer.trusted ? `${sig.signer.principal}` : `untrusted ${sig.signer.fingerprint}`,
  ]);
  return table([['NAME', 'METHOD', 'OS', 'ARCH', 'FILES', 'SIGNED BY'], ...rows]);
}

/** Columns padded to their widest cell; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
