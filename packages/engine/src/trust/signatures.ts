/**
 * The trust policy (IMGPORT_SIGNATURES) applied to a bundle's head: its SHA256SUMS signature is
 * checked in-process against an OpenSSH allowed_signers file and a revocation list, before
 * anything else of the bundle is written. `require` refuses unsigned bundles and unknown signers,
 * `warn` imports them with a warning, `off` asks nothing; a bad signature (changed data, another
 * namespace, an expired, revoked or explicitly restricted signer) is refused in every mode.
 */
import { readFileSync } from 'node:fs';
import type { BundleHead, HeadGate } from '@imgport/archive';
import { ImgportError } from '@imgport/runtime';
import {
  BUNDLE_NAMESPACE,
  checkSshSig,
  checkTrust,
  decodeSshSig,
  ED25519_CERT,
  fingerprint,
  parseAllowedSigners,
  parseRevokedKeys,
  UnsupportedKeyError,
  WireError,
  type SshSig,
} from '@imgport/trust';

export type SignaturePolicy = 'require' | 'warn' | 'off';

export interface TrustOptions {
  policy: SignaturePolicy;
  /** OpenSSH allowed_signers file. */
  allowedSigners: string;
  /** Revoked public keys, one a line; a missing file revokes nothing. */
  revokedSigners?: string;
  /** Seconds since the epoch (tests). */
  now?: () => number;
}

export interface SignerInfo {
  /** The principals of the allowed_signers line that trusts the key; null when none does. */
  principal: string | null;
  /** `SHA256:…` of the signing key, as ssh-keygen -l prints it. */
  fingerprint: string;
  keyType: string;
  trusted: boolean;
  /** When the signer presented an OpenSSH certificate: its key id and the CA's fingerprint. */
  certificate?: { keyId: string; ca: string };
}

export interface SignatureReport {
  /** signed: a good signature (see signer.trusted); unsigned: no SHA256SUMS.sig. */
  status: 'signed' | 'unsigned';
  policy: SignaturePolicy;
  signer?: SignerInfo;
  warnings: string[];
}

/** A gate for openBundle/scanBundle; the verdict lands in `report` once the head is read. */
export function signatureGate(trust: TrustOptions, onVerdict: (r: SignatureReport) => void): HeadGate {
  return (head) => onVerdict(judgeHead(head, trust));
}

export function judgeHead(head: BundleHead, trust: TrustOptions): SignatureReport {
  const where = `${head.prefix}SHA256SUMS.sig`;
  const warnings: string[] = [];
  const policy = trust.policy;
  if (!head.sig) {
    if (policy === 'require') {
      throw new ImgportError('SIGNATURE_MISSING', `the bundle is not signed (no SHA256SUMS.sig right after SHA256SUMS at its head) and IMGPORT_SIGNATURES=require; ask its maker for a signed bundle (xcatexport --sign)`);
    }
    if (policy === 'warn') warnings.push('the bundle is not signed: who made it is unknown (IMGPORT_SIGNATURES=require refuses such bundles)');
    return { status: 'unsigned', policy, warnings };
  }
  if (!head.sums) {
    throw new ImgportError('SIGNATURE_INVALID', `${where} is not preceded by the SHA256SUMS it signs; a signed bundle opens with SHA256SUMS, then SHA256SUMS.sig`, { where });
  }
  return judgeSignature(head.sig, head.sums, trust, { namespace: BUNDLE_NAMESPACE, where, what: 'the bundle' });
}

/**
 * The same verdict for any detached sshsig: a catalog's index.json.sig (namespace
 * imgport-catalog), the signature referrer of an OCI artifact. `sig` undefined: unsigned.
 */
