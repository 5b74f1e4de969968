/**
 * `imgport verify`: the signature, the signer's trust and every member's checksum of a bundle,
 * read as a stream with nothing written and nothing imported.
 */
import { scanBundle } from '@imgport/archive';
import { parseSha256Sums } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import { openSource, type DownloadOptions } from '../import/source.js';
import { signatureGate, type SignatureReport, type TrustOptions } from './signatures.js';
import type { EngineDeps } from '../types.js';

export interface VerifyResult {
  source: string;
  signature: SignatureReport;
  /** Members whose sha256 matched SHA256SUMS. */
  verified: number;
  bytes: number;
  durationMs: number;
}

export async function verifyBundle(
  source: string,
  deps: Pick<EngineDeps, 'limits'> & { trust: TrustOptions; download?: DownloadOptions },
  signal?: AbortSignal,
): Promise<VerifyResult> {
  const started = Date.now();
  const input = await openSource(source, signal, deps.download);
  let signature: SignatureReport | undefined;
  const scanned = await scanBundle(input.stream, {
    headGate: signatureGate(deps.trust, (r) => (signature = r)),
    ...(deps.limits ? { limits: deps.limits } : {}),
    ...(signal ? { signal } : {}),
  });
  if (!scanned.sums) throw new ImgportError('CHECKSUM_MISMATCH', `${source} has no SHA256SUMS: nothing says what its members should hash to`);
  const prefix = scanned.sums.name.slice(0, -'SHA256SUMS'.length);
  const listed = parseSha256Sums(scanned.sums.data.toString('utf8'));
  for (const [name, expected] of listed) {
    const got = scanned.files.get(prefix + name);
    if (got === undefined) throw new ImgportError('CHECKSUM_MISMATCH', `SHA256SUMS lists "${name}" but the bundle has no such file`, { where: name });
    if (got !== expected.toLowerCase()) {
      throw new ImgportError('CHECKSUM_MISMATCH', `${name}: sha256 mismatch (SHA256SUMS says ${expected}, the data hashes to ${got})`, { where: name });
    }
  }
  for (const name of scanned.files.keys()) {
    const rel = name.startsWith(prefix) ? name.slice(prefix.length) : undefined;
    if (rel === 'SHA256SUMS' || rel === 'SHA256SUMS.sig') continue;
    if (rel === undefined || !listed.has(rel)) throw new ImgportError('CHECKSUM_MISMATCH', `bundle file "${name}" is not listed in SHA256SUMS`, { where: name });
  }
  return { source, signature: signature!, verified: listed.size, bytes: scanned.bytesIn, durationMs: Date.now() - started };
}
