import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import { RetryState, TimeoutType } from '@temporalio/common';
import type { Activities, FusedStepFailure, LoadResult, PipelineRunId } from '../activities';
import type { NotificationRequest } from '../activities/notify';
import type { NodeError } from '../core/dag-plan';
import { formatDuration } from '../core/duration';
import type { NotifyTarget } from '../core/pipeline-spec';
import {
  STEP_STOPPED,
  type RunPipelineInput,
  type RunPipelineResult,
  type StepData,
  type StepName,
  type StepProgress,
} from '../core/run-input';
import { progressQuery } from './definitions';

/** The innermost failure's type and message, prefixed by the step (activity) that failed. */
export function failureOf(err: unknown): NodeError {
  let cur: unknown = err;
  let step = '';
  let last: NodeError = { type: 'Error', message: String(err) };
  while (cur instanceof Error) {
    if (cur instanceof ActivityFailure && cur.activityType) step = `${cur.activityType}: `;
    const type = cur instanceof ApplicationFailure ? (cur.type ?? 'Error') : cur.name;
    last = { type, message: `${step}${cur.message}` };
    cur = cur.cause;
  }
  return last;
}

/**
 * Sends a run's outcome to every target that asked for it, each by its own activity with retries. Never throws: a
 * notification that cannot be delivered is logged and the run ends as it would have without it. Sends nothing (and
 * so adds nothing to the history) when no target asked for this outcome.
 */
export async function sendNotifications(
  targets: NotifyTarget[] | undefined,
  label: string,
  about: Omit<NotificationRequest, 'target'>,
): Promise<void> {
  const wanted = (targets ?? []).filter((t) => t.on.includes(about.outcome));
  if (wanted.length === 0) return;
  const { sendNotification } = proxyActivities<Activities>({
    startToCloseTimeout: 10_000,
    retry: { maximumAttempts: 5, initialInterval: 1_000, backoffCoefficient: 2, maximumInterval: 30_000 },
    summary: `notify · ${label} · ${about.outcome}`,
  });
  await Promise.all(
    wanted.map((target) =>
      sendNotification({ ...about, target }).catch((err: unknown) => {
        log.warn('notification not delivered; gave up', {
          endpoint: originOf(target.url),
          outcome: about.outcome,
          error: failureOf(err).message,
        });
      }),
    ),
  );
}

