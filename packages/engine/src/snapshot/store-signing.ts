/**
 * Store snapshots are signed like bundles: the site key (IMGPORT_SIGNING_KEY) signs a statement of
 * the ref — what it is (image, stamp, parent, label, time, roots) and what it holds (its tree, base
 * and rows objects; the tree names every content object by its SHA-256, and every object read is
 * checked against its name) — in the bundle namespace, with a header no SHA256SUMS can have.
 * Pinning is left out (an admin changes it). A revert or an export judges the signature under the
 * trust policy as an import judges a bundle's (signatures.ts).
 */
import { canonicalJson, type StoreRef } from '@imgport/store';
import { decodeSshSig, fingerprint } from '@imgport/trust';
import { judgeSigned, type SignatureReport, type TrustOptions } from '../trust/signatures.js';
import type { SigningKey } from '../trust/signing.js';

const HEADER = 'imgport store snapshot ref v1\n';

/** The bytes a ref's signature covers. */
export function refStatement(ref: StoreRef): Buffer {
  const { sig: _sig, signer: _signer, pinned: _pinned, ...signed } = ref;
  return Buffer.from(`${HEADER}${canonicalJson(signed)}\n`);
}

/** The ref with its signature and signer (the key's fingerprint). */
export async function signRef(ref: StoreRef, key: SigningKey): Promise<StoreRef> {
  const sig = await key.sign(refStatement(ref));
  const text = sig.toString('utf8');
  return { ...ref, signer: fingerprint(decodeSshSig(text).publicKey), sig: text };
}

/**
 * The trust policy's verdict on a ref (`file` names it in messages): a bad signature is refused
 * in every mode; `require` refuses unsigned refs and untrusted signers.
 */
export function judgeRef(ref: StoreRef, trust: TrustOptions, file: string): SignatureReport {
  const noun = `store snapshot ${ref.id}`;
  return judgeSigned(refStatement(ref), ref.sig === undefined ? undefined : Buffer.from(ref.sig, 'utf8'), trust, {
    noun,
    where: file,
    unsignedRequire: `${noun} is not signed and IMGPORT_SIGNATURES=require; snapshots are signed when IMGPORT_SIGNING_KEY is set (take a new one, or export it from a host that trusts it)`,
    unsignedWarn: `${noun} is not signed: nothing proves it was taken here (IMGPORT_SIGNATURES=require refuses such snapshots)`,
  });
}
