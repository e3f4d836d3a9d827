import { ApplicationFailure } from '@temporalio/common';
import { STEP_STOPPED } from '../core/run-input';

/** How long a stop is remembered for a step of the run that starts after it (a retry waiting out its backoff). */
const REMEMBER_MS = 15 * 60_000;

/** How a stop fails the steps it stops. */
export interface StopOptions {
  /** The failure's type (default `StepStopped`). */
  type?: string;
  /** How long the stop is remembered for steps of the run that start later (default 15 minutes). */
  rememberMs?: number;
}

/**
 * The local steps of runs, so that they can be stopped from the worker, through an activity, instead of by
 * cancelling them from the workflow: the step alongside one that failed for good (`localSteps` with `overlapLoad`),
 * and the steps of a run inside a DAG run once it is past its time limit.
 *
 * A local activity's cancellation is a command of the workflow task; when the activity completes in the worker while
 * that task is being worked out, Temporal's worker core rejects the cancel of an activity it has just recorded as
 * done, and fails the workflow task as nondeterministic (every step of the run then runs again). A stop is a local
 * activity of its own, scheduled whichever step failed first, so the commands are the same whatever the order in
 * which the two steps end. Both steps run in the worker that holds the run's workflow task, as does the stop.
 */
export class StepStops {
  private readonly running = new Map<string, Set<AbortController>>();
  private readonly stopped = new Map<string, { until: number; reason: ApplicationFailure }>();

  /**
   * A step of `run` starts: its signal aborts when the step is cancelled or the run's steps are stopped (at once, if
   * they were stopped before it started). `end` must be called when the step ends.
   */
  begin(run: string, cancelled: AbortSignal): { signal: AbortSignal; end(): void } {
    const own = new AbortController();
    const earlier = this.stopped.get(run);
    if (earlier) own.abort(earlier.reason);
    let steps = this.running.get(run);
    if (!steps) this.running.set(run, (steps = new Set()));
    steps.add(own);
    // The cancellation is passed on by a listener: `AbortSignal.any` cost tens of microseconds a step.
    const onCancel = () => own.abort(cancelled.reason);
    if (cancelled.aborted) onCancel();
    else cancelled.addEventListener('abort', onCancel, { once: true });
    return {
      signal: own.signal,
      end: () => {
        cancelled.removeEventListener('abort', onCancel);
        steps.delete(own);
        if (steps.size === 0 && this.running.get(run) === steps) this.running.delete(run);
      },
    };
  }

  /** Stops the running steps of `run`, and those that start later; returns how many were running. */
  stop(run: string, why: string, now = Date.now(), options: StopOptions = {}): number {
    for (const [key, s] of this.stopped) if (now > s.until) this.stopped.delete(key);
    const reason = ApplicationFailure.create({ type: options.type ?? STEP_STOPPED, nonRetryable: true, message: why });
    this.stopped.set(run, { until: now + (options.rememberMs ?? REMEMBER_MS), reason });
    const steps = [...(this.running.get(run) ?? [])];
    for (const step of steps) step.abort(reason);
    return steps.length;
  }
}
