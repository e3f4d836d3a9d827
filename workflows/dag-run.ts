import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, PipelineRunId } from '../activities';
import {
  PIPELINE_PAUSED,
  UPSTREAM_PAUSED,
  type DagRunInput,
  type DagRunSnapshot,
  type DagRunStatus,
  type ExternalWait,
  type PausedPipeline,
  type ScheduledDagRunInput,
} from '../core/dag-input';
import { previousFiring, windowEndingAt } from '../core/schedule';
import { dagDetails } from '../core/dag-details';
import { DagPlan, type NodeState } from '../core/dag-plan';
import { formatDuration } from '../core/duration';
import { pipelineWorkflowId, type RunPipelineInput, type RunPipelineResult } from '../core/run-input';
import { describeWindow } from '../core/window';
import {
  runSearchAttributes,
  TEMPORAL_SCHEDULED_START_TIME,
  WINDOW_END,
  WINDOW_START,
} from '../temporal-config/search-attributes';
import { dagStateQuery, pauseSignal, resumeSignal, retryNodeUpdate, skipNodeUpdate } from './definitions';
import { failureOf, pipelineRun, RUN_TIMED_OUT, runPipeline, runTimedOut, sendNotifications } from './run-pipeline';

/** Most failed pipelines (with their errors) a group notification lists. */
const MAX_NOTIFIED_FAILURES = 100;

/** Error type of a node whose upstream in another group did not succeed for the window in time. */
export const UPSTREAM_LATE = 'UpstreamLate';

export { RUN_TIMED_OUT };

/**
 * A DAG run: runs each pipeline as a child `runPipeline` once all its upstreams succeeded (or were skipped), at most
 * `maxParallel` at a time, pipelines with the most descendants first. A node with upstreams in another group first
 * waits, durably and at most its timeout, for their successful runs covering the window. A failure blocks only its
 * downstream (`upstream_failed`); independent branches go on. It can be paused and resumed, told to retry or skip a
 * node, and queried while it runs. Large DAGs continue as new after `continueAsNewAfter` pipeline runs, carrying
 * their state packed. An `inline` pipeline runs inside this workflow instead of as a child: its steps are this
 * workflow's activities, under a run identity of its own. When it ends (not when cancelled), the group's notification targets get a summary of its pipelines.
 */
