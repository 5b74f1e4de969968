/**
 * The three xCAT tables imgport reads and writes, their columns in xCAT's order (SPEC §7,
 * xCAT's Schema.pm) and the store interface both backends implement.
 */
import { LINUXIMAGE_COLUMNS, OSIMAGE_COLUMNS } from '@imgport/format';

export type TableName = 'osimage' | 'linuximage' | 'litefile';

export const TABLES: readonly TableName[] = ['osimage', 'linuximage', 'litefile'];

/** The column lists live with the manifest model in @imgport/format: one copy for both. */
export const COLUMNS: Record<TableName, readonly string[]> = {
  osimage: OSIMAGE_COLUMNS,
  linuximage: LINUXIMAGE_COLUMNS,
  litefile: ['image', 'file', 'options', 'comments', 'disable'],
};

export const KEYS: Record<TableName, readonly string[]> = {
  osimage: ['imagename'],
  linuximage: ['imagename'],
  litefile: ['image', 'file'],
};

/** The column of each table that names the image a row belongs to. */
export const IMAGE_COLUMN: Record<TableName, string> = {
  osimage: 'imagename',
  linuximage: 'imagename',
  litefile: 'image',
};

/** A row as xCAT stores it: every value is text or NULL. */
export type Row = Record<string, string | null>;

export interface ImageRecord {
  osimage?: Row;
  linuximage?: Row;
  litefile: Row[];
}

export interface ImageFilter {
  /** Glob on the image name: `*` any run of characters, `?` one character. */
  name?: string;
  /** osimage.osvers */
  os?: string;
  /** osimage.osarch */
  arch?: string;
  /** osimage.provmethod */
  method?: string;
}

export interface ImageRows {
  osimage: Row;
  linuximage: Row;
  litefile: Row[];
}

export interface TableStore {
  readonly kind: 'sqlite' | 'mysql';
  /** Where the tables are, for logs and errors; never contains a password. */
  readonly description: string;
  getImage(name: string): Promise<ImageRecord>;
  /**
   * litefile rows filed under any of `images` ('' also matches NULL), in that order: what
   * stock imgexport adds to an image's own rows (the '' and `ALL` rows, or its groups' rows).
   */
  litefileRows(images: readonly string[]): Promise<Row[]>;
  /** Images matching the filter, sorted by name (code point order on both backends). */
  listImages(filter?: ImageFilter): Promise<Array<{ osimage: Row; linuximage?: Row }>>;
  /** Replace every row of one image (osimage, linuximage, and its litefile rows) in ONE transaction. Idempotent. */
  writeImage(name: string, rec: ImageRows): Promise<void>;
  /** Remove every row of one image in one transaction. Idempotent. */
  deleteImage(name: string): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Create the container when missing: the SQLite directory, or the MySQL database. */
  create?: boolean;
  /** SQLite: how long to wait for another process's lock before DB_UNAVAILABLE (default 5000). */
  busyTimeoutMs?: number;
}
