/**
 * What the catalog needs of the trust policy, as a port: the engine's judgeSignature (policy
 * off/warn/require, allowed_signers, revocation) bound to the configured trust store.
 */
export interface SignatureVerdict {
  status: 'signed' | 'unsigned';
  signer?: { fingerprint: string; principal: string | null; trusted: boolean };
  warnings: string[];
}

/** Judges a detached sshsig over `message`; throws an ImgportError when the policy refuses it. */
export type Judge = (sig: Buffer | undefined, message: Buffer, o: { namespace: string; where: string; what: string }) => SignatureVerdict;
