/**
 * One worker thread of a `transformRow` spread over threads (`transformThreads`). It loads the pipeline's definition
 * file once, then for each step it is given turns each chunk it is sent into its output chunk: rows read, transformed
 * and written as COPY lines, exactly as the worker's own thread does, so the main thread only reads and stages chunks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getPriority, setPriority } from 'node:os';
import type { Pool } from 'pg';
import { loadModule } from '../catalog/load';
import { isPipelineDefinition, type Row, type StepContext, type TransformRowFn } from '../core/pipeline-spec';
import type { Window } from '../core/window';
import { INVALID_ROW_RESULT, transformChunkRows } from './row-transform';
import { copyRows, CopyLineEncoder, type CopyChunk } from './staged-chunk';

/** What a thread is started with: the pipeline whose transform it runs, for as many steps as it is given. */
export interface ThreadSetup {
  /** Absolute path of the definition file. */
  file: string;
  pipeline: string;
}

/** The step a thread's next chunks belong to. */
export interface ThreadStep {
  window: Window;
  workflowId: string;
  attempt: number;
}

/** A chunk's output: COPY lines when every row fits that form, else the rows as a JSON array. */
export type ThreadOutput =
  { form: 'copy'; chunk: CopyChunk } | { form: 'json'; json: string; rowCount: number } | { form: 'empty' };

/** Messages from the main thread. */
export type ToThread =
  | { kind: 'step'; step: ThreadStep }
  | { kind: 'chunk'; id: number; chunk: CopyChunk | Row[] }
  | { kind: 'cancel'; reason: string }
  | { kind: 'close' }
  | { kind: 'connection'; name: string; url?: string; error?: string };

/** Messages to the main thread. */
export type FromThread =
  | { kind: 'ready' }
  | { kind: 'output'; id: number; output: ThreadOutput }
  | { kind: 'failed'; id?: number; error: { name: string; message: string; stack?: string }; invalidRows?: true }
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string; attrs?: Record<string, unknown> }
  | { kind: 'connection'; name: string };

class InvalidRows extends Error {}

/** Collects one chunk's output rows as COPY lines, or as JSON from the first row that does not fit. */
class ChunkOutput {
  private encoder: CopyLineEncoder | undefined;
  private lines: string[] = [];
  private json: string[] | undefined;

  add(row: Row): void {
    if (!this.json) {
      this.encoder ??= new CopyLineEncoder(row);
      const line = this.encoder.line(row);
      if (line !== undefined) {
        this.lines.push(line);
        return;
      }
      // The lines so far read back as exactly the JSON of their rows.
      this.json = this.lines.length === 0 ? [] : copyRows(this.copy()).map((r) => JSON.stringify(r));
    }
    this.json.push(JSON.stringify(row));
  }

  private copy(): CopyChunk {
    return { columns: this.encoder!.columns(), text: `${this.lines.join('\n')}\n`, rowCount: this.lines.length };
  }

  finish(): ThreadOutput {
    if (this.json) return { form: 'json', json: `[${this.json.join(',')}]`, rowCount: this.json.length };
    if (this.lines.length === 0) return { form: 'empty' };
    return { form: 'copy', chunk: this.copy() };
  }
}

function post(message: FromThread): void {
  parentPort!.postMessage(message);
}

function errorOf(err: unknown): { name: string; message: string; stack?: string } {
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
}

function transformOf(setup: ThreadSetup): TransformRowFn {
  const mod = loadModule(setup.file);
  for (const value of Object.values(mod)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (isPipelineDefinition(v) && v.name === setup.pipeline && typeof v.transformRow === 'function') {
        return v.transformRow;
      }
    }
  }
  throw new Error(`${setup.file} no longer defines pipeline '${setup.pipeline}' with a transformRow`);
}

/**
 * The thread's side of the step context: the same data; logs, cancellation and connections go through the worker.
 * Connection pools belong to the thread and serve every step it runs.
 */
