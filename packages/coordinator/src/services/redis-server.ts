/**
 * A private `redis-server` child process on a free loopback port: the Redis that
 * `yoto demo` / `yoto up` and the tests use when no REDIS_URL is given. It is ours
 * alone, so it can be stopped, killed and restarted (chaos tests) without touching
 * any Redis the machine already runs.
 *
 * Configuration (command-line flags, no config file):
 *   --bind 127.0.0.1 --port P --maxmemory-policy noeviction   (BullMQ requires noeviction)
 *   --save '' --appendonly no                                  default: memory only
 *   --appendonly yes --appendfsync everysec --dir DIR          `durable`: survives restart()
 * Its log goes to stdout, which is kept (last lines) for error messages and logged at debug.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@yoto/runtime';
import { dieWithParent, findOnPath, guardChild, terminateChild, waitForExit } from './child-guard.ts';

export { findOnPath };
import { freePort } from './free-port.ts';
import { ServiceError } from './service-error.ts';

export interface RedisServerOptions {
  /**
   * Working directory of the server (the AOF lives here when `durable`).
   * @defaultValue a fresh directory under the OS temp dir, removed by `stop()`
   */
  dir?: string;
  /**
   * Port to listen on (loopback only).
   * @defaultValue a free port chosen by the kernel; retried if taken before redis binds it
   */
  port?: number;
  /**
   * Keep data across `restart()` with an append-only file (fsync every second) in `dir`.
   * @defaultValue false
   */
  durable?: boolean;
  /**
   * Path of the redis-server executable.
   * @defaultValue `redis-server` found on PATH
   */
  binary?: string;
  /**
   * How long to wait for the server to answer PING.
   * @defaultValue 15000
   */
  startTimeoutMs?: number;
  /** @defaultValue no logging */
  log?: Logger;
}

export interface RedisServer {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** Pid of the current server process (changes on restart). */
  readonly pid: number;
  readonly dir: string;
  /** Graceful shutdown (SIGTERM, SIGKILL after 5 s). Idempotent; frees the port. */
  stop(): Promise<void>;
  /** Stops and starts the server again on the same port (and dir, so a durable server keeps its data). */
  restart(): Promise<void>;
  /** Kills the server abruptly (default SIGKILL), as a crash would; `restart()` brings it back. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const BIND = '127.0.0.1';
const PORT_ATTEMPTS = 5;
const OUTPUT_LINES = 40;

/** Sends an inline PING; true when the server answers +PONG (not -LOADING, not refused). */
function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: BIND });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class RedisServerProcess implements RedisServer {
  readonly dir: string;
  private readonly ownsDir: boolean;
  private readonly binary: string;
  private readonly durable: boolean;
  private readonly timeoutMs: number;
  private readonly log: Logger | undefined;
  private child: ChildProcess | null = null;
  private output: string[] = [];
  private currentPort = 0;
  private stopping: Promise<void> | null = null;
  /** Set before we end the process on purpose, so its exit is not reported as a crash. */
  private expectingExit = false;

  constructor(opts: RedisServerOptions, binary: string) {
    this.binary = binary;
    this.durable = opts.durable ?? false;
    this.timeoutMs = opts.startTimeoutMs ?? 15_000;
    this.log = opts.log;
    if (opts.dir) {
      mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      this.dir = opts.dir;
      this.ownsDir = false;
    } else {
      this.dir = mkdtempSync(join(tmpdir(), 'yoto-redis-'));
      this.ownsDir = true;
    }
  }

  get url(): string {
    return `redis://${BIND}:${this.currentPort}`;
  }

  get port(): number {
    return this.currentPort;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  /** Starts on `port`, or on a fresh free port (retrying when one is taken meanwhile). */
  async start(port?: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const p = port ?? (await freePort(BIND));
      try {
        await this.spawnOn(p);
        return;
      } catch (err) {
        const inUse = /address already in use/i.test(this.output.join('\n'));
        if (port === undefined && inUse && attempt < PORT_ATTEMPTS) {
          this.log?.debug({ port: p, attempt }, 'redis-server port taken; retrying on another');
          continue;
        }
        throw err;
      }
    }
  }

  private async spawnOn(port: number): Promise<void> {
    const args = [
      '--bind', BIND,
      '--port', String(port),
      '--maxmemory-policy', 'noeviction',
      '--save', '',
      '--dir', this.dir,
      '--daemonize', 'no',
      '--logfile', '',
      '--loglevel', 'notice',
      ...(this.durable ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
    ];
    this.output = [];
    // detached: a terminal's Ctrl-C goes to yoto only, which stops Redis last, after the workers.
    // SIGTERM if yoto dies: redis shuts down (and flushes its AOF) instead of lingering.
    const cmd = dieWithParent(this.binary, args, 'SIGTERM');
    const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    guardChild(child);
    this.child = child;
    this.currentPort = port;
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.output.push(line);
        if (this.output.length > OUTPUT_LINES) this.output.shift();
        this.log?.debug({ redis: line.trim() }, 'redis-server');
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const spawned: { error: Error | null } = { error: null };
    child.once('error', (err) => {
      spawned.error = err;
    });
    this.expectingExit = false;
    child.once('exit', (code, signal) => {
      if (!this.expectingExit) this.log?.warn({ port, code, signal }, 'redis-server exited unexpectedly');
    });

    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const failed = spawned.error;
      if (failed) throw new ServiceError('SERVICE_START_FAILED', `could not start ${this.binary}: ${failed.message}`, { cause: failed });
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new ServiceError('SERVICE_START_FAILED', `redis-server exited during start (code ${child.exitCode ?? child.signalCode}):\n${this.tail()}`);
      }
      if (await ping(port)) break;
      if (Date.now() > deadline) {
        this.expectingExit = true;
        await terminateChild(child, 2000);
        throw new ServiceError('SERVICE_START_FAILED', `redis-server did not answer PING on port ${port} within ${this.timeoutMs} ms:\n${this.tail()}`);
      }
      await sleep(50);
    }
    this.log?.debug({ port, pid: child.pid, durable: this.durable }, 'redis-server ready');
  }

  private tail(): string {
    return this.output.slice(-10).map((l) => `  ${l}`).join('\n');
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectingExit = true;
    child.kill(signal);
    await waitForExit(child, 10_000);
  }

  async restart(): Promise<void> {
    if (this.stopping) throw new ServiceError('SERVICE_START_FAILED', 'redis-server was stopped; start a new one instead of restarting');
    const child = this.child;
    this.expectingExit = true;
    if (child) await terminateChild(child, 5000);
    await this.start(this.currentPort);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const child = this.child;
      this.expectingExit = true;
      if (child) await terminateChild(child, 5000);
      if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
      this.log?.debug({ port: this.currentPort }, 'redis-server stopped');
    })();
    return this.stopping;
  }
}

/**
 * Starts a private redis-server and resolves once it answers PING.
 * Throws ServiceError REDIS_SERVER_NOT_FOUND when no redis-server is installed.
 */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = opts.binary ?? findOnPath('redis-server');
  if (!binary) {
    throw new ServiceError(
      'REDIS_SERVER_NOT_FOUND',
      'redis-server was not found on PATH. Run `pnpm setup` (scripts/setup.sh installs it), or set REDIS_URL to use a Redis you already run.',
    );
  }
  const server = new RedisServerProcess(opts, binary);
  try {
    await server.start(opts.port);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
