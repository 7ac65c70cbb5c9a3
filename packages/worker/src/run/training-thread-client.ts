/**
 * A long-lived training thread seen from the main thread: start one run at a time,
 * receive its messages, stop it gracefully, terminate it.
 */
import { Worker } from 'node:worker_threads';
import type { FromThread, ToThread } from './protocol.ts';

export class TrainingThread {
  private worker: Worker | null = null;
  private listener: ((msg: FromThread) => void) | null = null;
  private exitHandler: ((err: Error) => void) | null = null;

  private spawn(): Worker {
    // The entry registers the TypeScript loader when the thread did not inherit it.
    const w = new Worker(new URL('./training-thread-entry.mjs', import.meta.url), { stdout: false, stderr: false });
    w.on('message', (m: FromThread) => this.listener?.(m));
    w.on('error', (err) => this.exitHandler?.(err));
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = null;
      this.exitHandler?.(new Error(`training thread exited with code ${code}`));
    });
    return w;
  }

  /** Runs one exchange: sends `start`, delivers messages until `onMessage` resolves true. */
  run(start: ToThread, transfer: ArrayBuffer[], onMessage: (msg: FromThread) => Promise<boolean>): Promise<void> {
    this.worker ??= this.spawn();
    const w = this.worker;
    return new Promise<void>((resolve, reject) => {
      let chain = Promise.resolve();
      let finished = false;
      const finish = (err?: Error) => {
        if (finished) return;
        finished = true;
        this.listener = null;
        this.exitHandler = null;
        if (err) reject(err);
        else resolve();
      };
      // Messages are handled strictly in order, one at a time.
      this.listener = (msg) => {
        chain = chain
          .then(async () => {
            if (finished) return;
            if (await onMessage(msg)) finish();
          })
          .catch((err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
      };
      this.exitHandler = (err) => finish(err);
      w.postMessage(start, transfer);
    });
  }

  send(msg: ToThread): void {
    this.worker?.postMessage(msg);
  }

  async terminate(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
