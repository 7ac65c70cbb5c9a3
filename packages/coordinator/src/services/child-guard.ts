/**
 * Every child process the embedded services start (redis-server, local workers) is
 * registered here, so that however this process ends — normally, through an uncaught
 * error, or through a signal a command handles — the children die with it. Children
 * run in their own process group (`detached`), so a terminal's Ctrl-C reaches only
 * this process, which then stops them in order (workers before Redis); the `exit`
 * hook is the backstop that SIGKILLs whatever is still alive.
 *
 * A SIGKILL of this process cannot be intercepted: its children would outlive it.
 */
import type { ChildProcess } from 'node:child_process';

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
