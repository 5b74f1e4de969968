/**
 * Signing a bundle's SHA256SUMS: an unencrypted OpenSSH ed25519 key file in-process; any other
 * key ssh-keygen can use (encrypted, RSA/ECDSA, ssh-agent through a .pub, FIDO) by running
 * `ssh-keygen -Y sign -f KEY -n imgport-bundle` without a shell, the sums on its stdin.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { ImgportError } from '@imgport/runtime';
import { BUNDLE_NAMESPACE, checkSshSig, decodeSshSig, fingerprint, parsePrivateKey, signSshSig, signSshSigDigest, WireError } from '@imgport/trust';

export type Signer = (sums: Buffer) => Promise<Buffer>;

export interface SigningKey {
  path: string;
  /** How it signs: in-process, or through ssh-keygen (and why). */
  via: 'in-process' | 'ssh-keygen';
  sign: Signer;
  /** Signs a whole file, streamed (a detached `<bundle>.sig`). */
  signFile(path: string): Promise<Buffer>;
  /** Signs other data under another namespace (a catalog's index.json: imgport-catalog). */
  signAs(namespace: string, data: Buffer): Promise<Buffer>;
}

export function loadSigningKey(path: string, o: { sshKeygen?: string } = {}): SigningKey {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ImgportError('NOT_FOUND', `cannot read the signing key ${path}: ${(err as Error).message}`, { where: path, cause: err });
  }
  let parsed: ReturnType<typeof parsePrivateKey>;
  try {
    parsed = parsePrivateKey(text, path);
  } catch (err) {
    throw new ImgportError('BAD_REQUEST', err instanceof WireError ? err.message : String(err), { where: path, cause: err });
  }
  if (parsed.kind === 'ed25519') {
    const key = parsed;
    return {
      path,
      via: 'in-process',
      sign: async (sums) => Buffer.from(signSshSig(key, BUNDLE_NAMESPACE, sums)),
      signFile: async (file) => {
        const h = createHash('sha512');
        for await (const c of createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(c as Buffer);
        return Buffer.from(signSshSigDigest(key, BUNDLE_NAMESPACE, h.digest()));
      },
      signAs: async (namespace, data) => Buffer.from(signSshSig(key, namespace, data)),
    };
  }
  const program = o.sshKeygen ?? 'ssh-keygen';
  return {
    path,
    via: 'ssh-keygen',
    sign: (sums) => sshKeygenSign(program, path, sums),
    signFile: (file) => sshKeygenSign(program, path, file),
    signAs: (namespace, data) => sshKeygenSign(program, path, data, namespace),
  };
}

/** `ssh-keygen -Y sign` of `input` (bytes, or a file streamed to its stdin), its output checked. */
function sshKeygenSign(program: string, key: string, input: Buffer | string, namespace = BUNDLE_NAMESPACE): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['-Y', 'sign', '-f', key, '-n', namespace], { stdio: ['pipe', 'pipe', 'pipe'], shell: false });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => reject(new ImgportError('IO_ERROR', `cannot run ${program} to sign with ${key}: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (code !== 0) {
        reject(new ImgportError('BAD_REQUEST', `${program} -Y sign -f ${key} failed (exit ${code}): ${stderr || 'no message'}`, { where: key }));
        return;
      }
      const sig = Buffer.concat(out);
      try {
        const decoded = decodeSshSig(sig.toString('utf8'), `${program} output`);
        if (decoded.namespace !== namespace) throw new WireError(`namespace ${decoded.namespace}`);
        const check = typeof input === 'string' ? undefined : checkSshSig(decoded, namespace, input);
        if (check && !check.ok) throw new WireError(check.message);
      } catch (e) {
        reject(new ImgportError('INTERNAL', `${program} -Y sign produced a signature imgport cannot verify: ${(e as Error).message}`, { cause: e }));
        return;
      }
      resolve(sig);
    });
    child.stdin.on('error', () => undefined);
    if (typeof input === 'string') createReadStream(input, { highWaterMark: 1024 * 1024 }).on('error', (e) => child.stdin.destroy(e)).pipe(child.stdin);
    else child.stdin.end(input);
  });
}

export { fingerprint };
