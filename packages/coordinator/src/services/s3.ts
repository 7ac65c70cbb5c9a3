/**
 * An S3-compatible server (s3rver) inside this process, on loopback: the artifact
 * store `yoto demo` / `yoto up` and the tests use when no S3_ENDPOINT is given. The
 * code path is the same @aws-sdk/client-s3 the workers use against AWS or MinIO.
 *
 * Objects live as files under `dir` (s3rver's layout), so artifacts survive a
 * restart of `yoto up`. Credentials are random per start and registered with
 * s3rver; note that s3rver checks only that the key id exists, not SigV4
 * signatures, which is one more reason it listens on 127.0.0.1 only.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import S3rver from 's3rver';
import { DUMMY_ACCOUNT } from 's3rver/lib/models/account.js';
import type { Logger, S3Config } from '@yoto/runtime';
import { ServiceError } from './service-error.ts';

export interface EmbeddedS3Options {
  /**
   * Where the objects are stored.
   * @defaultValue `.yoto/s3` under the current directory
   */
  dir?: string;
  /**
   * Loopback port to listen on.
   * @defaultValue a free port chosen by the kernel
   */
  port?: number;
  /**
   * Bucket created at start (kept if it exists).
   * @defaultValue `yoto`
   */
  bucket?: string;
  /**
   * Credentials to register instead of fresh random ones — to start the server again
   * on the same `port` and `dir` (an outage in a chaos test) without the clients
   * that hold the old ones noticing anything but the gap. Both or neither.
   * @defaultValue random per start
   */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** @defaultValue no logging */
  log?: Logger;
}

export interface EmbeddedS3 {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly dir: string;
  /** The runtime S3 config for this server (path-style, no prefix). */
  s3Config(prefix?: string): S3Config;
  /** Closes the listener and open connections, revokes the keys. Idempotent. */
  stop(): Promise<void>;
}

const ADDRESS = '127.0.0.1';
const REGION = 'us-east-1';

export async function startEmbeddedS3(opts: EmbeddedS3Options = {}): Promise<EmbeddedS3> {
  const dir = resolve(opts.dir ?? '.yoto/s3');
  const bucket = opts.bucket ?? 'yoto';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const accessKeyId = opts.credentials?.accessKeyId ?? `YOTO${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = opts.credentials?.secretAccessKey ?? randomBytes(24).toString('base64url');
  DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);

  const server = new S3rver({
    address: ADDRESS,
    port: opts.port ?? 0,
    silent: true,
    directory: dir,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket }],
  });
  let port: number;
  try {
    ({ port } = await server.run());
  } catch (err) {
    DUMMY_ACCOUNT.revokeAccessKey(accessKeyId);
    throw new ServiceError('SERVICE_START_FAILED', `embedded S3 could not listen on ${ADDRESS}:${opts.port ?? 0}: ${(err as Error).message}`, { cause: err });
  }
  const endpoint = `http://${ADDRESS}:${port}`;
  opts.log?.debug({ endpoint, bucket, dir }, 'embedded S3 ready');

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const http: Server | undefined = server.httpServer;
      // SDK clients keep connections alive; close() alone would wait for them.
      const closed = server.close().catch(() => undefined);
      http?.closeIdleConnections();
      const timer = setTimeout(() => http?.closeAllConnections(), 1000);
      await closed;
      clearTimeout(timer);
      DUMMY_ACCOUNT.revokeAccessKey(accessKeyId);
      opts.log?.debug({ endpoint }, 'embedded S3 stopped');
    })();
    return stopping;
  };

  return {
    endpoint,
    port,
    bucket,
    region: REGION,
    accessKeyId,
    secretAccessKey,
    dir,
    s3Config: (prefix = '') => ({ endpoint, bucket, region: REGION, prefix, accessKeyId, secretAccessKey, forcePathStyle: true }),
    stop,
  };
}
