/**
 * The worker's side of a `transformRow` spread over threads (`transformThreads`): starts a pipeline's threads, hands
 * them a step's chunks in turn and gives their outputs back in the order the chunks came, and keeps the threads for
 * the pipeline's next steps for a while.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Row, StepContext } from '../core/pipeline-spec';
import type { CopyChunk } from './staged-chunk';
import type { FromThread, ThreadOutput, ThreadSetup, ThreadStep, ToThread } from './transform-thread';

/** How long a closing thread may take to end its own connections before it is stopped. */
const CLOSE_GRACE_MS = 2_000;

/**
 * How long a pipeline's threads wait, idle, for its next step. Starting two threads takes about 0.4 s (each loads the
 * definition file and what it imports); the steps of a backfill or a DAG run come seconds apart.
 */
export const THREAD_IDLE_MS = 2 * 60_000;

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
  /** The step being run, and the one before (a late log line of its transform still has somewhere to go). */
  private ctx: StepContext | undefined;
  private lastCtx: StepContext | undefined;
  private detach: (() => void) | undefined;

  private constructor(
    /** What the threads were started with, and when their definition file was last changed. */
    readonly key: string,
  ) {}

  /** Starts `count` threads for a pipeline and waits until each has loaded the definition. */
  static async start(
    count: number,
    setup: ThreadSetup,
    connectionUrl: (name: string) => Promise<string>,
    key = poolKey(setup, count),
  ): Promise<TransformThreads> {
    const pool = new TransformThreads(key);
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
                (pool.ctx ?? pool.lastCtx)?.log[m.level](m.message, m.attrs);
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
    try {
      await Promise.all(ready);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Gives the threads the step their next chunks belong to; a cancelled step's threads stop at their next chunk. */
  beginStep(step: ThreadStep, ctx: StepContext): void {
    this.ctx = ctx;
    this.lastCtx = ctx;
    this.send({ kind: 'step', step });
    const cancel = () => this.send({ kind: 'cancel', reason: String(ctx.signal.reason ?? 'cancelled') });
    if (ctx.signal.aborted) cancel();
    else {
      ctx.signal.addEventListener('abort', cancel, { once: true });
      this.detach = () => ctx.signal.removeEventListener('abort', cancel);
    }
  }

  /**
   * Ends the step; true when the threads can serve another step: none failed or stopped, the step was not cancelled,
   * and no chunk is still in a thread.
   */
  endStep(): boolean {
    this.detach?.();
    this.detach = undefined;
    const cancelled = this.ctx?.signal.aborted === true;
    this.ctx = undefined;
    return !cancelled && this.healthy();
  }

  /** No thread failed or stopped, and none holds a chunk. */
  healthy(): boolean {
    return !this.failure && this.threads.every((t) => !t.exited && t.waiting.size === 0);
  }

  /** Whether the threads keep the worker process alive: not while they wait in the pool. */
  hold(on: boolean): void {
    for (const t of this.threads) {
      if (on) t.worker.ref();
      else t.worker.unref();
    }
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

/** Threads for one pipeline, its thread count and the version of its definition file. */
function poolKey(setup: ThreadSetup, count: number): string {
  let changed = 0;
  try {
    changed = statSync(setup.file).mtimeMs;
  } catch {
    // A missing file fails in the thread, with the file's name.
  }
  return JSON.stringify([setup.file, changed, setup.pipeline, count]);
}

/**
 * The worker's transform threads, kept between steps: a step takes a pipeline's idle threads (or starts them) and
 * gives them back when it ends well; threads of a step that failed or was cancelled stop. Idle threads stop after
 * {@link THREAD_IDLE_MS}, or when their definition file changes (the next step starts threads on the new file), and
 * never keep the worker process alive.
 */
export class TransformThreadPools {
  private readonly idle = new Map<string, { threads: TransformThreads; timer: NodeJS.Timeout }[]>();
  private closed = false;

  constructor(private readonly idleMs = THREAD_IDLE_MS) {}

  /** Idle threads of the pipeline at its file's current version, or new ones. */
  async acquire(
    setup: ThreadSetup,
    count: number,
    connectionUrl: (name: string) => Promise<string>,
  ): Promise<TransformThreads> {
    const key = poolKey(setup, count);
    const waiting = this.idle.get(key) ?? [];
    for (let entry = waiting.pop(); entry; entry = waiting.pop()) {
      clearTimeout(entry.timer);
      if (entry.threads.healthy()) {
        entry.threads.hold(true);
        return entry.threads;
      }
      void entry.threads.close();
    }
    return TransformThreads.start(count, setup, connectionUrl, key);
  }

  /** Takes threads back after a step: kept when `reusable` and the pool is open, stopped otherwise. */
  async release(threads: TransformThreads, reusable: boolean): Promise<void> {
    if (!reusable || this.closed) return threads.close();
    threads.hold(false);
    const waiting = this.idle.get(threads.key) ?? [];
    this.idle.set(threads.key, waiting);
    const entry = {
      threads,
      timer: setTimeout(() => {
        waiting.splice(waiting.indexOf(entry), 1);
        if (waiting.length === 0 && this.idle.get(threads.key) === waiting) this.idle.delete(threads.key);
        void threads.close();
      }, this.idleMs),
    };
    entry.timer.unref();
    waiting.push(entry);
  }

  /** Idle thread sets, for tests and the worker's shutdown. */
  get idleCount(): number {
    return [...this.idle.values()].reduce((n, list) => n + list.length, 0);
  }

  /** Stops every idle thread; threads given back later stop at once. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.idle.values()].flat();
    this.idle.clear();
    await Promise.all(
      entries.map(async (e) => {
        clearTimeout(e.timer);
        await e.threads.close();
      }),
    );
  }
}
