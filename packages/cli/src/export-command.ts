import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ExportOptions } from '@imgport/engine';
import { LIST_KINDS, type ListKind } from '@imgport/format/model';
import { withCommonFlags } from './program.js';
import { exportSummary } from './report.js';
import { execute, type Cli, type CommonFlags } from './run.js';

export interface ExportFlags extends CommonFlags {
  extra: string[];
  format: 'native' | 'xcat';
  include?: ExportOptions['include'];
  sign?: string;
  detachedSig?: boolean;
}

/** `xcatexport <image> [destination]` and `imgport export`: SPEC §8.1. */
export function defineExport(cmd: Command, cli: Cli): Command {
  cmd
    .argument('<image>', 'osimage name')
    .argument('[destination]', 'bundle file or directory (default ./<image>.tgz)')
    .option('-e, --extra <src[:destdir]>', 'also carry SRC, to be placed in DESTDIR on import (repeatable)', collect, [])
    .addOption(new Option('--format <format>', 'bundle format').choices(['native', 'xcat']).default('native'))
    .option('--sign <key>', 'sign SHA256SUMS with this OpenSSH key (an ed25519 key file in-process; other keys, an agent .pub or FIDO through ssh-keygen) (default IMGPORT_SIGNING_KEY)')
    .option('--detached-sig', 'with a signature, also write <bundle>.sig over the whole bundle (checkable with ssh-keygen -Y verify)')
    .option('--include <list>', `list files to carry (native: none by default; xcat: all by default): all, or a comma list of ${LIST_KINDS.join(', ')}`, parseInclude);
  return withCommonFlags(cmd).action(async (image: string, destination: string | undefined, flags: ExportFlags) => {
    cli.exit = await execute(cli, flags, {
      inline: async (s, ui) => {
        const result = await s.exports.run(image, {
          ...(destination !== undefined ? { destination } : {}),
          ...(flags.extra.length > 0 ? { extras: flags.extra } : {}),
          ...(flags.include !== undefined ? { include: flags.include } : {}),
          format: flags.format,
          ...(flags.sign !== undefined ? { sign: flags.sign } : {}),
          ...(flags.detachedSig ? { detachedSignature: true } : {}),
          signal: ui.signal,
          onProgress: (p) => ui.progress.update(p),
        });
        return { doc: result, human: exportSummary(result) };
      },
      // The hashing thread boots on another core while the tables are opened (~35 ms that the
      // first bytes waited for).
      warmUp: async () => (await import('@imgport/archive')).prestartHashThread(),
      remote: async (r, ui) => (await import('./remote-export.js')).exportRemote(r, ui, image, destination, flags),
    });
  });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `all`, or a comma list of list kinds; anything else is a usage error (exit 2). */
export function parseInclude(value: string): ExportOptions['include'] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 1 && items[0] === 'all') return 'all';
  const unknown = items.filter((i) => !(LIST_KINDS as readonly string[]).includes(i));
  if (items.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(`expected "all" or a comma list of ${LIST_KINDS.join(', ')}; got "${value}"`);
  }
  return [...new Set(items)] as ListKind[];
}
