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
  if (head.sig && !head.sums) {
    throw new ImgportError('SIGNATURE_INVALID', `${where} is not preceded by the SHA256SUMS it signs; a signed bundle opens with SHA256SUMS, then SHA256SUMS.sig`, { where });
  }
  return judgeSigned(head.sums ?? Buffer.alloc(0), head.sig, trust, {
    noun: 'the bundle',
    where,
    unsignedRequire: `the bundle is not signed (no SHA256SUMS.sig right after SHA256SUMS at its head) and IMGPORT_SIGNATURES=require; ask its maker for a signed bundle (xcatexport --sign)`,
    unsignedWarn: 'the bundle is not signed: who made it is unknown (IMGPORT_SIGNATURES=require refuses such bundles)',
  });
}

/** What a signature covers, in the verdict's messages. */
export interface SignedSubject {
  /** 'the bundle', 'store snapshot img@stamp' */
  noun: string;
  /** Where the signature is (a member name, a ref file). */
  where: string;
  unsignedRequire: string;
  unsignedWarn: string;
  /** The sshsig namespace the signature must be made for (default: imgport-bundle). */
  namespace?: string;
}

/**
 * The same verdict for any detached sshsig: a catalog's index.json.sig (namespace
 * imgport-catalog), the signature referrer of an OCI artifact. `sig` undefined: unsigned.
 */
export function judgeSignature(sig: Buffer | undefined, message: Buffer, trust: TrustOptions, o: { namespace: string; where: string; what: string }): SignatureReport {
  return judgeSigned(message, sig, trust, {
    noun: o.what,
    where: o.where,
    namespace: o.namespace,
    unsignedRequire: `${o.what} is not signed (no ${o.where}) and IMGPORT_SIGNATURES=require`,
    unsignedWarn: `${o.what} is not signed: who made it is unknown (IMGPORT_SIGNATURES=require refuses it)`,
  });
}

/**
 * The trust policy applied to `data` and its armored SSHSIG `sig` (absent: unsigned), in the
 * subject's namespace (the bundle namespace unless it names another): bundles' SHA256SUMS, store
 * snapshots' refs, catalog indexes and OCI signature referrers are judged alike.
 */
export function judgeSigned(data: Buffer, sigText: Buffer | undefined, trust: TrustOptions, subject: SignedSubject): SignatureReport {
  const { noun, where } = subject;
  const warnings: string[] = [];
  const policy = trust.policy;
  if (!sigText) {
    if (policy === 'require') throw new ImgportError('SIGNATURE_MISSING', subject.unsignedRequire, { where });
    if (policy === 'warn') warnings.push(subject.unsignedWarn);
    return { status: 'unsigned', policy, warnings };
  }
  const sig = decode(sigText, where, noun);
  const check = wire(where, noun, () => checkSshSig(sig, subject.namespace ?? BUNDLE_NAMESPACE, data));
  if (!check.ok) throw new ImgportError('SIGNATURE_INVALID', `${where}: ${check.message}; ${noun} is refused`, { where });
  const cert = sig.certificate;
  const signer: SignerInfo = {
    principal: null,
    fingerprint: check.fingerprint,
    keyType: cert ? ED25519_CERT : sig.publicKey.type,
    trusted: false,
    ...(cert ? { certificate: { keyId: cert.keyId, ca: fingerprint(cert.ca) } } : {}),
  };
  checkRevoked(sig, trust, signer.fingerprint, noun);
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
  const verdict = checkTrust(signers, sig.publicKey, { namespace: subject.namespace ?? BUNDLE_NAMESPACE, now, source: trust.allowedSigners, ...(cert ? { certificate: cert } : {}) });
  if (verdict.trusted) return { status: 'signed', policy, signer: { ...signer, principal: verdict.principals, trusted: true }, warnings };
  switch (verdict.reason) {
    case 'expired':
    case 'not-yet-valid':
      throw new ImgportError('SIGNER_EXPIRED', `signed by ${signer.fingerprint}, but ${verdict.message}; ${noun} is refused`, { where });
    case 'namespace':
      throw new ImgportError('SIGNER_UNTRUSTED', `signed by ${signer.fingerprint}, but ${verdict.message}; ${noun} is refused`, { where });
    default:
      if (policy === 'require') throw new ImgportError('SIGNER_UNTRUSTED', `signed by ${signer.fingerprint}, who is not trusted: ${verdict.message}`, { where });
      warnings.push(`${noun} is signed by ${signer.fingerprint}, who is not trusted: ${verdict.message}`);
      return { status: 'signed', policy, signer, warnings };
  }
}

function decode(sig: Buffer, where: string, noun: string): SshSig {
  return wire(where, noun, () => decodeSshSig(sig.toString('utf8'), where));
}

/** Codec errors are the signature's fault (an ssh-rsa SHA-1 signature, a truncated blob...). */
function wire<T>(where: string, noun: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof UnsupportedKeyError) throw new ImgportError('SIGNER_UNTRUSTED', `${err.message}; ${noun} is refused`, { where, cause: err });
    if (err instanceof WireError) throw new ImgportError('SIGNATURE_INVALID', `${err.message}; ${noun} is refused`, { where, cause: err });
    throw err;
  }
}

function checkRevoked(sig: SshSig, trust: TrustOptions, fp: string, noun: string): void {
  if (!trust.revokedSigners) return;
  const data = readOptional(trust.revokedSigners, true);
  if (data === undefined) return;
  // A certificate is revoked with its own key, the certificate itself, or its CA.
  const mine = [sig.publicKey.blob, ...(sig.certificate ? [sig.certificate.blob, sig.certificate.ca.blob] : [])];
  if (parseRevokedKeys(data, trust.revokedSigners).some((b) => mine.some((m) => m.equals(b)))) {
    throw new ImgportError('SIGNER_REVOKED', `${noun} is signed by ${fp}, a key revoked in ${trust.revokedSigners}; ${noun} is refused`, { where: trust.revokedSigners });
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
