/**
 * Redis connections. BullMQ workers need `maxRetriesPerRequest: null` (blocking
 * commands must wait through reconnects); CLI clients fail fast instead of hanging
 * when Redis is down. Errors are logged once per outage without the URL's password.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.ts';
import { redactUrl } from './logger.ts';

export type RedisRole = 'worker' | 'producer' | 'client';

export function createRedis(url: string, role: RedisRole, log?: Logger): Redis {
  const opts: RedisOptions = {
    maxRetriesPerRequest: role === 'worker' ? null : role === 'producer' ? 20 : 2,
    enableReadyCheck: true,
    connectTimeout: 5000,
    lazyConnect: false,
    retryStrategy: (times) => (role === 'client' && times > 3 ? null : Math.min(200 * 2 ** Math.min(times, 6), 5000)),
    connectionName: `yoto-${role}`,
  };
  const redis = new Redis(url, opts);
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log?.warn({ redis: redactUrl(url), err: { message: err.message } }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log?.info({ redis: redactUrl(url) }, 'redis reconnected');
    down = false;
  });
  return redis;
}