/** A URL's scheme, host and port, for logs: a webhook's path is often its secret. */
function originOf(url: string): string {
  const m = /^[a-z]+:\/\/[^/?#]*/i.exec(url);
  return m ? m[0].replace(/\/\/[^@/]*@/, '//') : 'the endpoint';
}

/** Error type of an `inline` pipeline run that did not end within its time limit (`timeouts.run`). */
export const RUN_TIMED_OUT = 'RunTimedOut';

/** The failure of an `inline` run that did not end within its time limit. */
export function runTimedOut(ms: number): ApplicationFailure {
  return ApplicationFailure.create({
    type: RUN_TIMED_OUT,
    nonRetryable: true,
    message: `the run did not end within its time limit (timeouts.run ${formatDuration(ms)})`,
  });
}

/** Whether a failure is a step's schedule-to-close timeout: with a {@link RunHost.deadline}, the run's time limit. */
function pastDeadline(err: unknown): boolean {
  for (let cur: unknown = err; cur instanceof Error; cur = cur.cause) {
    if (cur instanceof TimeoutFailure && cur.timeoutType === TimeoutType.SCHEDULE_TO_CLOSE) return true;
    if (cur instanceof ApplicationFailure && cur.type === RUN_TIMED_OUT) return true;
  }
  return false;
}

/** The activity of each step. */
const STEP_ACTIVITY: Record<StepName, string> = {
  extract: 'extractRows',
  transform: 'transformRows',
  load: 'loadRows',
};

/**
 * A local step's failure reaches the workflow without the activity failure around it that an activity's has: it gets
 * one naming its step, so the run's failure says which step failed (`extractRows: …`) whichever way the steps run.
 */
function asStepFailure(err: unknown, activityType: string): unknown {
  if (isCancellation(err) || !(err instanceof Error)) return err;
  if (err instanceof ActivityFailure) {
    if (err.activityType) return err;
    const named = new ActivityFailure(
      err.message,
      activityType,
      err.activityId,
      err.retryState,
      err.identity,
      err.cause,
    );
    named.stack = err.stack;
    return named;
  }
  const retryState =
    err instanceof TimeoutFailure
      ? RetryState.TIMEOUT
      : err instanceof ApplicationFailure && err.nonRetryable
        ? RetryState.NON_RETRYABLE_FAILURE
        : RetryState.MAXIMUM_ATTEMPTS_REACHED;
  return new ActivityFailure('Activity task failed', activityType, undefined, retryState, undefined, err);
}

/** Whether a failure is a local step's stop because the step alongside it failed (`StepStopped`). */
function isStopped(err: unknown): boolean {
  for (let cur: unknown = err; cur instanceof Error; cur = cur.cause) {
    if (cur instanceof ApplicationFailure && cur.type === STEP_STOPPED) return true;
  }
  return false;
}

/** Where in fused steps a failure came from (its details), if it came from there. */
function fusedFailureOf(err: unknown): FusedStepFailure | undefined {
  for (let cur: unknown = err; cur instanceof Error; cur = cur.cause) {
    const d =
      cur instanceof ApplicationFailure ? (cur.details?.[0] as Partial<FusedStepFailure> | undefined) : undefined;
    if (d && typeof d.step === 'string' && d.step in STEP_ACTIVITY && d.steps) return d as FusedStepFailure;
  }
  return undefined;
}

/** Where a pipeline run lives: its own workflow (`runPipeline`), or inside the workflow that calls it (a DAG run). */
export interface RunHost {
  /** The run's identity for its staged data and its load's ledger row; absent: the workflow's own run. */
  run?: PipelineRunId;
  /** Task queue of the run's steps when they are activities; absent: the workflow's own. */
  taskQueue?: string;
  /** Called whenever a step starts or ends. */
  onChange?(steps: Record<StepName, StepProgress>, running: readonly StepName[]): void;
  /**
   * The run's time limit (`timeouts.run`, `ms`) and when it ends (`at`, workflow time), for a run inside a DAG run:
   * an activity step's schedule-to-close timeout ends there, local steps are stopped there by the DAG run, a step
   * that would start after it is not started, and the run then fails with `RunTimedOut`. A run in its own workflow
   * has its workflow's execution timeout instead.
   */
  deadline?: { at: number; ms: number };
}

/**
 * For a run with a deadline, what is left of its time limit, as the schedule-to-close timeout of an activity step
 * (the server enforces it). A local step is stopped at the deadline by its DAG run instead (`stopSteps`): the
 * worker's own local-activity timeout was seen to fire many seconds late. Past the deadline a step is not started:
 * the run fails with `RunTimedOut`.
 */
function untilDeadline(host: RunHost, local: boolean): { scheduleToCloseTimeout?: number } {
  if (!host.deadline) return {};
  const left = host.deadline.at - Date.now();
  if (left <= 0) throw runTimedOut(host.deadline.ms);
  return local ? {} : { scheduleToCloseTimeout: left };
}

function proxies(input: RunPipelineInput, host: RunHost, current: (patch: string) => boolean) {
  const retry = {
    maximumAttempts: input.retry.maximumAttempts,
    initialInterval: input.retry.initialIntervalMs,
    backoffCoefficient: input.retry.backoffCoefficient,
    ...(input.retry.maximumIntervalMs !== undefined ? { maximumInterval: input.retry.maximumIntervalMs } : {}),
    nonRetryableErrorTypes: input.retry.nonRetryableErrorTypes,
  };
  // A cancelled run closes only once its running step has stopped (the step learns of the cancellation from its
  // heartbeats), so no step writes after the run reports cancelled. Without the option the SDK uses TRY_CANCEL (its
  // docs say otherwise: temporalio/sdk-typescript#2442) and the run closed at once; runs started so keep it on replay.
  const cancellationType = current('steps-wait-for-cancellation')
    ? ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    : ActivityCancellationType.TRY_CANCEL;
  // Local steps run in this workflow's worker, within its workflow task: the server records each one's result as a
  // marker, and the worker retries with the same policy. They have no heartbeat timeout (the worker watches them).
  const step = (startToCloseTimeout: number, summary: string) => {
    const limit = untilDeadline(host, !!input.localSteps);
    return input.localSteps
      ? proxyLocalActivities<Activities>({ startToCloseTimeout, retry, summary, cancellationType, ...limit })
      : proxyActivities<Activities>({
          startToCloseTimeout,
          heartbeatTimeout: input.timeouts.heartbeatMs,
          retry,
          summary,
          cancellationType,
          ...limit,
          ...(host.taskQueue ? { taskQueue: host.taskQueue } : {}),
        });
  };
  const cleanup = {
    startToCloseTimeout: 60_000,
    retry: { maximumAttempts: 5 },
    summary: 'drop staged data',
    ...(host.taskQueue && !input.localSteps ? { taskQueue: host.taskQueue } : {}),
  };
  const afterFailure = { ...cleanup, startToCloseTimeout: 30_000, retry: { maximumAttempts: 1 } };
  return {
    extract: step(input.timeouts.extractMs, `extract · ${input.pipeline}`),
    // The Web UI shows each activity's summary: transform and load say how many rows they were given.
    transform: (rows: number) => step(input.timeouts.transformMs, `transform · ${input.pipeline} · ${rows} rows in`),
    load: (rows: number) => step(input.timeouts.loadMs, `load · ${input.pipeline} · ${rows} rows`),
    // A load alongside the transform waits for the transform's chunks: its time limit covers both steps.
    loadAlongside: () =>
      step(input.timeouts.transformMs + input.timeouts.loadMs, `load · ${input.pipeline} · alongside the transform`),
    // All steps as one local activity (`localSteps: 'fused'`): its time limit is the sum of theirs.
    fused: proxyLocalActivities<Activities>({
      startToCloseTimeout:
        input.timeouts.extractMs + (input.hasTransform ? input.timeouts.transformMs : 0) + input.timeouts.loadMs,
      retry,
      summary: `${input.hasTransform ? 'extract → transform → load' : 'extract → load'} · ${input.pipeline}`,
      cancellationType,
      ...untilDeadline(host, true),
    }),
    cleanup: input.localSteps ? proxyLocalActivities<Activities>(cleanup) : proxyActivities<Activities>(cleanup),
    // Stops local steps running alongside each other once one has failed (`overlapLoad`), in this worker.
    stop: proxyLocalActivities<Activities>({
      startToCloseTimeout: 10_000,
      retry: { maximumAttempts: 3 },
      summary: `stop the step alongside · ${input.pipeline}`,
    }),
    cleanupAfterFailure: input.localSteps
      ? proxyLocalActivities<Activities>(afterFailure)
      : proxyActivities<Activities>(afterFailure),
  };
}

/**
 * One pipeline run: extract → transform → load as activities, for one window. Large step results travel as
 * references to staged data; the staged data is dropped when the run succeeds. When it ends, its outcome is sent to
 * the pipeline's notification targets that asked for it; a notification never changes the run's outcome.
 */
export async function runPipeline(input: RunPipelineInput): Promise<RunPipelineResult> {
  let shown: { steps: Record<StepName, StepProgress>; running: readonly StepName[] } | undefined;
  setHandler(progressQuery, () => ({
    pipeline: input.pipeline,
    window: input.window,
    steps: shown?.steps ?? initialSteps(input),
    ...(shown && shown.running.length > 0 ? { current: shown.running[0] } : {}),
  }));
  return pipelineRun(input, {
    onChange: (steps, running) => {
      shown = { steps, running };
      // The Web UI's current details (rendered as markdown): each step's state and rows, one list item per step.
      setCurrentDetails(
        (['extract', 'transform', 'load'] as const)
          .map((name) => {
            const p = steps[name];
            return `- ${name}: ${p.state}${p.rows !== undefined ? ` · ${p.rows} rows` : ''}${p.staged ? ' (staged)' : ''}`;
          })
          .join('\n'),
      );
    },
  });
}

function initialSteps(input: RunPipelineInput): Record<StepName, StepProgress> {
  return {
    extract: { state: 'pending' },
    transform: { state: input.hasTransform ? 'pending' : 'skipped' },
    load: { state: 'pending' },
  };
}

/**
 * A pipeline run as the workflow code that calls it: `runPipeline` runs one as its own workflow; a DAG run runs an
 * `inline` pipeline's this way, inside its own workflow, under the run identity it gives.
 */
export async function pipelineRun(input: RunPipelineInput, host: RunHost = {}): Promise<RunPipelineResult> {
  // A run inside a DAG run is newer than every patch: it takes the current behaviour without recording a marker.
  const current = (patch: string) => host.run !== undefined || patched(patch);
  const acts = proxies(input, host, current);
  const steps = initialSteps(input);
  /** The running steps, first started first (the transform and the load run together with `overlapLoad`). */
  const running: StepName[] = [];
  const showSteps = () => host.onChange?.(steps, running);
  const request = { pipeline: input.pipeline, window: input.window, ...(host.run ? { run: host.run } : {}) };
  const workflowId = host.run?.workflowId ?? workflowInfo().workflowId;
  async function run<T>(
    name: StepName,
    fn: () => Promise<T>,
    rows: (t: T) => number,
    staged?: (t: T) => boolean,
  ): Promise<T> {
    running.push(name);
    steps[name] = { state: 'running', startedAt: new Date().toISOString() };
    showSteps();
    try {
      const out = await fn();
      steps[name] = {
        ...steps[name],
        state: 'succeeded',
        rows: rows(out),
        finishedAt: new Date().toISOString(),
        ...(staged ? { staged: staged(out) } : {}),
      };
      return out;
    } catch (err) {
      steps[name] = { ...steps[name], state: 'failed', finishedAt: new Date().toISOString() };
      throw input.localSteps ? asStepFailure(err, STEP_ACTIVITY[name]) : err;
    } finally {
      running.splice(running.indexOf(name), 1);
      showSteps();
    }
  }
  const count = (d: StepData) => d.rowCount;
  const isStaged = (d: StepData) => d.kind === 'staged';
  const notify = (about: Omit<NotificationRequest, 'target' | 'pipeline' | 'window'>) =>
    sendNotifications(input.notify, input.pipeline, { pipeline: input.pipeline, window: input.window, ...about });

  /**
   * The transform and, alongside it, the load reading the transform's output as it is staged (`overlapLoad`). When
   * either fails, the other is stopped, and the run fails with the first failure once both have stopped.
   *
   * Activity steps are stopped by cancelling them. Local steps are stopped by a local activity of the run (`stopSteps`)
   * scheduled once, whichever failed first: cancelling a local step at the moment it completes fails the workflow
   * task in Temporal's worker core, and a stop gives the same commands whatever order the two steps end in. Runs that
   * started before this keep cancelling on replay.
   */
  async function transformAndLoad(extracted: StepData): Promise<[StepData, LoadResult]> {
    const transformScope = new CancellationScope();
    const loadScope = new CancellationScope();
    const transforming = transformScope.run(() =>
      run(
        'transform',
        () => acts.transform(extracted.rowCount).transformRows({ ...request, data: extracted, publish: true }),
        count,
        isStaged,
      ),
    );
    const loading = loadScope.run(() =>
      run(
        'load',
        () =>
          acts.loadAlongside().loadRows({
            ...request,
            data: { kind: 'followed', step: 'transform', rowCount: extracted.rowCount },
          }),
        (r) => r.rows,
      ),
    );
    let stopping: Promise<unknown> | undefined;
    const stopOther = (failed: StepName, other: CancellationScope) => (err: unknown) => {
      if (!input.localSteps || isCancellation(err) || !current('stop-local-steps-alongside')) return other.cancel();
      stopping ??= acts.stop
        .stopSteps({ ...(host.run ? { run: host.run } : {}), why: `stopped: the ${failed} alongside it failed` })
        .catch((stopErr: unknown) =>
          log.warn('the step alongside could not be stopped', { error: failureOf(stopErr).message }),
        );
    };
    transforming.catch(stopOther('transform', loadScope));
    loading.catch(stopOther('load', transformScope));
    const [t, l] = await Promise.allSettled([transforming, loading]);
    await stopping;
    if (t.status === 'fulfilled' && l.status === 'fulfilled') return [t.value, l.value];
    // The step that failed first: the other one's failure is its cancellation or its stop.
    const failures = [t, l].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    throw failures.find((err) => !isCancellation(err) && !isStopped(err)) ?? failures[0];
  }

  /** The run's result, once its load has committed. */
  const succeeded = (rowsExtracted: number, loaded: LoadResult): RunPipelineResult => {
    log.info('pipeline run succeeded', { pipeline: input.pipeline, rowsLoaded: loaded.rows });
    if (loaded.replayed) log.info('the load had already committed in an earlier attempt; it was not repeated');
    return {
      pipeline: input.pipeline,
      window: input.window,
      rowsExtracted,
      rowsLoaded: loaded.rows,
      loadReplayed: loaded.replayed,
      steps,
    };
  };

  /**
   * The steps together as one local activity (`localSteps: 'fused'`): shown running together, with each one's
   * outcome once the activity ends. A failure names the step it came from, as a failed step of its own would.
   */
  async function runFused(): Promise<RunPipelineResult> {
    const names = (['extract', 'transform', 'load'] as const).filter((n) => steps[n].state !== 'skipped');
    const startedAt = new Date().toISOString();
    for (const n of names) steps[n] = { state: 'running', startedAt };
    running.push(...names);
    showSteps();
    try {
      const r = await acts.fused.runSteps({ ...request, hasTransform: input.hasTransform });
      Object.assign(steps, r.steps);
      return succeeded(r.rowsExtracted, { rows: r.rowsLoaded, replayed: r.loadReplayed });
    } catch (err) {
      const at = fusedFailureOf(err);
      const finishedAt = new Date().toISOString();
      for (const n of names) {
        const s = at?.steps[n];
        const failed = at ? n === at.step : true;
        steps[n] = s ?? (failed ? { startedAt, state: 'failed', finishedAt } : { state: 'pending' });
      }
      throw asStepFailure(err, at ? STEP_ACTIVITY[at.step] : 'runSteps');
    } finally {
      running.length = 0;
      showSteps();
    }
  }

  /** The steps in order; the run's outcome. */
  async function runSteps(): Promise<RunPipelineResult> {
    const extracted = await run('extract', () => acts.extract.extractRows(request), count, isStaged);
    let transformed: StepData;
    let loaded: LoadResult;
    if (input.hasTransform && input.overlapLoad) {
      [transformed, loaded] = await transformAndLoad(extracted);
    } else {
      transformed = input.hasTransform
        ? await run(
            'transform',
            () => acts.transform(extracted.rowCount).transformRows({ ...request, data: extracted }),
            count,
            isStaged,
          )
        : extracted;
      loaded = await run(
        'load',
        () => acts.load(transformed.rowCount).loadRows({ ...request, data: transformed }),
        (r) => r.rows,
      );
    }
    if (extracted.kind === 'staged' || transformed.kind === 'staged') {
      await acts.cleanup.dropStaged({ workflowId });
    }
    return succeeded(extracted.rowCount, loaded);
  }

  let result: RunPipelineResult;
  try {
    // Fused steps, new since notifications, skip the await of a notification when there is none to send.
    result = await (input.fusedSteps ? runFused() : runSteps());
  } catch (caught) {
    const err = host.deadline && pastDeadline(caught) ? runTimedOut(host.deadline.ms) : caught;
    // A cancelled run is neither a failure nor a success: nobody is told. Any other failure is sent, then the run
    // fails with its own error, whatever became of the notification.
    if (!isCancellation(err) && (!input.fusedSteps || input.notify)) {
      await notify({ outcome: 'failure', error: failureOf(err) });
    }
    // Nothing reads a closed run's staged data: it goes now rather than staying until the window next succeeds. One
    // attempt, and a failure is only logged: the database may be why the run failed. Runs started before this
    // existed end as they did.
    if (current('drop-staged-when-run-fails')) {
      await CancellationScope.nonCancellable(() => acts.cleanupAfterFailure.dropStaged({ workflowId })).catch(
        (dropErr: unknown) => {
          log.warn('the staged data of the run could not be dropped', { error: failureOf(dropErr).message });
        },
      );
    }
    throw err;
  }
  if (!input.fusedSteps || input.notify) await notify({ outcome: 'success', rowsLoaded: result.rowsLoaded });
  return result;
}
