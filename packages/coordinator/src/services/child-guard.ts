/**
 * Every child process the embedded services start (redis-server, local workers) is
 * registered here, so that however this process ends — normally, through an uncaught
 * error, or through a signal a command handles — the children die with it. Children
 * run in their own process group (`detached`), so a terminal's Ctrl-C reaches only
 * this process, which then stops them in order (workers before Redis); the `exit`
 * hook is the backstop that SIGKILLs whatever is still alive.
 *
 * An unhandled SIGTERM or a SIGKILL of this process skips the `exit` hook. For that,
 * on Linux, children are started through `setpriv --pdeathsig`, which asks the kernel
 * to signal the child when its parent dies and then execs the command (same pid).
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first executable called `name` on PATH, or null. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

let setpriv: string | null | undefined;

/**
 * The command wrapped so that the kernel sends it `signal` when this process dies,
 * however it dies: `setpriv --pdeathsig SIG cmd args…` on Linux (util-linux); the
 * command unchanged where setpriv is missing.
 */
export function dieWithParent(command: string, args: readonly string[], signal: 'SIGTERM' | 'SIGKILL'): { command: string; args: string[] } {
  if (setpriv === undefined) setpriv = process.platform === 'linux' ? findOnPath('setpriv') : null;
  if (!setpriv) return { command, args: [...args] };
  return { command: setpriv, args: ['--pdeathsig', signal.slice(3), '--', command, ...args] };
}

const live = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}

/** Registers a child to be killed when this process exits; unregisters itself when the child exits. */
export function guardChild(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    process.on('exit', killAll);
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** True while the process with this pid exists (signal 0 probes without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Resolves with the child's exit (code, signal), or `null` after `timeoutMs`.
 * Safe to call after the child has already exited.
 */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(null);
    }, timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve({ code, signal });
    };
    child.once('exit', onExit);
  });
}

/**
 * Stops a child: `signal`, then SIGKILL if it is still alive after `graceMs`.
 * Resolves once the child has exited.
 */
export async function terminateChild(child: ChildProcess, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill(signal);
  } catch {
    // exited between the check and the kill
  }
  if (await waitForExit(child, graceMs)) return;
  try {
    child.kill('SIGKILL');
  } catch {
    // exited meanwhile
  }
  await waitForExit(child, 5000);
}
