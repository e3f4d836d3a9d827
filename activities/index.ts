import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { PipelineSpec, Row, StepContext, TransformRowFn } from '../core/pipeline-spec';
import type { FollowedOutput, StepData, StepName, StepProgress } from '../core/run-input';
import type { Window } from '../core/window';
import { readFileRows, writeFileRows } from './files';
import type { PostgresPools } from './postgres/pools';
import { copyQueryRows, loadRows as loadPostgresRows } from './postgres/steps';
import { CHUNK_BYTES, OutputRestarted, type Staging } from './staging';
import type { CopyChunk } from './staged-chunk';
import { INVALID_ROW_RESULT, transformChunkRows } from './row-transform';
import { dagRunSucceeded } from './backfill';
import { checkUpstreams } from './upstream';
import { createNotifyActivities } from './notify';
import { ThreadError, TransformThreadPools } from './transform-threads';
import type { ThreadOutput } from './transform-thread';
import { StepStops, type StopOptions } from './step-stops';

/**
 * How often a running step heartbeats by default (a third of its heartbeat timeout when that is shorter): it learns of
 * a cancellation from the answer, so this bounds how long a cancelled step runs on. The worker's
 * `PIPECTL_HEARTBEAT_INTERVAL` sets it; on Temporal Cloud each heartbeat sent is a billed action.
 */
export const HEARTBEAT_EVERY_MS = 10_000;

/** Error type when a worker does not know the pipeline a run names. */
export const PIPELINE_NOT_FOUND = 'PipelineNotFound';

/** What the activities need; tests pass real or test instances. */
export interface ActivityDeps {
  /** Looks a pipeline up by name in the worker's catalog. */
  pipeline(name: string): PipelineSpec | undefined;
  /** The definition file of a pipeline, when it came from one (a transform spread over threads loads it there). */
  pipelineFile?(name: string): string | undefined;
  pools: PostgresPools;
  staging: Staging;
  /** Results above this size are staged instead of returned inline. */
  inlineLimitBytes: number;
  /** Base folder of relative file paths (default: the worker's working directory). */
  filesDir?: string;
  /** Transform threads kept between steps; the worker closes them when it stops (default: a set of its own). */
  transformThreads?: TransformThreadPools;
  /** How often a running step heartbeats at most (default {@link HEARTBEAT_EVERY_MS}). */
  heartbeatEveryMs?: number;
}

/** Which pipeline and window a step works on. */
export interface StepRequest {
  pipeline: string;
  window: Window;
  /**
   * The pipeline run the step belongs to, when it is not the workflow run that scheduled the step: a pipeline run
   * inside its DAG run (`inline`) names its own, so its staged data and its load's ledger row are its own.
   */
  run?: PipelineRunId;
}

/** The identity of a pipeline run: what its staged data and its load's ledger row are keyed by. */
export interface PipelineRunId {
  workflowId: string;
  runId: string;
}

/** What a load reports. */
export interface LoadResult {
  rows: number;
  /** The load had committed in an earlier attempt; nothing was written again. */
  replayed: boolean;
}

/** What a run's steps run together as one activity (`localSteps: 'fused'`) report. */
export interface FusedStepsResult {
  /** Each step's outcome: rows, times, whether its output was staged. */
  steps: Record<StepName, StepProgress>;
  rowsExtracted: number;
  rowsLoaded: number;
  /** The load had committed in an earlier attempt; nothing was written again. */
  loadReplayed: boolean;
}

/**
 * The details of a failure of fused steps: the step it came from, and the outcomes of the steps before it. The
 * failure keeps the step's error type, message and retryability, so the retry policy treats it as the step's own.
 */
export interface FusedStepFailure {
  step: StepName;
  steps: Partial<Record<StepName, StepProgress>>;
}

/** The step's failure with the details of where fused steps failed; a cancellation goes on as it is. */
function fusedFailure(err: unknown, failure: FusedStepFailure): unknown {
  if (!(err instanceof Error) || err instanceof CancelledFailure || Context.current().cancellationSignal.aborted) {
    return err;
  }
  const app = err instanceof ApplicationFailure ? err : undefined;
  return ApplicationFailure.create({
    type: app ? (app.type ?? 'Error') : err.name,
    message: err.message,
    nonRetryable: app?.nonRetryable ?? false,
    ...(app?.nextRetryDelay != null ? { nextRetryDelay: app.nextRetryDelay } : {}),
    details: [failure],
    cause: err,
  });
}

