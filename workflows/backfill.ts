import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { dagWorkflowId } from '../core/dag-input';
import { describeWindow, type Window } from '../core/window';
import { runSearchAttributes } from '../temporal-config/search-attributes';
import {
  BACKFILL_FAILED,
  backfillProgressQuery,
  countWindows,
  firstCursor,
  MAX_LISTED_FAILURES,
  pauseBackfillSignal,
  resumeBackfillSignal,
  windowAt,
  type BackfillCarry,
  type BackfillInput,
  type BackfillProgress,
  type BackfillStatus,
  type FailedWindow,
} from './backfill-definitions';
import type { dagRun } from './dag-run';

const { checkDagRunSucceeded } = proxyActivities<Activities>({
  startToCloseTimeout: 30_000,
  retry: { initialInterval: 1_000, maximumInterval: 30_000 },
});

/** The innermost failure's type and message. */
function failureOf(err: unknown): FailedWindow['error'] {
  let cur: unknown = err;
  let last: FailedWindow['error'] = { type: 'Error', message: String(err) };
  while (cur instanceof Error) {
    const type = cur instanceof ApplicationFailure ? (cur.type ?? 'Error') : cur.name;
    last = { type, message: cur.message };
    // A DAG run's own failure says which pipelines failed; below it are one pipeline's details.
    if (type === 'DagRunFailed' || cur instanceof ActivityFailure) break;
    cur = cur.cause;
  }
  return last;
}

/**
 * A backfill: one DAG run (child `dagRun`, kind `backfill`) per window of a range of the group's schedule, at most
 * `parallel` at a time, oldest first or newest first. Windows are computed one at a time from the schedule. It can be
 * paused (no new DAG runs; running ones finish), resumed, cancelled (its DAG runs are cancelled) and queried. A failed
 * window does not stop the others; the backfill fails at the end listing them. It continues as new after
 * `continueAsNewAfter` windows started, carrying its cursor and counts, so ranges of 10,000+ windows work.
 */
export async function backfill(input: BackfillInput): Promise<BackfillProgress> {
  const carry: BackfillCarry = input.carry ?? {
    cursor: firstCursor(input),
    counts: { done: 0, failed: 0, skipped: 0 },
    failedWindows: [],
    // Counting is pure but takes a while for very long ranges: the starter usually did it already.
    total: input.total ?? countWindows(input),
    paused: false,
  };
  const { counts, failedWindows } = carry;
  let cursor = carry.cursor;
  let paused = carry.paused;
  let status: BackfillStatus = 'running';
  let dirty = true;
  let started = 0;
  /** Windows being checked or run, by start. */
  const running = new Map<string, { window: Window; promise: Promise<void> }>();

  const progress = (): BackfillProgress => {
    const finished = counts.done + counts.failed + counts.skipped;
    return {
      target: input.target,
      group: input.group,
      from: input.from,
      to: input.to,
      status,
      paused,
      total: carry.total,
      done: counts.done,
      running: running.size,
      failed: counts.failed,
      skipped: counts.skipped,
      remaining: Math.max(0, carry.total - finished - running.size),
      runningWindows: [...running.values()].map((r) => r.window),
      failedWindows,
    };
  };
  setHandler(backfillProgressQuery, progress);
  setHandler(pauseBackfillSignal, () => {
    paused = true;
    dirty = true;
  });
  setHandler(resumeBackfillSignal, () => {
    paused = false;
    dirty = true;
  });

  async function runWindow(window: Window): Promise<void> {
    const workflowId = dagWorkflowId(input.group, window, input.dagIdSuffix);
    try {
      if (input.skipSucceeded && (await checkDagRunSucceeded({ workflowId }))) {
        counts.skipped++;
        return;
      }
      const names = input.dag.nodes.map((n) => n[0]);
      const child = await startChild<typeof dagRun>('dagRun', {
        workflowId,
        taskQueue: input.taskQueue,
        args: [{ ...input.dag, window }],
        typedSearchAttributes: runSearchAttributes(names[0] ?? '', input.group, window, 'backfill'),
        staticSummary: `DAG ${input.group} · backfill · ${describeWindow(window)}`,
      });
      await child.result();
      counts.done++;
    } catch (err) {
      // The backfill itself was cancelled: the window neither failed nor succeeded.
      if (isCancellation(err) && CancellationScope.current().consideredCancelled) return;
      counts.failed++;
      if (failedWindows.length < MAX_LISTED_FAILURES) failedWindows.push({ window, error: failureOf(err) });
    } finally {
      running.delete(window.start);
      dirty = true;
    }
  }

  try {
    for (;;) {
      while (!paused && running.size < input.parallel && started < input.continueAsNewAfter) {
        const next = windowAt(input, cursor);
        if (!next) {
          cursor = undefined;
          break;
        }
        cursor = next.next;
        started++;
        running.set(next.window.start, { window: next.window, promise: runWindow(next.window) });
      }
      const more = windowAt(input, cursor) !== undefined;
      if (running.size === 0 && !more) break;
      if (running.size === 0 && !paused && started >= input.continueAsNewAfter) {
        // Every DAG run of this workflow run has closed: hand the cursor and counts to a fresh run (small history).
        await condition(allHandlersFinished);
        await continueAsNew<typeof backfill>({ ...input, carry: { ...carry, cursor, paused } });
      }
      dirty = false;
      await condition(() => dirty);
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: the DAG runs were asked to cancel too; wait for them to close.
    await CancellationScope.nonCancellable(() =>
      Promise.allSettled([...running.values()].map((r) => r.promise)).then(() => undefined),
    );
    status = 'cancelled';
    throw err;
  }

  status = counts.failed > 0 ? 'failed' : 'succeeded';
  if (counts.failed > 0) {
    const starts = failedWindows.map((f) => describeWindow(f.window));
    const shown = starts.length > 10 ? [...starts.slice(0, 10), `and ${counts.failed - 10} more`] : starts;
    throw ApplicationFailure.create({
      type: BACKFILL_FAILED,
      nonRetryable: true,
      message: `${counts.failed} of ${carry.total} windows failed (${shown.join(', ')})`,
      details: [progress()],
    });
  }
  return progress();
}
