/**
 * A real redis-server for one test file: the product's own embedded server
 * (services/redis-server.ts) on a free loopback port, in a fresh temp dir, memory
 * only (`--save '' --appendonly no`). `stop()` kills it and removes the dir.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '@yoto/shared';
import { startRedisServer, type RedisServer } from '../../src/services/redis-server.ts';

export type { RedisServer };

export async function startTestRedis(): Promise<RedisServer> {
  return startRedisServer({ startTimeoutMs: 20_000 });
}

/** Job counts of both yoto queues under `prefix`, every state summed per queue. */
export async function queueTotals(url: string, prefix: string): Promise<{ train: number; aggregate: number; counts: Record<string, Record<string, number>> }> {
  const connection = new Redis(url, { maxRetriesPerRequest: 2 });
  const train = new Queue(QUEUES.train, { connection, prefix });
  const aggregate = new Queue(QUEUES.aggregate, { connection, prefix });
  try {
    const states = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed', 'waiting-children'] as const;
    const t = await train.getJobCounts(...states);
    const a = await aggregate.getJobCounts(...states);
    const sum = (c: Record<string, number>) => Object.values(c).reduce((x, y) => x + y, 0);
    return { train: sum(t), aggregate: sum(a), counts: { train: t, aggregate: a } };
  } finally {
    await train.close();
    await aggregate.close();
    await connection.quit();
  }
}

/** Every key in the server matching `pattern` (tests only: KEYS is O(n)). */
export async function redisKeysMatching(url: string, pattern: string): Promise<string[]> {
  const r = new Redis(url, { maxRetriesPerRequest: 2 });
  try {
    return await r.keys(pattern);
  } finally {
    await r.quit();
  }
}
