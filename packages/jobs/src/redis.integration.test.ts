import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { ImgportError } from '@imgport/runtime';
import { createRedis, evictionWarning, redisReady, toQueueError } from './redis.js';
import { testRedis } from '../test/support/servers.js';

const fake = (config: () => Promise<unknown>) => ({ config }) as unknown as Redis;

describe('redis connections', () => {
  test('the API role fails fast while Redis is down', async () => {
    const redis = createRedis('redis://127.0.0.1:1', 'api');
    try {
      const started = Date.now();
      await assert.rejects(redis.ping());
      await assert.rejects(redisReady(redis, 300), { code: 'QUEUE_UNAVAILABLE' });
      assert.ok(Date.now() - started < 2000);
    } finally {
      redis.disconnect();
    }
  });

  test('the worker role waits for Redis (BullMQ needs maxRetriesPerRequest null)', async () => {
    const redis = createRedis('redis://127.0.0.1:1', 'worker');
    try {
      assert.equal(redis.options.maxRetriesPerRequest, null);
      const pending = redis.ping();
      pending.catch(() => undefined);
      const winner = await Promise.race([pending.then(() => 'answered', () => 'failed'), new Promise((r) => setTimeout(() => r('waiting'), 300))]);
      assert.equal(winner, 'waiting');
    } finally {
      redis.disconnect();
    }
  });

  test('evictionWarning: none for noeviction, loud for others, careful when CONFIG is forbidden', async () => {
    const real = testRedis();
    try {
      await redisReady(real);
      const [, policy] = (await real.config('GET', 'maxmemory-policy')) as string[];
      const warning = await evictionWarning(real);
      if (policy === 'noeviction') assert.equal(warning, undefined);
      else assert.match(warning ?? '', /not noeviction/);
    } finally {
      real.disconnect();
    }
    assert.equal(await evictionWarning(fake(async () => ['maxmemory-policy', 'noeviction'])), undefined);
    assert.match((await evictionWarning(fake(async () => ['maxmemory-policy', 'allkeys-lru'])))!, /maxmemory-policy is "allkeys-lru", not noeviction: .*drop queued jobs/);
    const forbidden = fake(async () => {
      throw new Error("ERR unknown command 'CONFIG'");
    });
    assert.match((await evictionWarning(forbidden))!, /^cannot check Redis maxmemory-policy \(ERR unknown command 'CONFIG'\); make sure it is noeviction/);
  });

  test('toQueueError: Redis failures are QUEUE_UNAVAILABLE; ours pass through', () => {
    const e = toQueueError(new Error('Connection is closed.'));
    assert.equal(e.code, 'QUEUE_UNAVAILABLE');
    assert.equal(e.message, 'queue unavailable: Connection is closed.');
    const ours = new ImgportError('NOT_FOUND', 'x');
    assert.equal(toQueueError(ours), ours);
  });
});