/** The pipeline run a step belongs to: the one it names, else its workflow run. Steps only run inside a run. */
function execution(req: { run?: PipelineRunId }): PipelineRunId {
  if (req.run) return req.run;
  const run = Context.current().info.workflowExecution;
  if (!run)
    throw ApplicationFailure.create({
      type: 'NotInWorkflow',
      nonRetryable: true,
      message: 'pipeline steps run inside a pipeline run',
    });
  return run;
}

/**
 * Records a heartbeat: the step is alive, and learns of a cancellation. A local step (the pipeline's `localSteps`) has
 * no heartbeat to record: its worker watches it, and its cancellation arrives without one.
 */
function beat(ctx: Context, details?: unknown): void {
  if (!ctx.info.isLocal) ctx.heartbeat(details);
}

/** Builds the step activities over their dependencies. */
export function createActivities(deps: ActivityDeps) {
  const threadPools = deps.transformThreads ?? new TransformThreadPools();
  function specOf(name: string): PipelineSpec {
    const spec = deps.pipeline(name);
    if (!spec) {
      throw ApplicationFailure.create({
        type: PIPELINE_NOT_FOUND,
        nonRetryable: true,
        message: `this worker has no pipeline named '${name}': deploy its definition to the worker's pipelines folder`,
      });
    }
    return spec;
  }

  function stepContext(
    spec: PipelineSpec,
    req: StepRequest,
    signal = Context.current().cancellationSignal,
  ): StepContext {
    const { window } = req;
    const ctx = Context.current();
    const { workflowId } = execution(req);
    const attrs = { pipeline: spec.name, windowStart: window.start, windowEnd: window.end, workflowId };
    return {
      pipeline: spec.name,
      window,
      windowStart: new Date(window.start),
      windowEnd: new Date(window.end),
      workflowId,
      attempt: ctx.info.attempt,
      postgres: (name) => deps.pools.get(name),
      heartbeat: (details) => beat(ctx, details),
      signal,
      log: {
        info: (m, a) => ctx.log.info(m, { ...attrs, ...a }),
        warn: (m, a) => ctx.log.warn(m, { ...attrs, ...a }),
        error: (m, a) => ctx.log.error(m, { ...attrs, ...a }),
      },
    };
  }

  /** Heartbeats in the background while `fn` runs, so a long step is seen alive (and learns of cancellation). */
  async function heartbeating<T>(fn: () => Promise<T>): Promise<T> {
    const ctx = Context.current();
    if (ctx.info.isLocal) return fn();
    const most = deps.heartbeatEveryMs ?? HEARTBEAT_EVERY_MS;
    const every = Math.max(Math.min(1_000, most), Math.min(most, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
    const timer = setInterval(() => ctx.heartbeat(), every);
    try {
      return await fn();
    } finally {
      clearInterval(timer);
    }
  }

  function stagingRef(req: StepRequest, step: string): string {
    const { workflowId, runId } = execution(req);
    return `${workflowId}/${runId}/${step}/${Context.current().info.attempt}`;
  }

  async function collect(
    req: StepRequest,
    step: string,
    rows: AsyncIterable<Row[] | CopyChunk> | Row[],
    signal = Context.current().cancellationSignal,
  ): Promise<StepData> {
    const writer = deps.staging.writer(stagingRef(req, step), deps.inlineLimitBytes);
    if (Array.isArray(rows)) {
      if (!rows.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r))) {
        throw ApplicationFailure.create({
          type: 'InvalidRows',
          nonRetryable: true,
          message: `${step} must return an array of objects`,
        });
      }
      await writer.push(rows);
    } else {
      for await (const batch of rows) {
        await (Array.isArray(batch) ? writer.push(batch) : writer.pushCopy(batch));
        beat(Context.current());
        // A cancelled step stops at the end of a chunk (its CancelledFailure), rather than reading the rest.
        signal.throwIfAborted();
      }
    }
    return writer.finish();
  }

  /**
   * A row transform over the staged rows: each row is read, transformed and written as its output line before the
   * next is read, so only the chunk's text and its output lines stay in memory.
   */
  async function transformEachRow(
    req: StepRequest,
    fn: TransformRowFn,
    data: StepData,
    ctx: StepContext,
  ): Promise<StepData> {
    const writer = deps.staging.writer(stagingRef(req, 'transform'), deps.inlineLimitBytes);
    const invalid = () =>
      ApplicationFailure.create({ type: 'InvalidRows', nonRetryable: true, message: INVALID_ROW_RESULT });
    const add = (row: Row) => (writer.add(row) ? writer.flush() : undefined);
    for await (const chunk of deps.staging.stored(data)) {
      await transformChunkRows(fn, chunk, ctx, add, invalid);
      beat(Context.current());
      // A cancelled step stops at the end of a chunk (its CancelledFailure), rather than transforming the rest.
      ctx.signal.throwIfAborted();
    }
    return writer.finish();
  }

  /**
   * A row transform spread over `transformThreads` threads: each chunk of the staged input goes to the next thread in
   * turn, and the outputs are staged in the order of their chunks, so the result is the same as on one thread.
   */
  async function transformOnThreads(
    req: StepRequest,
    spec: PipelineSpec,
    file: string,
    data: StepData,
    ctx: StepContext,
  ): Promise<StepData> {
    const writer = deps.staging.writer(stagingRef(req, 'transform'), deps.inlineLimitBytes);
    const threads = await threadPools.acquire({ file, pipeline: spec.name }, spec.transformThreads, (name) =>
      deps.pools.url(name),
    );
    threads.beginStep({ window: ctx.window, workflowId: ctx.workflowId, attempt: ctx.attempt }, ctx);
    let done = false;
    const write = async (output: ThreadOutput) => {
      if (output.form === 'copy') await writer.pushEncoded(output.chunk);
      else if (output.form === 'json') await writer.push(JSON.parse(output.json) as Row[]);
      beat(Context.current());
      ctx.signal.throwIfAborted();
    };
    // Chunks in the threads at once: one each, and one more waiting, so no thread waits for the next read.
    const pending: Promise<ThreadOutput>[] = [];
    try {
      for await (const chunk of deps.staging.stored(data)) {
        ctx.signal.throwIfAborted();
        const output = threads.transform(chunk);
        // Awaited in order below; a failure seen first by a later chunk must not count as unhandled meanwhile.
        output.catch(() => undefined);
        pending.push(output);
        if (pending.length > spec.transformThreads) await write(await pending.shift()!);
      }
      while (pending.length > 0) await write(await pending.shift()!);
      const result = await writer.finish();
      done = true;
      return result;
    } catch (err) {
      if (err instanceof ThreadError && err.invalidRows) {
        throw ApplicationFailure.create({ type: 'InvalidRows', nonRetryable: true, message: err.message });
      }
      throw err;
    } finally {
      // The threads wait for the pipeline's next step only after a step that ended well.
      const reusable = threads.endStep() && done;
      await threadPools.release(threads, reusable);
    }
  }

  /** The pipeline's extract over the window; it stops when `signal` aborts. */
  async function extract(req: StepRequest, signal?: AbortSignal): Promise<StepData> {
    const spec = specOf(req.pipeline);
    const ctx = stepContext(spec, req, signal);
    return heartbeating(async () => {
      const step = spec.extract;
      if (typeof step === 'function') {
        const rows = await step(ctx);
        if (!Array.isArray(rows)) {
          throw ApplicationFailure.create({
            type: 'InvalidRows',
            nonRetryable: true,
            message: 'extract must return an array of rows',
          });
        }
        return collect(req, 'extract', rows, signal);
      }
      if (step.kind === 'postgres.query') {
        const pool = await deps.pools.get(step.connection);
        return collect(
          req,
          'extract',
          copyQueryRows(pool, step, req.window, CHUNK_BYTES, () => ctx.heartbeat()),
          signal,
        );
      }
      return collect(req, 'extract', readFileRows(step, req.window, deps.filesDir), signal);
    });
  }

  /** The pipeline's transform over the extracted rows; it stops when `signal` aborts. */
  async function transform(req: StepRequest & { data: StepData }, signal?: AbortSignal): Promise<StepData> {
    const spec = specOf(req.pipeline);
    // Without a transform the extract's data goes on as it is (staged data is read by reference).
    if (!spec.transform && !spec.transformRow) return req.data;
    const ctx = stepContext(spec, req, signal);
    return heartbeating(async () => {
      if (spec.transformRow) {
        const file = spec.transformThreads > 1 ? deps.pipelineFile?.(spec.name) : undefined;
        // Threads pay off over staged windows; a window small enough to travel inline is transformed here.
        if (file && req.data.kind === 'staged') return transformOnThreads(req, spec, file, req.data, ctx);
        return transformEachRow(req, spec.transformRow, req.data, ctx);
      }
      const rows = await deps.staging.readAll(req.data);
      const out = await spec.transform!(rows, ctx);
      if (!Array.isArray(out)) {
        throw ApplicationFailure.create({
          type: 'InvalidRows',
          nonRetryable: true,
          message: 'transform must return an array of rows',
        });
      }
      return collect(req, 'transform', out, ctx.signal);
    });
  }

  /** The pipeline's load over the given chunks of rows. */
  async function load(
    req: StepRequest,
    chunks: AsyncIterable<CopyChunk | Row[]>,
    signal?: AbortSignal,
  ): Promise<LoadResult> {
    const spec = specOf(req.pipeline);
    const ctx = stepContext(spec, req, signal);
    const { workflowId, runId } = execution(req);
    return heartbeating(async () => {
      const step = spec.load;
      if (typeof step === 'function') {
        const rows = await deps.staging.readAll(chunks);
        const n = await step(rows, ctx);
        return { rows: typeof n === 'number' ? n : rows.length, replayed: false };
      }
      if (step.kind === 'postgres.load') {
        const pool = await deps.pools.get(step.connection);
        return loadPostgresRows(
          pool,
          step,
          { pipeline: spec.name, workflowId, runId, window: req.window },
          chunks,
          () => ctx.heartbeat(),
        );
      }
      const rows = await writeFileRows(step, req.window, deps.staging.chunks(chunks), deps.filesDir);
      return { rows, replayed: false };
    });
  }

  const stops = new StepStops();
  const runKey = (req: { run?: PipelineRunId }) => {
    const { workflowId, runId } = execution(req);
    return `${workflowId}/${runId}`;
  };
  /**
   * A step, with the signal that stops it: its cancellation, or, as a local activity running alongside another step
   * of its run or inside a DAG run, also {@link StepStops.stop} of its run (the step alongside it failed for good, or
   * the run is past its time limit).
   */
  async function stoppable<T>(
    req: StepRequest,
    fn: (signal: AbortSignal) => Promise<T>,
    alongside = false,
  ): Promise<T> {
    const ctx = Context.current();
    if (!ctx.info.isLocal || !(alongside || req.run)) return fn(ctx.cancellationSignal);
    const step = stops.begin(runKey(req), ctx.cancellationSignal);
    try {
      // A step of a run stopped before it started does not start (the load after a late extract, in fused steps).
      step.signal.throwIfAborted();
      return await fn(step.signal);
    } finally {
      step.end();
    }
  }

  const activities = {
    ...createNotifyActivities(),
    /** Reads the window's rows with the pipeline's extract. */
    async extractRows(req: StepRequest): Promise<StepData> {
      return stoppable(req, (signal) => extract(req, signal));
    },

    /**
     * Applies the pipeline's transform to the extracted rows. With `publish`, a load running alongside reads the
     * output as it is staged, and the result is published at the end for it ({@link Staging.follow}).
     */
    async transformRows(req: StepRequest & { data: StepData; publish?: true }): Promise<StepData> {
      return stoppable(
        req,
        async (signal) => {
          const result = await transform(req, signal);
          if (req.publish) await deps.staging.publish(stagingRef(req, 'transform'), result);
          return result;
        },
        req.publish,
      );
    },

    /** Writes the rows with the pipeline's load, once per run. */
    async loadRows(req: StepRequest & { data: StepData | FollowedOutput }): Promise<LoadResult> {
      const { data } = req;
      if (data.kind !== 'followed') return stoppable(req, (signal) => load(req, deps.staging.stored(data), signal));
      // The transform's output as it is written. When a newer attempt of the transform starts, what this load wrote
      // is undone (its transaction rolls back, or its file is never put in place) and it starts over on the new one.
      const { workflowId, runId } = execution(req);
      const prefix = `${workflowId}/${runId}/${data.step}/`;
      return stoppable(
        req,
        async (signal) => {
          for (;;) {
            try {
              return await load(req, deps.staging.follow(prefix, signal), signal);
            } catch (err) {
              if (!(err instanceof OutputRestarted)) throw err;
              Context.current().log.info('the transform was retried: loading its new output from the start', {
                from: err.from,
                to: err.to,
              });
            }
          }
        },
        true,
      );
    },

    /**
     * Stops the local steps of a run that run alongside each other (`localSteps` with `overlapLoad`) once one has
     * failed for good: each stops at its next chunk with a non-retryable `StepStopped`, as does one that starts later.
     * Returns how many were running.
     */
    async stopSteps(req: { run?: PipelineRunId; why: string } & StopOptions): Promise<number> {
      return stops.stop(runKey(req), req.why, Date.now(), {
        ...(req.type ? { type: req.type } : {}),
        ...(req.rememberMs ? { rememberMs: req.rememberMs } : {}),
      });
    },

    /**
     * A run's extract, transform and load one after the other in this one activity (`localSteps: 'fused'`), each
     * step's output handed to the next here, inline or staged as between activities. The staged data is dropped once
     * the load has committed. A step's failure carries {@link FusedStepFailure} details naming it.
     */
    async runSteps(req: StepRequest & { hasTransform: boolean }): Promise<FusedStepsResult> {
      const steps: Record<StepName, StepProgress> = {
        extract: { state: 'pending' },
        transform: { state: req.hasTransform ? 'pending' : 'skipped' },
        load: { state: 'pending' },
      };
      const step = async <T>(name: StepName, fn: () => Promise<T>, rows: (t: T) => number): Promise<T> => {
        const startedAt = new Date().toISOString();
        try {
          const out = await fn();
          const staged = (out as Partial<StepData>).kind === 'staged';
          steps[name] = {
            state: 'succeeded',
            rows: rows(out),
            startedAt,
            finishedAt: new Date().toISOString(),
            ...(name !== 'load' ? { staged } : {}),
          };
          return out;
        } catch (err) {
          const done = Object.fromEntries(Object.entries(steps).filter(([, s]) => s.state === 'succeeded'));
          throw fusedFailure(err, { step: name, steps: done });
        }
      };
      const count = (d: StepData) => d.rowCount;
      const extracted = await step('extract', () => activities.extractRows(req), count);
      const transformed = req.hasTransform
        ? await step('transform', () => activities.transformRows({ ...req, data: extracted }), count)
        : extracted;
      const loaded = await step(
        'load',
        () => activities.loadRows({ ...req, data: transformed }),
        (r) => r.rows,
      );
      if (extracted.kind === 'staged' || transformed.kind === 'staged') {
        await deps.staging.drop(execution(req).workflowId);
      }
      return { steps, rowsExtracted: extracted.rowCount, rowsLoaded: loaded.rows, loadReplayed: loaded.replayed };
    },

    /** Deletes the run's staged data (and leftovers of earlier failed runs of the same workflow ID). */
    async dropStaged(req: { workflowId: string }): Promise<number> {
      return deps.staging.drop(req.workflowId);
    },

    /**
     * One check, for a DAG run, that upstreams in other groups have succeeded for the window; throws a retryable
     * `UpstreamNotReady` until they have (the workflow's retry policy makes the polls).
     */
    async awaitUpstream(req: { upstream: string[]; window: Window }): Promise<void> {
      await checkUpstreams(Context.current().client, req.upstream, req.window);
    },
    /** Whether a backfill's window already has a DAG run that last closed successfully (`skipSucceeded`). */
    async checkDagRunSucceeded(req: { workflowId: string }): Promise<boolean> {
      return dagRunSucceeded(Context.current().client, req.workflowId);
    },
  };
  return activities;
}

/** The activities' type, for `proxyActivities` in workflow code. */
export type Activities = ReturnType<typeof createActivities>;
