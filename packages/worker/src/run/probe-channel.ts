/**
 * Where baselines publish their probe curves and gap-driven YOTO runs read them
 * (Redis LIST `redisKeys.probe(sweepId, runId)`, format in @yoto/shared layout.ts).
 * Main-thread only: the training thread never touches Redis.
 */
import type { Redis } from 'ioredis';
import { normaliseCurve, PROBE_TTL_SECONDS, redisKeys } from '@yoto/shared';

export interface ProbePoint {
  step: number;
  fraction: number;
  loss: number;
}

export interface ProbeChannel {
  /** Appends one probe of a baseline run. */
  publish(sweepId: string, runId: string, point: ProbePoint): Promise<void>;
  /** Each run's curve so far (sorted by fraction, one point per fraction); runs with none are absent. */
  read(sweepId: string, runIds: readonly string[]): Promise<Map<string, { fraction: number; loss: number }[]>>;
}

export class RedisProbeChannel implements ProbeChannel {
  constructor(private readonly redis: Redis) {}

  async publish(sweepId: string, runId: string, point: ProbePoint): Promise<void> {
    const key = redisKeys.probe(sweepId, runId);
    await this.redis.multi().rpush(key, JSON.stringify(point)).expire(key, PROBE_TTL_SECONDS).exec();
  }

  async read(sweepId: string, runIds: readonly string[]): Promise<Map<string, { fraction: number; loss: number }[]>> {
    const out = new Map<string, { fraction: number; loss: number }[]>();
    if (!runIds.length) return out;
    const pipe = this.redis.pipeline();
    for (const runId of runIds) pipe.lrange(redisKeys.probe(sweepId, runId), 0, -1);
    const replies = (await pipe.exec()) ?? [];
    runIds.forEach((runId, i) => {
      const [err, lines] = replies[i] ?? [null, []];
      if (err || !Array.isArray(lines) || !lines.length) return;
      const points = lines.flatMap((l) => {
        try {
          const p = JSON.parse(String(l)) as Partial<ProbePoint>;
          return typeof p.fraction === 'number' && typeof p.loss === 'number' ? [{ fraction: p.fraction, loss: p.loss }] : [];
        } catch {
          return [];
        }
      });
      if (points.length) out.set(runId, normaliseCurve(points));
    });
    return out;
  }
}