export async function dagRun(start: DagRunInput | ScheduledDagRunInput): Promise<DagRunSnapshot> {
  const input = start.window ? start : scheduledInput(start);
  const plan = new DagPlan(input.nodes, input.states, Date.now());
  // Carried states already hold the skips of paused pipelines (a continued or restarted run keeps them).
  if (!input.states && input.pausedPipelines) skipPaused(plan, input.pausedPipelines, Date.now());
  const waits = new Map((input.waits ?? []).map((w) => [w.node, w]));
  const waited = new Set<number>();
  const waitScopes = new Map<number, CancellationScope>();
  let paused = input.paused ?? false;
  let status: DagRunStatus = 'running';
  let dirty = true;
  let started = 0;
  const running = new Map<number, Promise<void>>();
  const waiting = new Map<number, Promise<void>>();
  const timeLimits = new TimeLimits();
  /**
   * Whether inline runs keep their time limits on their steps (each step's schedule-to-close timeout ends at the
   * run's deadline) rather than in a cancellation scope per run that a timer of this workflow cancels. A scope per run
   * made every promise of the worker's workflow thread slower (it turns on Node's async context tracking) and cost a
   * chain of quick inline runs a sixth of its time. Asked once, at the first inline run; DAG runs that started before
   * keep the scopes on replay.
   */
  let limitsOnSteps: boolean | undefined;
  const { stopSteps } = proxyLocalActivities<Activities>({
    startToCloseTimeout: 10_000,
    retry: { maximumAttempts: 3 },
    summary: 'stop a pipeline run past its time limit',
  });
  /** Stops the local steps of an inline run past its deadline: each fails `RunTimedOut`, as does one started later. */
  const stopLate = (run: PipelineRunId, ms: number) => {
    stopSteps({ run, why: runTimedOut(ms).message, type: RUN_TIMED_OUT, rememberMs: 24 * 3_600_000 }).catch(
      (err: unknown) =>
        log.warn('a pipeline run past its time limit could not be stopped', { error: failureOf(err).message }),
    );
  };
  /**
   * An inline run with local steps is running: the next waits for it to end. On replay the worker hands the workflow
   * the results of local activities that ran at the same time together, where the first run got them one by one as
   * they came; the DAG run, reacting to each (starting a downstream, dropping a failed run's staged data), would then
   * issue its commands in another order than it did and fail to replay. With one such run at a time, each result
   * comes alone both times. Child workflows and activity steps, whose results are events of the history, run beside
   * it as before.
   */
  let localRunning = false;
  const usesLocalSlot = (i: number) => {
    const profile = input.profiles[input.nodes[i]![3]]!;
    return profile.inline === true && profile.localSteps === true;
  };
  const inline = input.nodes.flatMap((node, i) => (input.profiles[node[3]]!.inline ? [i] : []));

  const snapshot = (): DagRunSnapshot => ({
    window: input.window,
    group: input.group,
    kind: input.kind,
    paused,
    status,
    names: plan.names as string[],
    states: plan.pack(),
    ...(inline.length > 0 ? { inline } : {}),
  });

  /** The Web UI's current details: node states as a table, redrawn at most every 2 s (and at the end). */
  let detailsAt = -Infinity;
  const showDetails = (force = false) => {
    const now = Date.now();
    if (!force && now - detailsAt < 2_000) return;
    detailsAt = now;
    setCurrentDetails(dagDetails(plan, paused));
  };

  setHandler(dagStateQuery, snapshot);
  setHandler(pauseSignal, () => {
    paused = true;
    dirty = true;
  });
  setHandler(resumeSignal, () => {
    paused = false;
    dirty = true;
  });
  /** An update on one node: a validator that rejects it in the wrong state, and a handler that re-plans. */
  const nodeUpdate = (allowed: readonly NodeState[], rule: string, apply: (i: number) => void) => ({
    validator: (name: string) => {
      const i = plan.index.get(name);
      if (i === undefined) throw new Error(`no node '${name}' in this DAG run`);
      const state = plan.state[i]!;
      if (!allowed.includes(state)) throw new Error(`node '${name}' is ${state}: ${rule}`);
    },
    handler: (name: string) => {
      const i = plan.index.get(name)!;
      apply(i);
      plan.replan();
      dirty = true;
      return snapshot();
    },
  });
  const retry = nodeUpdate(['failed', 'cancelled'], 'only a failed or cancelled node can be retried', (i) => {
    plan.state[i] = 'pending';
    plan.finishedAt[i] = -1;
    plan.errors.delete(i);
  });
  setHandler(retryNodeUpdate, retry.handler, { validator: retry.validator });
  const skip = nodeUpdate(
    ['pending', 'waiting', 'failed', 'upstream_failed', 'cancelled'],
    'only a node that has not succeeded and is not running can be skipped',
    (i) => {
      waitScopes.get(i)?.cancel();
      plan.finish(i, 'skipped', Date.now());
    },
  );
  setHandler(skipNodeUpdate, skip.handler, { validator: skip.validator });

  async function runNode(i: number, ordinal: number): Promise<void> {
    const name = plan.names[i]!;
    const profile = input.profiles[input.nodes[i]![3]]!;
    plan.begin(i, 'running', Date.now());
    const childInput: RunPipelineInput = {
      pipeline: name,
      window: input.window,
      kind: input.kind,
      group: input.group,
      retry: profile.retry,
      timeouts: profile.timeouts,
      hasTransform: profile.hasTransform,
      ...(profile.localSteps ? { localSteps: profile.localSteps } : {}),
      ...(profile.fusedSteps ? { fusedSteps: profile.fusedSteps } : {}),
      ...(profile.overlapLoad ? { overlapLoad: profile.overlapLoad } : {}),
      ...(profile.notify ? { notify: profile.notify } : {}),
    };
    let unwatch: (() => void) | undefined;
    try {
      let result: RunPipelineResult;
      if (profile.inline) {
        // Keyed by this workflow run and the node's start within it: a node retried later is a new pipeline run.
        const { workflowId, runId } = workflowInfo();
        const run = { workflowId: `${workflowId}/${name}`, runId: `${runId}/${ordinal}` };
        limitsOnSteps ??= patched('inline-time-limit-on-steps');
        if (limitsOnSteps) {
          const ms = profile.runTimeoutMs;
          // Activity steps end at the deadline themselves; local steps are stopped in the worker that runs them.
          unwatch = timeLimits.watch(i, ms, () => {
            if (profile.localSteps) stopLate(run, ms);
          });
          result = await pipelineRun(childInput, {
            run,
            taskQueue: profile.taskQueue,
            deadline: { at: Date.now() + ms, ms },
          });
        } else {
          result = await timeLimits.run(i, profile.runTimeoutMs, () =>
            pipelineRun(childInput, { run, taskQueue: profile.taskQueue }),
          );
        }
      } else {
        const child = await startChild(runPipeline, {
          workflowId: pipelineWorkflowId(name, input.window),
          taskQueue: profile.taskQueue,
          args: [childInput],
          workflowExecutionTimeout: profile.runTimeoutMs,
          staticSummary: `${name} · ${describeWindow(input.window)}`,
          typedSearchAttributes: runSearchAttributes(name, input.group, input.window, input.kind),
        });
        result = await child.result();
      }
      plan.rowsLoaded[i] = result.rowsLoaded;
      plan.finish(i, 'succeeded', Date.now());
    } catch (err) {
      if (isCancellation(err)) plan.finish(i, 'cancelled', Date.now());
      else {
        plan.errors.set(i, failureOf(err));
        plan.finish(i, 'failed', Date.now());
      }
    } finally {
      unwatch?.();
      if (usesLocalSlot(i)) localRunning = false;
      running.delete(i);
      dirty = true;
    }
  }

  /** Waits for a node's upstreams in other groups: one activity whose retries are the polls (no history per poll). */
  async function waitFor(i: number, w: ExternalWait): Promise<void> {
    plan.begin(i, 'waiting', Date.now());
    const poll = input.upstreamPollMs ?? 60_000;
    const { awaitUpstream } = proxyActivities<Activities>({
      scheduleToCloseTimeout: w.timeoutMs,
      startToCloseTimeout: 60_000,
      retry: { initialInterval: Math.min(1_000, poll), backoffCoefficient: 2, maximumInterval: poll },
      summary: `wait for ${w.upstream.join(', ')}`,
    });
    const scope = new CancellationScope();
    waitScopes.set(i, scope);
    try {
      await scope.run(() => awaitUpstream({ upstream: w.upstream, window: input.window }));
      waited.add(i);
      plan.release(i);
    } catch (err) {
      if (plan.state[i] === 'skipped') return;
      if (isCancellation(err)) plan.finish(i, 'cancelled', Date.now());
      else {
        // The wait ran out either as a schedule-to-close timeout or, when the next poll would start after the
        // deadline, as the last poll's failure with retry state TIMEOUT.
        const late =
          err instanceof ActivityFailure && (err.cause instanceof TimeoutFailure || err.retryState === 'TIMEOUT');
        plan.errors.set(
          i,
          late
            ? {
                type: UPSTREAM_LATE,
                message: `${lateUpstreams(err, w.upstream).join(', ')} had no successful run covering ${describeWindow(input.window)} after waiting ${formatDuration(w.timeoutMs)}`,
              }
            : failureOf(err),
        );
        plan.finish(i, 'failed', Date.now());
      }
    } finally {
      waitScopes.delete(i);
      waiting.delete(i);
      dirty = true;
    }
  }

  try {
    for (;;) {
      // Ready inline runs with local steps beyond the one running go back among the ready, for the next round.
      const later: number[] = [];
      while (!paused && running.size < input.maxParallel && started < input.continueAsNewAfter) {
        const i = plan.take();
        if (i < 0) break;
        const w = waits.get(i);
        if (w && !waited.has(i)) waiting.set(i, waitFor(i, w));
        else if (usesLocalSlot(i) && localRunning) later.push(i);
        else {
          if (usesLocalSlot(i)) localRunning = true;
          running.set(i, runNode(i, started++));
        }
      }
      for (const i of later) plan.release(i);
      const idle = running.size === 0 && waiting.size === 0;
      if (idle && !plan.hasPending()) break;
      if (idle && !paused && started >= input.continueAsNewAfter) {
        // Every child has finished: hand the state to a fresh run so the history stays small.
        await condition(allHandlersFinished);
        await continueAsNew<typeof dagRun>({ ...input, states: plan.pack(), paused });
      }
      showDetails();
      dirty = false;
      await condition(() => dirty);
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: the children and waits were asked to cancel too; wait for them, and mark what never started.
    await CancellationScope.nonCancellable(() => Promise.all([...running.values(), ...waiting.values()]));
    plan.state.forEach((s, i) => {
      if (s === 'pending' || s === 'upstream_failed') plan.state[i] = 'cancelled';
    });
    status = 'cancelled';
    throw err;
  }

  showDetails(true);
  const counts = plan.counts();
  const failed = counts.failed + counts.upstream_failed + counts.cancelled;
  status = failed > 0 ? 'failed' : 'succeeded';
  // Only a run that ends notifies: a run that continues as new has not ended, and a cancelled one tells nobody.
  await sendNotifications(input.notify, input.group, {
    group: input.group,
    window: input.window,
    outcome: failed > 0 ? 'failure' : 'success',
    rowsLoaded: plan.rowsLoaded.reduce((sum: number, r) => sum + Math.max(0, r), 0),
    summary: {
      total: plan.size,
      counts,
      // Bounded, so a huge DAG's notification stays far below Temporal's payload limit; `counts` has the total.
      failed: plan.names
        .flatMap((name, i) => (plan.state[i] === 'failed' ? [{ pipeline: name, error: plan.errors.get(i) }] : []))
        .slice(0, MAX_NOTIFIED_FAILURES)
        .map(({ pipeline, error }) => ({
          pipeline,
          error: { type: error?.type ?? 'Error', message: (error?.message ?? '').slice(0, 1_000) },
        })),
    },
  });
  if (failed > 0) {
    const names = plan.names.filter((_, i) => plan.state[i] === 'failed');
    const shown = names.length > 10 ? [...names.slice(0, 10), `and ${names.length - 10} more`] : names;
    throw ApplicationFailure.create({
      type: 'DagRunFailed',
      nonRetryable: true,
      message: `${counts.failed} of ${plan.size} pipelines failed (${shown.join(', ')}); ${counts.upstream_failed} not run because an upstream failed`,
      details: [snapshot()],
    });
  }
  return snapshot();
}

/**
 * Time limits of the pipeline runs inside a DAG run (`inline`), kept by one timer for all of them: it fires at the
 * earliest deadline, cancels the runs past theirs, and is set again for the next. A run that ends does not cancel it
 * (cancelling a timer per run cost each run a cancellation error in the workflow); a run that starts sets an earlier
 * timer only when its deadline comes first.
 */
class TimeLimits {
  private readonly runs = new Map<number, { deadline: number; late: boolean; stop(): void }>();
  private alarmAt = Infinity;

  /**
   * Watches a run that stops its own steps: `stop` is called once, at `now + ms`, if the run is still being watched
   * then. Returns what ends the watch, to call when the run ends.
   */
  watch(key: number, ms: number, stop: () => void): () => void {
    const entry = { deadline: Date.now() + ms, late: false, stop };
    this.runs.set(key, entry);
    this.arm();
    return () => {
      if (this.runs.get(key) === entry) this.runs.delete(key);
    };
  }

  /** Runs `fn` in a scope cancelled at `now + ms`; a run cut short so fails with `RunTimedOut`. */
  async run<T>(key: number, ms: number, fn: () => Promise<T>): Promise<T> {
    const scope = new CancellationScope();
    const entry = { deadline: Date.now() + ms, late: false, stop: () => scope.cancel() };
    this.runs.set(key, entry);
    this.arm();
    try {
      return await scope.run(fn);
    } catch (err) {
      if (entry.late && isCancellation(err)) throw runTimedOut(ms);
      throw err;
    } finally {
      this.runs.delete(key);
    }
  }

  private arm(): void {
    let next = Infinity;
    // A run past its deadline is being cancelled already; it stays listed until its steps have stopped.
    for (const r of this.runs.values()) if (!r.late) next = Math.min(next, r.deadline);
    if (next >= this.alarmAt) return;
    this.alarmAt = next;
    sleep(Math.max(1, next - Date.now())).then(
      () => {
        if (this.alarmAt !== next) return;
        this.alarmAt = Infinity;
        const now = Date.now();
        for (const r of this.runs.values()) {
          if (r.late || r.deadline > now) continue;
          r.late = true;
          r.stop();
        }
        this.arm();
      },
      // Cancelled with the DAG run, which cancels its pipeline runs itself.
      () => undefined,
    );
  }
}

/**
 * A DAG run started by a Temporal Schedule: its window ends at the scheduled time and starts at the previous firing
 * (a run triggered between firings processes the latest complete window).
 * The window is recorded in the run's search attributes, so the Web UI can filter scheduled runs by window.
 */
function scheduledInput(start: ScheduledDagRunInput): DagRunInput {
  const info = workflowInfo();
  const scheduledAt =
    info.typedSearchAttributes.get(TEMPORAL_SCHEDULED_START_TIME)?.getTime() ?? info.runStartTime.getTime();
  const { firing, ...rest } = start;
  // A firing's window ends at the firing; a run triggered by hand between firings takes the latest complete window.
  const end = previousFiring(firing, scheduledAt + 1) ?? scheduledAt;
  const window = windowEndingAt(firing, end);
  upsertSearchAttributes([
    { key: WINDOW_START, value: new Date(window.start) },
    { key: WINDOW_END, value: new Date(window.end) },
  ]);
  return { ...rest, window };
}

/**
 * Marks the pipelines paused inside the group skipped, with the note as the reason, and, where the person who paused
 * one chose so, everything downstream of it too.
 */
function skipPaused(plan: DagPlan, paused: Record<string, PausedPipeline>, now: number): void {
  const downstreamOf = new Map<number, string>();
  for (const [name, p] of Object.entries(paused)) {
    const i = plan.index.get(name);
    if (i === undefined) continue;
    plan.finish(i, 'skipped', now);
    plan.errors.set(i, { type: PIPELINE_PAUSED, message: `paused since ${p.since}${p.note ? `: ${p.note}` : ''}` });
    if (p.downstream !== 'skip') continue;
    const stack = [...plan.children[i]!];
    while (stack.length > 0) {
      const c = stack.pop()!;
      if (downstreamOf.has(c) || paused[plan.names[c]!]) continue;
      downstreamOf.set(c, name);
      stack.push(...plan.children[c]!);
    }
  }
  for (const [c, name] of downstreamOf) {
    plan.finish(c, 'skipped', now);
    plan.errors.set(c, { type: UPSTREAM_PAUSED, message: `skipped because upstream ${name} is paused` });
  }
  plan.replan();
}

/** The upstreams the last check reported missing (its failure details), or all of them. */
function lateUpstreams(err: ActivityFailure, all: string[]): string[] {
  const last = err.cause instanceof TimeoutFailure ? err.cause.cause : err.cause;
  const missing = last instanceof ApplicationFailure ? last.details?.[0] : undefined;
  return Array.isArray(missing) && missing.length > 0 ? (missing as string[]) : all;
}
