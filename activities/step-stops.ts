import { ApplicationFailure } from '@temporalio/common';
import { STEP_STOPPED } from '../core/run-input';

/** How long a stop is remembered for a step of the run that starts after it (a retry waiting out its backoff). */
const REMEMBER_MS = 15 * 60_000;

/**
 * The local steps of runs that run alongside each other (`localSteps` with `overlapLoad`), so that one failing for
 * good can stop the other from the worker, through an activity, instead of by cancelling it from the workflow.
 *
 * A local activity's cancellation is a command of the workflow task; when the activity completes in the worker while
 * that task is being worked out, Temporal's worker core rejects the cancel of an activity it has just recorded as
 * done, and fails the workflow task as nondeterministic (every step of the run then runs again). A stop is a local
 * activity of its own, scheduled whichever step failed first, so the commands are the same whatever the order in
 * which the two steps end. Both steps run in the worker that holds the run's workflow task, as does the stop.
 */
export class StepStops {
  private readonly running = new Map<string, Set<AbortController>>();
  private readonly stopped = new Map<string, { at: number; reason: ApplicationFailure }>();

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
    return {
      signal: AbortSignal.any([cancelled, own.signal]),
      end: () => {
        steps.delete(own);
        if (steps.size === 0 && this.running.get(run) === steps) this.running.delete(run);
      },
    };
  }

  /** Stops the running steps of `run`, and those that start later; returns how many were running. */
  stop(run: string, why: string, now = Date.now()): number {
    for (const [key, s] of this.stopped) if (now - s.at > REMEMBER_MS) this.stopped.delete(key);
    const reason = ApplicationFailure.create({ type: STEP_STOPPED, nonRetryable: true, message: why });
    this.stopped.set(run, { at: now, reason });
    const steps = [...(this.running.get(run) ?? [])];
    for (const step of steps) step.abort(reason);
    return steps.length;
  }
}
