/**
 * A bundle as an OCI artifact, the way ORAS stores files: an image manifest with
 * `artifactType: application/vnd.imgport.bundle.v1`, the empty config descriptor and one layer
 * per bundle member, in the bundle's order, titled with its name. The osimage rides along as
 * manifest annotations. Pure: builds and reads manifests, no network.
 */
import { ImgportError } from '@imgport/runtime';
import { DIGEST } from '../digest.js';

export const ARTIFACT_TYPE = 'application/vnd.imgport.bundle.v1';
export const MEMBER_TYPE = 'application/vnd.imgport.bundle.member.v1';
export const SIGNATURE_TYPE = 'application/vnd.imgport.signature.v1';
export const SIGNATURE_LAYER_TYPE = 'application/vnd.imgport.signature.v1+sshsig';
export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
export const TITLE = 'org.opencontainers.image.title';
export const CREATED = 'org.opencontainers.image.created';
/** The empty config (OCI image spec 1.1 "empty descriptor"): the two bytes `{}`. */
export const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 };
export const EMPTY_BYTES = Buffer.from('{}');

/** Manifest annotations that describe the osimage. */
export const OSIMAGE_KEYS = { name: 'io.imgport.osimage.name', osvers: 'io.imgport.osimage.osvers', arch: 'io.imgport.osimage.arch', provmethod: 'io.imgport.osimage.provmethod', profile: 'io.imgport.osimage.profile' } as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface Member {
  name: string;
  digest: string;
  size: number;
}

export interface OsImageInfo {
  name: string;
  osvers: string;
  arch: string;
  provmethod: string;
  profile?: string;
}

export interface ArtifactManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/**
 * The bundle's manifest. `legacyConfig`: for registries that refuse the empty config's media
 * type (OCI 1.0), the artifact type goes in config.mediaType instead, as ORAS does there.
 */
export function bundleManifest(members: readonly Member[], image: OsImageInfo, o: { created?: string; legacyConfig?: boolean } = {}): Buffer {
  const annotations: Record<string, string> = { [OSIMAGE_KEYS.name]: image.name, [OSIMAGE_KEYS.osvers]: image.osvers, [OSIMAGE_KEYS.arch]: image.arch, [OSIMAGE_KEYS.provmethod]: image.provmethod };
  if (image.profile) annotations[OSIMAGE_KEYS.profile] = image.profile;
  if (o.created) annotations[CREATED] = o.created;
  const manifest: ArtifactManifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    ...(o.legacyConfig ? {} : { artifactType: ARTIFACT_TYPE }),
    config: o.legacyConfig ? { ...EMPTY_CONFIG, mediaType: ARTIFACT_TYPE } : EMPTY_CONFIG,
    layers: members.map((m) => ({ mediaType: MEMBER_TYPE, digest: m.digest, size: m.size, annotations: { [TITLE]: m.name } })),
    annotations,
  };
  return Buffer.from(JSON.stringify(manifest));
}

/** A signature artifact over `subject` (the bundle's manifest), its one layer the sshsig. */
export function signatureManifest(subject: Descriptor, sig: { digest: string; size: number }, o: { legacyConfig?: boolean } = {}): Buffer {
  const manifest: ArtifactManifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    ...(o.legacyConfig ? {} : { artifactType: SIGNATURE_TYPE }),
    config: o.legacyConfig ? { ...EMPTY_CONFIG, mediaType: SIGNATURE_TYPE } : EMPTY_CONFIG,
    layers: [{ mediaType: SIGNATURE_LAYER_TYPE, digest: sig.digest, size: sig.size }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  };
  return Buffer.from(JSON.stringify(manifest));
}

/** The tag under which a registry without the referrers API lists the referrers of `digest`. */
export function fallbackTag(digest: string): string {
  return digest.replace(':', '-');
}

/** An image index (the referrers list of the tag-schema fallback) with `add` in it once. */
export function referrersIndex(existing: Buffer | undefined, add: Descriptor): Buffer {
  let manifests: Descriptor[] = [];
  if (existing) {
    const doc = parseJson(existing, 'referrers index') as { manifests?: unknown };
    if (Array.isArray(doc.manifests)) manifests = doc.manifests.filter(isDescriptor);
  }
  manifests = [...manifests.filter((d) => d.digest !== add.digest), add];
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX_TYPE, manifests }));
}

/** Descriptors of an index (referrers API answer or fallback tag), those of `artifactType` only. */
export function indexEntries(bytes: Buffer, artifactType: string): Descriptor[] {
  const doc = parseJson(bytes, 'referrers index') as { manifests?: unknown };
  return (Array.isArray(doc.manifests) ? doc.manifests.filter(isDescriptor) : []).filter((d) => d.artifactType === artifactType);
}

export interface ReadArtifact {
  manifest: ArtifactManifest;
  members: Member[];
  image?: OsImageInfo;
}

/** Reads a bundle artifact's manifest, refusing anything that is not one or names unsafe members. */
export function readBundleManifest(bytes: Buffer, where: string): ReadArtifact {
  const m = parseJson(bytes, where) as Partial<ArtifactManifest>;
  const type = m.artifactType ?? m.config?.mediaType;
  if (m.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) throw new ImgportError('BUNDLE_INVALID', `${where} is not an OCI image manifest`, { where });
  if (type !== ARTIFACT_TYPE) throw new ImgportError('BUNDLE_INVALID', `${where} is a ${String(type ?? 'container image')}, not an imgport bundle (${ARTIFACT_TYPE})`, { where });
  const seen = new Set<string>();
  const members = m.layers.map((l, i) => {
    const name = l?.annotations?.[TITLE];
    if (!isDescriptor(l) || typeof name !== 'string') throw new ImgportError('BUNDLE_INVALID', `${where}: layer ${i} has no ${TITLE} or a bad descriptor`, { where });
    if (!safeName(name) || seen.has(name)) throw new ImgportError('UNSAFE_PATH', `${where}: layer ${i} is titled "${name.slice(0, 200)}", not a unique relative member name`, { where: name.slice(0, 200) });
    seen.add(name);
    return { name, digest: l.digest, size: l.size };
  });
  const a = m.annotations ?? {};
  const image =
    a[OSIMAGE_KEYS.name] && a[OSIMAGE_KEYS.osvers] && a[OSIMAGE_KEYS.arch] && a[OSIMAGE_KEYS.provmethod]
      ? { name: a[OSIMAGE_KEYS.name]!, osvers: a[OSIMAGE_KEYS.osvers]!, arch: a[OSIMAGE_KEYS.arch]!, provmethod: a[OSIMAGE_KEYS.provmethod]!, ...(a[OSIMAGE_KEYS.profile] ? { profile: a[OSIMAGE_KEYS.profile] } : {}) }
      : undefined;
  return { manifest: m as ArtifactManifest, members, ...(image ? { image } : {}) };
}

/** A bundle member name: relative, '/'-separated, no '.', '..' or empty components, no NUL. */
export function safeName(name: string): boolean {
  if (name.length === 0 || name.length > 1024 || name.includes('\0') || name.includes('\\') || name.startsWith('/')) return false;
  return name.split('/').every((c) => c !== '' && c !== '.' && c !== '..');
}

function isDescriptor(d: unknown): d is Descriptor {
  const x = d as Descriptor;
  return !!x && typeof x.mediaType === 'string' && typeof x.digest === 'string' && DIGEST.test(x.digest) && Number.isSafeInteger(x.size) && x.size >= 0;
}

function parseJson(bytes: Buffer, where: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ImgportError('BUNDLE_INVALID', `${where} is not JSON`, { where });
  }
}
