/**
 * The worker's side of a `transformRow` spread over threads (`transformThreads`): starts the threads for one step,
 * hands them chunks in turn and gives their outputs back in the order the chunks came.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Row, StepContext } from '../core/pipeline-spec';
import type { CopyChunk } from './staged-chunk';
import type { FromThread, ThreadOutput, ThreadSetup, ToThread } from './transform-thread';

/** How long a closing thread may take to end its own connections before it is stopped. */
const CLOSE_GRACE_MS = 2_000;

/** A failure inside a thread, carried back with its name, message and stack. */
export class ThreadError extends Error {
  constructor(
    error: { name: string; message: string; stack?: string },
    /** transformRow returned something other than rows. */
    readonly invalidRows = false,
  ) {
    super(error.message);
    this.name = error.name;
    if (error.stack) this.stack = error.stack;
  }
}

interface Thread {
  worker: Worker;
  exited: boolean;
  /** Chunks sent and not yet answered, by ID. */
  waiting: Map<number, { resolve(output: ThreadOutput): void; reject(err: Error): void }>;
}

/**
 * The thread code: the module is compiled on the fly where the worker itself runs from TypeScript (tsx registers
 * the same hook the catalog uses for definition files).
 */
function threadSource(): string {
  const file = join(__dirname, `transform-thread${__filename.endsWith('.ts') ? '.ts' : '.js'}`);
  // Resolved here: the thread's own require starts from the working directory, which may not see pipectl's packages.
  const tsx = require.resolve('tsx/cjs/api');
  return `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(file)});`;
}

export class TransformThreads {
  private readonly threads: Thread[] = [];
  private nextId = 0;
  private turn = 0;
  private failure: Error | undefined;

  private constructor() {}

  /** Starts `count` threads for one step and waits until each has loaded the definition. */
  static async start(
    count: number,
    setup: ThreadSetup,
    ctx: StepContext,
    connectionUrl: (name: string) => Promise<string>,
  ): Promise<TransformThreads> {
    const pool = new TransformThreads();
    const ready: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const worker = new Worker(threadSource(), {
        eval: true,
        workerData: { ...setup, pipectlTransformThread: true },
      });
      const thread: Thread = { worker, exited: false, waiting: new Map() };
      pool.threads.push(thread);
      ready.push(
        new Promise<void>((resolve, reject) => {
          const fail = (err: Error) => {
            pool.fail(thread, err);
            reject(err);
          };
          worker.on('message', (m: FromThread) => {
            switch (m.kind) {
              case 'ready':
                resolve();
                break;
              case 'output':
                thread.waiting.get(m.id)?.resolve(m.output);
                thread.waiting.delete(m.id);
                break;
              case 'failed': {
                const err = new ThreadError(m.error, m.invalidRows === true);
                if (m.id === undefined) fail(err);
                else {
                  thread.waiting.get(m.id)?.reject(err);
                  thread.waiting.delete(m.id);
                }
                break;
              }
              case 'log':
                ctx.log[m.level](m.message, m.attrs);
                break;
              case 'connection':
                connectionUrl(m.name).then(
                  (url) => worker.postMessage({ kind: 'connection', name: m.name, url } satisfies ToThread),
                  (err: Error) =>
                    worker.postMessage({ kind: 'connection', name: m.name, error: err.message } satisfies ToThread),
                );
                break;
            }
          });
          worker.on('error', fail);
          worker.on('exit', (code) => {
            thread.exited = true;
            fail(new Error(`a transformRow thread stopped (exit code ${code})`));
          });
        }),
      );
    }
    const cancel = () => pool.send({ kind: 'cancel', reason: String(ctx.signal.reason ?? 'cancelled') });
    if (ctx.signal.aborted) cancel();
    else ctx.signal.addEventListener('abort', cancel, { once: true });
    try {
      await Promise.all(ready);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Rejects what a thread was still working on; once one thread fails, the step fails. */
  private fail(thread: Thread, err: Error): void {
    this.failure ??= err;
    for (const w of thread.waiting.values()) w.reject(err);
    thread.waiting.clear();
  }

  private send(message: ToThread): void {
    for (const t of this.threads) t.worker.postMessage(message);
  }

  /** Sends one chunk to the next thread in turn; resolves to its output. */
  transform(chunk: CopyChunk | Row[]): Promise<ThreadOutput> {
    if (this.failure) return Promise.reject(this.failure);
    const thread = this.threads[this.turn++ % this.threads.length]!;
    const id = this.nextId++;
    return new Promise<ThreadOutput>((resolve, reject) => {
      thread.waiting.set(id, { resolve, reject });
      thread.worker.postMessage({ kind: 'chunk', id, chunk } satisfies ToThread);
    });
  }

  /** Ends the threads: each closes its own connections, and is stopped if it takes longer than a moment. */
  async close(): Promise<void> {
    await Promise.all(
      this.threads.map(async (thread) => {
        const { worker } = thread;
        if (thread.exited) return;
        worker.removeAllListeners('exit');
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        worker.postMessage({ kind: 'close' } satisfies ToThread);
        const timer = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
