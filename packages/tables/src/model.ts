/**
 * The three xCAT tables imgport reads and writes, their columns in xCAT's order (SPEC §7,
 * xCAT's Schema.pm) and the store interface both backends implement.
 */
import { LINUXIMAGE_COLUMNS, OSIMAGE_COLUMNS } from '@imgport/format';

export type ImageTableName = 'osimage' | 'linuximage' | 'litefile';
/** The kit tables an image's `osimage.kitcomponents` depends on; shared between images. */
export type KitTableName = 'kit' | 'kitrepo' | 'kitcomponent';
export type TableName = ImageTableName | KitTableName;

export const IMAGE_TABLES: readonly ImageTableName[] = ['osimage', 'linuximage', 'litefile'];
export const KIT_TABLES: readonly KitTableName[] = ['kit', 'kitrepo', 'kitcomponent'];
export const TABLES: readonly TableName[] = [...IMAGE_TABLES, ...KIT_TABLES];

/** The column lists live with the manifest model in @imgport/format: one copy for both. */
export const COLUMNS: Record<TableName, readonly string[]> = {
  osimage: OSIMAGE_COLUMNS,
  linuximage: LINUXIMAGE_COLUMNS,
  litefile: ['image', 'file', 'options', 'comments', 'disable'],
  // xCAT's Schema.pm, in its order.
  kit: ['kitname', 'basename', 'description', 'version', 'release', 'ostype', 'isinternal', 'kitdeployparams', 'kitdir', 'comments', 'disable'],
  kitrepo: ['kitreponame', 'kitname', 'osbasename', 'osmajorversion', 'osminorversion', 'osarch', 'compat_osbasenames', 'kitrepodir', 'comments', 'disable'],
  kitcomponent: [
    'kitcompname', 'description', 'kitname', 'kitreponame', 'basename', 'version', 'release', 'serverroles', 'kitpkgdeps',
    'prerequisite', 'driverpacks', 'kitcompdeps', 'postbootscripts', 'genimage_postinstall', 'exlist', 'comments', 'disable',
  ],
};

export const KEYS: Record<TableName, readonly string[]> = {
  osimage: ['imagename'],
  linuximage: ['imagename'],
  litefile: ['image', 'file'],
  kit: ['kitname'],
  kitrepo: ['kitreponame'],
  kitcomponent: ['kitcompname'],
};

/** The column of each image table that names the image a row belongs to. */
export const IMAGE_COLUMN: Record<ImageTableName, string> = {
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

/** Rows of the kit tables, each replacing the row of the same key (xCAT's setAttribs per kit). */
export type KitRows = Record<KitTableName, Row[]>;

/** Keys of kit rows, per kit table (kit.kitname, kitrepo.kitreponame, kitcomponent.kitcompname). */
export type KitKeys = Record<KitTableName, string[]>;

export interface ImageRows {
  osimage: Row;
  linuximage: Row;
  litefile: Row[];
  /** Kits the image needs, written in the same transaction; never deleted with the image. */
  kits?: KitRows;
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
  /** Rows of a kit table whose `column` equals `value`, sorted by key (none when the table is missing). */
  kitRows(table: KitTableName, column: string, value: string): Promise<Row[]>;
  /** Images matching the filter, sorted by name (code point order on both backends). */
  listImages(filter?: ImageFilter): Promise<Array<{ osimage: Row; linuximage?: Row }>>;
  /** Replace every row of one image (osimage, linuximage, and its litefile rows) in ONE transaction. Idempotent. */
  writeImage(name: string, rec: ImageRows): Promise<void>;
  /** Remove every row of one image in one transaction. Idempotent. */
  deleteImage(name: string): Promise<void>;
  /**
   * Kit rows put back as they were, in one transaction: each row of `put` replaces the row of its
   * key, each key of `drop` is deleted (what an undone import had added). Idempotent.
   */
  restoreKits(put: KitRows, drop: KitKeys): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Create the container when missing: the SQLite directory, or the MySQL database. */
  create?: boolean;
  /** SQLite: how long to wait for another process's lock before DB_UNAVAILABLE (default 5000). */
  busyTimeoutMs?: number;
}