export function judgeSignature(sigBytes: Buffer | undefined, message: Buffer, trust: TrustOptions, o: { namespace: string; where: string; what: string }): SignatureReport {
  const { where, what, namespace } = o;
  const warnings: string[] = [];
  const policy = trust.policy;
  if (!sigBytes) {
    if (policy === 'require') throw new ImgportError('SIGNATURE_MISSING', `${what} is not signed (no ${where}) and IMGPORT_SIGNATURES=require`, { where });
    if (policy === 'warn') warnings.push(`${what} is not signed: who made it is unknown (IMGPORT_SIGNATURES=require refuses it)`);
    return { status: 'unsigned', policy, warnings };
  }
  const sig = decode(sigBytes, where);
  const check = wire(where, () => checkSshSig(sig, namespace, message));
  if (!check.ok) throw new ImgportError('SIGNATURE_INVALID', `${where}: ${check.message}; ${what} is refused`, { where });
  const cert = sig.certificate;
  const signer: SignerInfo = {
    principal: null,
    fingerprint: check.fingerprint,
    keyType: cert ? ED25519_CERT : sig.publicKey.type,
    trusted: false,
    ...(cert ? { certificate: { keyId: cert.keyId, ca: fingerprint(cert.ca) } } : {}),
  };
  checkRevoked(sig, trust, signer.fingerprint);
  if (policy === 'off') return { status: 'signed', policy, signer, warnings };

  const text = readOptional(trust.allowedSigners);
  if (text === undefined) {
    const msg = `no trust store at ${trust.allowedSigners} (IMGPORT_ALLOWED_SIGNERS), so the signer ${signer.fingerprint} cannot be trusted`;
    if (policy === 'require') throw new ImgportError('SIGNER_UNTRUSTED', `${msg}; add the signer's public key to that file in OpenSSH's allowed_signers format`, { where: trust.allowedSigners });
    warnings.push(msg);
    return { status: 'signed', policy, signer, warnings };
  }
  const signers = parseAllowedSigners(text, trust.allowedSigners);
  const now = trust.now ? trust.now() : Math.floor(Date.now() / 1000);
  const verdict = checkTrust(signers, sig.publicKey, { namespace, now, source: trust.allowedSigners, ...(cert ? { certificate: cert } : {}) });
  if (verdict.trusted) return { status: 'signed', policy, signer: { ...signer, principal: verdict.principals, trusted: true }, warnings };
  switch (verdict.reason) {
    case 'expired':
    case 'not-yet-valid':
      throw new ImgportError('SIGNER_EXPIRED', `signed by ${signer.fingerprint}, but ${verdict.message}; ${what} is refused`, { where });
    case 'namespace':
      throw new ImgportError('SIGNER_UNTRUSTED', `signed by ${signer.fingerprint}, but ${verdict.message}; ${what} is refused`, { where });
    default:
      if (policy === 'require') throw new ImgportError('SIGNER_UNTRUSTED', `signed by ${signer.fingerprint}, who is not trusted: ${verdict.message}`, { where });
      warnings.push(`${what} is signed by ${signer.fingerprint}, who is not trusted: ${verdict.message}`);
      return { status: 'signed', policy, signer, warnings };
  }
}

function decode(sig: Buffer, where: string): SshSig {
  return wire(where, () => decodeSshSig(sig.toString('utf8'), where));
}

/** Codec errors are the signature's fault (an ssh-rsa SHA-1 signature, a truncated blob...). */
function wire<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof UnsupportedKeyError) throw new ImgportError('SIGNER_UNTRUSTED', `${err.message}; the bundle is refused`, { where, cause: err });
    if (err instanceof WireError) throw new ImgportError('SIGNATURE_INVALID', `${err.message}; the bundle is refused`, { where, cause: err });
    throw err;
  }
}

function checkRevoked(sig: SshSig, trust: TrustOptions, fp: string): void {
  if (!trust.revokedSigners) return;
  const data = readOptional(trust.revokedSigners, true);
  if (data === undefined) return;
  // A certificate is revoked with its own key, the certificate itself, or its CA.
  const mine = [sig.publicKey.blob, ...(sig.certificate ? [sig.certificate.blob, sig.certificate.ca.blob] : [])];
  if (parseRevokedKeys(data, trust.revokedSigners).some((b) => mine.some((m) => m.equals(b)))) {
    throw new ImgportError('SIGNER_REVOKED', `the bundle is signed by ${fp}, a key revoked in ${trust.revokedSigners}; the bundle is refused`, { where: trust.revokedSigners });
  }
}

function readOptional(path: string): string | undefined;
function readOptional(path: string, raw: true): Buffer | undefined;
function readOptional(path: string, raw?: true): string | Buffer | undefined {
  try {
    return raw ? readFileSync(path) : readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ImgportError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`, { where: path, cause: err });
  }
}
