/**
 * Who signed each imported image, in imgport's own bookkeeping (never in xCAT's tables):
 * `<IMGPORT_DATA>/provenance/<image>.json`, replaced atomically by each import of the image.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateImageName } from '@imgport/format';
import type { SignatureReport, SignerInfo } from './signatures.js';

export interface Provenance {
  image: string;
  importedAt: string;
  /** signed / unsigned, under which policy. */
  status: SignatureReport['status'];
  policy: SignatureReport['policy'];
  signer: SignerInfo | null;
}

const dirOf = (dataDir: string) => join(dataDir, 'provenance');

export function writeProvenance(dataDir: string, image: string, report: SignatureReport, now = new Date()): Provenance {
  validateImageName(image, 'image', 'INTERNAL');
  const p: Provenance = { image, importedAt: now.toISOString(), status: report.status, policy: report.policy, signer: report.signer ?? null };
  const dir = dirOf(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${image}.${randomBytes(4).toString('hex')}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(p, null, 2)}\n`, { flag: 'wx', mode: 0o644 });
  try {
    renameSync(tmp, join(dir, `${image}.json`));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return p;
}

/** The image's record, or undefined when it was imported before signatures (or not by imgport). */
export function readProvenance(dataDir: string, image: string): Provenance | undefined {
  try {
    validateImageName(image, 'image', 'BAD_REQUEST');
    return JSON.parse(readFileSync(join(dirOf(dataDir), `${image}.json`), 'utf8')) as Provenance;
  } catch {
    return undefined;
  }
}