function threadConnections(): { postgres: StepContext['postgres']; close: () => Promise<void> } {
  const pending = new Map<string, { resolve(url: string): void; reject(err: Error): void }>();
  const pools = new Map<string, Promise<Pool>>();
  parentPort!.on('message', (m: ToThread) => {
    if (m.kind !== 'connection') return;
    const waiter = pending.get(m.name);
    pending.delete(m.name);
    if (m.url !== undefined) waiter?.resolve(m.url);
    else waiter?.reject(new Error(m.error ?? `connection '${m.name}' is not configured`));
  });
  return {
    postgres(name) {
      let pool = pools.get(name);
      if (!pool) {
        // The worker resolves the name as it does for its own steps; the thread keeps a small pool of its own.
        pool = new Promise<string>((resolve, reject) => {
          pending.set(name, { resolve, reject });
          post({ kind: 'connection', name });
        }).then(async (connectionString) => {
          const { Pool } = await import('pg');
          const p = new Pool({ connectionString, max: 2, application_name: `pipectl:${name}` });
          p.on('error', () => undefined);
          return p;
        });
        pool.catch(() => pools.delete(name));
        pools.set(name, pool);
      }
      return pool;
    },
    close: async () => {
      await Promise.all([...pools.values()].map(async (p) => (await p.catch(() => undefined))?.end()));
    },
  };
}

function stepContext(
  setup: ThreadSetup,
  step: ThreadStep,
  postgres: StepContext['postgres'],
  signal: AbortSignal,
): StepContext {
  const log = (level: 'info' | 'warn' | 'error') => (message: string, attrs?: Record<string, unknown>) =>
    post({ kind: 'log', level, message, ...(attrs ? { attrs } : {}) });
  return {
    pipeline: setup.pipeline,
    window: step.window,
    windowStart: new Date(step.window.start),
    windowEnd: new Date(step.window.end),
    workflowId: step.workflowId,
    attempt: step.attempt,
    postgres,
    // The worker's thread heartbeats for the step while chunks are in the threads.
    heartbeat: () => undefined,
    signal,
    log: { info: log('info'), warn: log('warn'), error: log('error') },
  };
}

async function transformChunk(fn: TransformRowFn, chunk: CopyChunk | Row[], ctx: StepContext): Promise<ThreadOutput> {
  const out = new ChunkOutput();
  await transformChunkRows(
    fn,
    chunk,
    ctx,
    (row) => {
      out.add(row);
      return undefined;
    },
    () => new InvalidRows(INVALID_ROW_RESULT),
  );
  return out.finish();
}

/** How much lower than the worker's own thread a transform thread runs (nice values, 0–19). */
export const THREAD_NICE_OFFSET = 10;

/**
 * Runs this thread below the worker's own thread: a transform over many chunks keeps every thread busy, and the
 * worker's thread (staging reads and writes, heartbeats, workflow tasks) and a database on the same machine (a load
 * running alongside: `overlapLoad`) should not wait behind it. On Linux a priority set with `pid` 0 applies to the
 * calling thread only. Where that is not allowed, the thread keeps its priority.
 */
function lowerPriority(): void {
  try {
    setPriority(0, Math.min(19, getPriority(0) + THREAD_NICE_OFFSET));
  } catch {
    // Not permitted here: the thread runs at the worker's priority.
  }
}

function main(): void {
  const setup = workerData as ThreadSetup;
  lowerPriority();
  let fn: TransformRowFn;
  try {
    fn = transformOf(setup);
  } catch (err) {
    post({ kind: 'failed', error: errorOf(err) });
    return;
  }
  const connections = threadConnections();
  let abort = new AbortController();
  let ctx: StepContext | undefined;
  // Steps and chunks are taken one after another, in the order they came.
  let queue = Promise.resolve();
  parentPort!.on('message', (m: ToThread) => {
    if (m.kind === 'cancel') abort.abort(new Error(m.reason));
    // Closing: the thread's own pools end, then it has nothing left to run and exits.
    if (m.kind === 'close') void queue.then(connections.close).finally(() => parentPort!.close());
    if (m.kind === 'step') {
      queue = queue.then(() => {
        abort = new AbortController();
        ctx = stepContext(setup, m.step, connections.postgres, abort.signal);
      });
    }
    if (m.kind !== 'chunk') return;
    queue = queue.then(async () => {
      try {
        if (!ctx) throw new Error('a chunk came before its step');
        post({ kind: 'output', id: m.id, output: await transformChunk(fn, m.chunk, ctx) });
      } catch (err) {
        post({
          kind: 'failed',
          id: m.id,
          error: errorOf(err),
          ...(err instanceof InvalidRows ? { invalidRows: true as const } : {}),
        });
      }
    });
  });
  post({ kind: 'ready' });
}

if (parentPort && (workerData as { pipectlTransformThread?: true } | undefined)?.pipectlTransformThread) main();
