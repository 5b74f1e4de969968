import type { Logger } from '@imgport/runtime';
import type { ImageRows, TableStore } from '@imgport/tables';
import type { Method } from '@imgport/format';
import type { SignatureReport, TrustOptions } from './trust/signatures.js';

/** Progress as the worker and the CLI show it (SPEC §8.2 job progress). */
export interface JobProgress {
  phase: 'receive' | 'stage' | 'verify' | 'plan' | 'snapshot' | 'commit' | 'collect' | 'pack' | 'write' | 'done';
  percent: number;
  bytesDone: number;
  bytesTotal: number;
}
export type JobProgressFn = (p: JobProgress) => void;

/** What every use case needs: the ports, never a driver. */
export interface EngineDeps {
  tables: TableStore;
  /** xCAT's install directory. */
  installRoot: string;
  /** imgport's data directory: snapshots live in <dataDir>/snapshots. */
  dataDir: string;
  /** Directories outside the install root that bundles may name or write to. */
  allow?: string[];
  limits?: Partial<{ maxBundleBytes: number; maxExpandedBytes: number; maxEntries: number; maxPathLength: number }>;
  log?: Logger;
  /** The signature policy and trust store bundles are checked against; none: signatures are not looked at. */
  trust?: TrustOptions;
  /** The OpenSSH private key (or .pub of an agent key) exports and snapshots are signed with by default. */
  signingKey?: string;
}

export interface ImportOptions {
  name?: string;
  profile?: string;
  force?: boolean;
  dryRun?: boolean;
  /** The exporting node's install directory for absolute manifest paths (default /install). */
  fromRoot?: string;
  /** Size of the input when known (file size, Content-Length), for percentages. */
  sizeHint?: number;
  signal?: AbortSignal;
  onProgress?: JobProgressFn;
  /**
   * The job running this import (services): once committed, a receipt under this id lets a retry
   * of the same job (its worker died before reporting) recognise the import and succeed.
   */
  jobId?: string;
}

export interface ImportResult {
  name: string;
  method: Method;
  dryRun: boolean;
  /** Every path written (or, for a dry run, that would be). */
  paths: string[];
  rows: ImageRows;
  warnings: string[];
  bytes: number;
  entries: number;
  durationMs: number;
  /** With force: the snapshot taken of the image it replaced. */
  snapshot?: SnapshotInfo;
  /** Who signed the bundle and what the trust policy made of it (when a policy is configured). */
  signature?: SignatureReport;
}

export interface ExportOptions {
  /** File or directory; default `<name>.tgz` in the current directory. */
  destination?: string;
  /** `SRC[:DESTDIR]`, xCAT's -e. */
  extras?: string[];
  format?: 'native' | 'xcat';
  /** Optional list files to carry; 'all' for every one. */
  include?: Array<'pkglist' | 'exlist' | 'otherpkglist' | 'postinstall' | 'synclists'> | 'all';
  /** Sign SHA256SUMS with this OpenSSH key file (default: the deps' signingKey); false: unsigned. */
  sign?: string | false;
  /** With a signature: also write a detached `<bundle>.sig` over the whole bundle, for catalogs. */
  detachedSignature?: boolean;
  signal?: AbortSignal;
  onProgress?: JobProgressFn;
}

export interface ExportResult {
  image: string;
  method: Method;
  format: 'native' | 'xcat';
  path: string;
  bytes: number;
  sha256: string;
  members: string[];
  warnings: string[];
  durationMs: number;
  /** The key SHA256SUMS.sig was made with, when signed. */
  signer?: { fingerprint: string; key: string; detached?: string };
}

export interface SnapshotInfo {
  /** `<image>@<timestamp>`: stable, URL-safe once encoded. */
  id: string;
  image: string;
  /** UTC, e.g. 20261126T061502Z. */
  timestamp: string;
  label?: string;
  path: string;
  bytes: number;
  sha256: string;
  createdAt: string;
  /** The key the snapshot bundle is signed with (IMGPORT_SIGNING_KEY), when one is configured. */
  signer?: { fingerprint: string; key: string };
}

export type { ImageRows };
