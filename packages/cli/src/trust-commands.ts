/**
 * `imgport key generate` and `imgport verify`: signing keys and checking bundles, no database.
 * The engine and the signature codecs load when a command runs, not for `--help`.
 */
import { writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Provenance } from '@imgport/engine';
import { ImgportError } from '@imgport/runtime/errors';
import { sub } from './program.js';
import { signerLine } from './report.js';
import type { Cli, CommonFlags } from './run.js';

export function defineTrust(program: Command, cli: Cli): void {
  const key = program.command('key').description('signing keys');
  sub<CommonFlags & { comment?: string }>(key, cli, 'generate <file>', 'write a new ed25519 signing key pair: <file> (private, 0600) and <file>.pub', ([file], f) => ({
    standalone: async () => {
      const path = resolve(file!);
      const principal = f.comment ?? defaultPrincipal();
      const { BUNDLE_NAMESPACE, fingerprint, generateEd25519 } = await import('@imgport/trust');
      const pair = generateEd25519(principal);
      writeNew(path, pair.privateText, 0o600);
      writeNew(`${path}.pub`, pair.publicLine, 0o644);
      const fp = fingerprint(pair.key.publicKey);
      const allowed = `${principal} namespaces="${BUNDLE_NAMESPACE}" ${pair.publicLine.trim()}`;
      return {
        doc: { privateKey: path, publicKey: `${path}.pub`, fingerprint: fp, principal, allowedSignersLine: allowed },
        human: [
          `Wrote ${path} (private: keep it, unencrypted, readable by you only) and ${path}.pub`,
          `  fingerprint: ${fp}`,
          `  sign with: xcatexport --sign ${path} <image>  (or IMGPORT_SIGNING_KEY=${path} for the services)`,
          '  on every importing node, add this line to the allowed_signers file (IMGPORT_ALLOWED_SIGNERS):',
          `    ${allowed}`,
        ].join('\n'),
      };
    },
  })).option('-C, --comment <principal>', 'the principal named in the key and the allowed_signers line (default user@host)');

  sub<CommonFlags & { allowUnsigned?: boolean }>(program, cli, 'verify <bundle>', 'check a bundle (file or URL): signature, signer trust and every checksum, importing nothing', ([source], f) => ({
    standalone: async (ui) => {
      const [{ loadConfig }, { verifyBundle }, { trustOptions }] = await Promise.all([import('@imgport/runtime'), import('@imgport/engine'), import('./context.js')]);
      const config = loadConfig(cli.env);
      const trust = { ...trustOptions(config), policy: f.allowUnsigned ? ('warn' as const) : ('require' as const) };
      const r = await verifyBundle(source!, { trust, limits: config.limits }, ui.signal);
      const who = r.signature.signer ? signerLine(r.signature.signer) : 'nobody (unsigned)';
      return {
        doc: r,
        human: [`Verified ${source}: ${r.verified} members match SHA256SUMS`, `  signed by: ${who}`, ...r.signature.warnings.map((w) => `  warning: ${w}`)].join('\n'),
      };
    },
  })).option('--allow-unsigned', 'accept an unsigned bundle or an unknown signer with a warning (default: refuse, exit 1)');
}

function defaultPrincipal(): string {
  let user = 'imgport';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry: keep the default
  }
  return `${user}@${hostname()}`;
}

function writeNew(path: string, text: string, mode: number): void {
  try {
    writeFileSync(path, text, { flag: 'wx', mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ImgportError('CONFLICT', `${path} already exists; imgport never overwrites a key: choose another name`, { where: path });
    throw err;
  }
}

/** Each image with the signer its import recorded (null: imported before signatures, or not by imgport). */
export async function withSigners<T extends { osimage: { imagename?: unknown } }>(images: T[], dataDir: string): Promise<Array<T & { signature: Provenance | null }>> {
  const { readProvenance } = await import('@imgport/engine');
  return images.map((i) => ({ ...i, signature: readProvenance(dataDir, String(i.osimage.imagename ?? '')) ?? null }));
}
