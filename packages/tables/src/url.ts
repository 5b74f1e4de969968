/** Parses XCAT_DB (SPEC §10): `sqlite:<dir>` or `mysql://user:pass@host:port/db`. */
import { ImgportError } from '@imgport/runtime';

export interface MysqlTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** The URL without its password, for logs and errors. */
  description: string;
}

export type DbTarget = { kind: 'sqlite'; dir: string } | ({ kind: 'mysql' } & MysqlTarget);

/** MySQL's unquoted identifier characters; the name is also put in a CREATE DATABASE. */
const DATABASE_NAME = /^[A-Za-z0-9_$]{1,64}$/;

const bad = (msg: string) => new ImgportError('CONFIG_INVALID', `database URL: ${msg}`);

export function parseDbUrl(url: string): DbTarget {
  if (url.startsWith('sqlite:')) {
    const dir = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (dir === '') throw bad('sqlite: needs a directory, e.g. sqlite:/etc/xcat');
    return { kind: 'sqlite', dir };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad('expected sqlite:<dir> or mysql://user:pass@host:port/db');
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') {
    throw bad(`unsupported scheme "${u.protocol}" (expected sqlite: or mysql:)`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!DATABASE_NAME.test(database)) throw bad(`database name must be 1-64 of [A-Za-z0-9_$], got "${database}"`);
  if (u.hostname === '') throw bad('mysql URL needs a host');
  const port = u.port === '' ? 3306 : Number(u.port);
  const user = decodeURIComponent(u.username);
  if (user === '') throw bad('mysql URL needs a user, e.g. mysql://xcatadmin:secret@host:3306/xcatdb');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    kind: 'mysql',
    host,
    port,
    user,
    password: decodeURIComponent(u.password),
    database,
    description: `mysql://${u.username}@${u.hostname}:${port}/${database}`,
  };
}
