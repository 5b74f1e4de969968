/** Real table stores for tests: SQLite in a temp dir, or a fresh MariaDB database dropped after. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { openTableStore, type TableStore } from '@imgport/tables';

export const MYSQL_BASE = process.env.IMGPORT_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';

export interface Backend {
  name: 'sqlite' | 'mysql';
  /** A new, empty database URL for XCAT_DB. */
  fresh(dir: string): Promise<string>;
  drop(url: string): Promise<void>;
}

export const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    fresh: async (dir) => `sqlite:${join(dir, `xcatdb-${randomBytes(3).toString('hex')}`)}`,
    drop: async () => undefined,
  },
  {
    name: 'mysql',
    fresh: async () => `${MYSQL_BASE}/imgport_t_${randomBytes(5).toString('hex')}`,
    drop: async (url) => {
      const db = new URL(url).pathname.slice(1);
      const conn = await createConnection(MYSQL_BASE);
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
      } finally {
        await conn.end();
      }
    },
  },
];

export async function openStore(url: string): Promise<TableStore> {
  return openTableStore(url, { create: true });
}
