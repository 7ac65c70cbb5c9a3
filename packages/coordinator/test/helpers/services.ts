/**
 * The services most coordinator tests share: a private redis-server and an embedded S3
 * endpoint for the whole suite, an ioredis client on that Redis, and a list of closers
 * run (last first) before the services stop. Call inside a `describe`: it registers
 * that suite's before/after hooks; the fields are set once `before` has run.
 */
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { startTestRedis, type RedisServer } from './redis-server.ts';
import { startTestS3, type TestS3 } from './s3.ts';

export interface TestServices {
  redis: RedisServer;
  s3: TestS3;
  client: Redis;
  /** Closed in reverse order before the services stop (servers, workers, sweep services). */
  closers: (() => Promise<unknown>)[];
}

export function useTestServices(): TestServices {
  const t = { closers: [] } as unknown as TestServices;
  before(async () => {
    [t.redis, t.s3] = await Promise.all([startTestRedis(), startTestS3()]);
    t.client = new Redis(t.redis.url, { maxRetriesPerRequest: 2 });
  });
  after(async () => {
    for (const c of t.closers.reverse()) await c().catch(() => undefined);
    await t.client?.quit();
    await Promise.allSettled([t.redis?.stop(), t.s3?.stop()]);
  });
  return t;
}
