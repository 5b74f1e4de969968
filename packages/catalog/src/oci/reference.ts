/**
 * `oci://host[:port]/repo[/more]:tag` or `...@sha256:<hex>`: a place in an OCI distribution-spec
 * registry. Names follow the distribution spec's grammar, so nothing odd reaches a URL path.
 */
import { ImgportError } from '@imgport/runtime';

export interface OciReference {
  /** host[:port] */
  host: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const REPO = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

export function isOciReference(source: string): boolean {
  return /^oci:\/\//i.test(source);
}

export function parseOciReference(source: string): OciReference {
  const bad = (why: string) => new ImgportError('BAD_REQUEST', `${JSON.stringify(source)} is not an OCI reference: ${why} (expected oci://host[:port]/repository:tag)`);
  if (!isOciReference(source)) throw bad('it does not start with oci://');
  const rest = source.slice('oci://'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) throw bad('no repository');
  const host = rest.slice(0, slash);
  if (!HOST.test(host)) throw bad(`bad host "${host}"`);
  let path = rest.slice(slash + 1);
  let digest: string | undefined;
  let tag: string | undefined;
  const at = path.indexOf('@');
  if (at >= 0) {
    digest = path.slice(at + 1);
    path = path.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`bad digest "${digest}"`);
  }
  const colon = path.lastIndexOf(':');
  if (colon > path.lastIndexOf('/')) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`bad tag "${tag}"`);
  }
  if (!REPO.test(path) || path.length > 255) throw bad(`bad repository name "${path}" (lower case letters, digits, . _ - and /)`);
  return { host, repository: path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatOciReference(r: OciReference): string {
  return `oci://${r.host}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** What a manifest request names: the digest when pinned, else the tag (default "latest"). */
export function manifestRef(r: OciReference): string {
  return r.digest ?? r.tag ?? 'latest';
}

/** A tag from an osimage name and a stamp: tags allow [A-Za-z0-9_.-], names also '+'. */
export function tagFor(value: string): string {
  const t = value.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 128);
  return /^[A-Za-z0-9_]/.test(t) ? t : `_${t.slice(0, 127)}`;
}
