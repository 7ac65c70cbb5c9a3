/**
 * Local worker processes for `yoto demo` / `yoto up`: N children running the worker
 * entry (`packages/worker/src/main.ts`, through tsx), each told where Redis and S3
 * are through the environment (`connectionEnv`) and named `local-<i>`.
 *
 * The coordinator never imports the worker package; it only runs its entry file,
 * found relative to this file in the repository.
 *
 * Their JSON log lines (pino, stderr) go to `<home>/logs/local-<i>.log` by default,
 * keeping the terminal free for progress; or they are re-emitted through the
 * parent's logger. No restart policy: a worker that exits is reported to `onExit`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectionEnv, type ConnectionConfig, type Logger } from '@yoto/runtime';
import { dieWithParent, guardChild, terminateChild } from './child-guard.ts';
import { ServiceError } from './service-error.ts';

/** The worker process entry, next to this package in the repository. */
export const WORKER_ENTRY = fileURLToPath(new URL('../../../worker/src/main.ts', import.meta.url));

export interface WorkerExit {
  name: string;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines the worker wrote (stdout and stderr), for error messages. */
  lastLines: string[];
}

export interface LocalWorkersOptions {
  /** Number of worker processes. */
  count: number;
  config: ConnectionConfig;
  log: Logger;
  /**
   * Where worker log lines go: files under `<config.home>/logs/`, or the parent's logger.
   * @defaultValue 'file'
   */
  logTo?: 'file' | 'parent';
  /**
   * Base environment of the children (the connection variables are laid over it).
   * @defaultValue process.env
   */
  env?: NodeJS.ProcessEnv;
  /** Extra variables, e.g. `{ YOTO_BACKEND: 'wasm', YOTO_CONCURRENCY: '1' }`. */
  extraEnv?: Record<string, string>;
  /**
   * Worker names are `<namePrefix><i>` (1-based).
   * @defaultValue 'local-'
   */
  namePrefix?: string;
  /**
   * How long `stop()` waits after SIGTERM (a worker finishes or checkpoints its job) before SIGKILL.
   * @defaultValue 30000
   */
  stopTimeoutMs?: number;
  /** @defaultValue {@link WORKER_ENTRY} */
  entry?: string;
  /** Called when a worker exits without being asked to. */
  onExit?: (exit: WorkerExit) => void;
}

export interface LocalWorker {
  readonly name: string;
  readonly pid: number;
  /** The log file, when logging to files. */
  readonly logFile: string | null;
}

export interface LocalWorkers {
  readonly workers: readonly LocalWorker[];
  /** SIGTERM to every worker, SIGKILL to those still alive after `stopTimeoutMs`. Idempotent. */
  stop(): Promise<void>;
}

const TAIL_LINES = 30;
const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** `--import` target for tsx, resolved from here so the children work from any cwd. */
function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

/** The command that runs the worker entry: `node --import tsx <entry>`. */
export function workerCommand(entry = WORKER_ENTRY): { command: string; args: string[] } {
  if (!existsSync(entry)) {
    throw new ServiceError('WORKER_ENTRY_NOT_FOUND', `the worker entry ${entry} does not exist; yoto runs local workers from a checkout of the repository`);
  }
  return { command: process.execPath, args: ['--import', tsxLoader(), entry] };
}

/**
 * The environment of a worker child: base env + connection + name (when given) + the
 * SDK's Node-version warning off + `extra`.
 */
export function workerEnv(config: ConnectionConfig, name: string | undefined, base: NodeJS.ProcessEnv = process.env, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...base,
    ...connectionEnv(config),
    ...(name ? { YOTO_WORKER_NAME: name } : {}),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...extra,
  };
}

/** Splits a stream into lines and calls `onLine` for each complete one. */
function eachLine(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    rest += chunk;
    let i: number;
    while ((i = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      if (line.trim()) onLine(line);
    }
  });
  stream.on('end', () => {
    if (rest.trim()) onLine(rest);
  });
}

/** Re-emits one pino JSON line from a child through `log` (plain text lines at info). */
function reemit(log: Logger, line: string): void {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    log.info({ line }, 'worker output');
    return;
  }
  const { level, msg, time: _time, pid, hostname: _h, name: _n, ...fields } = rec;
  const method = PINO_LEVELS[typeof level === 'number' ? level : 30] ?? 'info';
  log[method]({ ...fields, workerPid: pid }, typeof msg === 'string' ? msg : 'worker');
}

export function startWorkerProcesses(opts: LocalWorkersOptions): LocalWorkers {
  const { command, args } = workerCommand(opts.entry);
  const logTo = opts.logTo ?? 'file';
  const prefix = opts.namePrefix ?? 'local-';
  const logDir = join(opts.config.home, 'logs');
  if (logTo === 'file') mkdirSync(logDir, { recursive: true, mode: 0o700 });

  const children: { child: ChildProcess; worker: LocalWorker; file: WriteStream | null }[] = [];
  let stopping: Promise<void> | null = null;

  const spawnOne = (i: number) => {
    const name = `${prefix}${i}`;
    // detached: Ctrl-C reaches only the parent, which stops the workers before Redis.
    // SIGKILL if yoto dies: the services it hosted (S3 always, Redis usually) die with it,
    // so a graceful stop could only hang; the job's lock expires and another worker resumes it.
    const cmd = dieWithParent(command, args, 'SIGKILL');
    const child = spawn(cmd.command, cmd.args, { env: workerEnv(opts.config, name, opts.env, opts.extraEnv), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    guardChild(child);
    const logFile = logTo === 'file' ? join(logDir, `${name}.log`) : null;
    const file = logFile ? createWriteStream(logFile, { flags: 'a', mode: 0o600 }) : null;
    const childLog = opts.log.child({ worker: name });
    const tail: string[] = [];
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      if (file) file.write(`${line}\n`);
      else reemit(childLog, line);
    };
    eachLine(child.stdout, onLine);
    eachLine(child.stderr, onLine);
    child.once('error', (err) => opts.log.error({ err, worker: name }, 'could not start worker process'));
    // 'close', not 'exit': the last output lines have been read by then.
    child.once('close', (code, signal) => {
      file?.end();
      if (!stopping) {
        opts.log.warn({ worker: name, code, signal }, 'worker process exited');
        opts.onExit?.({ name, pid: child.pid ?? -1, code, signal, lastLines: [...tail] });
      }
    });
    const worker: LocalWorker = { name, pid: child.pid ?? -1, logFile };
    children.push({ child, worker, file });
    opts.log.debug({ worker: name, pid: child.pid, logFile }, 'worker process started');
  };
  for (let i = 1; i <= opts.count; i++) spawnOne(i);

  const stop = (): Promise<void> => {
    stopping ??= Promise.all(children.map(({ child }) => terminateChild(child, opts.stopTimeoutMs ?? 30_000))).then(() => undefined);
    return stopping;
  };
  return { workers: children.map((c) => c.worker), stop };
}
