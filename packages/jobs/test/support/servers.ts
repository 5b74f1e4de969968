/**
 * Helpers for tests of the queue and the workers (not used by production code): a random BullMQ
 * prefix per test file on the real Redis, and a fresh MariaDB database per test file.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { createRedis } from '../../src/redis.js';

export const TEST_REDIS_URL = process.env.IMGPORT_TEST_REDIS ?? 'redis://127.0.0.1:6379';
export const TEST_MYSQL_BASE = process.env.IMGPORT_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';

export function testPrefix(): string {
  return `imgport-test-${randomBytes(5).toString('hex')}`;
}

export function testRedis(role: 'api' | 'worker' = 'worker'): Redis {
  return createRedis(TEST_REDIS_URL, role);
}

/** Deletes every key a test made under its prefix (BullMQ's and imgport's own). */
export async function cleanupPrefix(prefix: string): Promise<void> {
  const redis = testRedis();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** The URL of a database `imgport_t_<random>` that does not exist yet (create it by opening with create). */
export function freshMysqlUrl(): string {
  return `${TEST_MYSQL_BASE}/imgport_t_${randomBytes(5).toString('hex')}`;
}

export async function dropMysql(url: string): Promise<void> {
  const db = new URL(url).pathname.slice(1);
  const conn = await mysql.createConnection(TEST_MYSQL_BASE);
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
  } finally {
    await conn.end();
  }
}
