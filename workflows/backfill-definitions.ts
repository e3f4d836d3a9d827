import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { DagRunInput } from '../core/dag-input';
import { nextFirings, previousFiring, type ResolvedSchedule } from '../core/schedule';
import type { Window } from '../core/window';

/** The DAG run every window of a backfill starts: a `dagRun` input without its window (each window sets its own). */
export type BackfillDag = Omit<DagRunInput, 'window' | 'states' | 'paused'>;

/** A window whose DAG run failed, with the failure's type and message. */
export interface FailedWindow {
  window: Window;
  error: { type: string; message: string };
}

/** Counts a backfill carries across continue-as-new. */
export interface BackfillCounts {
  /** Windows whose DAG run succeeded. */
  done: number;
  /** Windows whose DAG run failed. */
  failed: number;
  /** Windows skipped because their DAG run had already succeeded (`skipSucceeded`). */
  skipped: number;
}

/** Where a backfill is, carried from one workflow run to the next by continue-as-new. */
export interface BackfillCarry {
  /** Forward: start of the next window; reverse: end of the next window (ms). Undefined once every window started. */
  cursor?: number;
  counts: BackfillCounts;
  /** Failed windows (at most `MAX_LISTED_FAILURES` kept; `counts.failed` is exact). */
  failedWindows: FailedWindow[];
  /** Number of windows in the range, counted once when the backfill starts. */
  total: number;
  paused: boolean;
}

/** Input of the `backfill` workflow. Windows are computed lazily from the schedule, never listed here. */
export interface BackfillInput {
  /** What the user named: a pipeline or a group. */
  target: string;
  /** The group whose schedule makes the windows. */
  group: string;
  schedule: ResolvedSchedule;
  /** Earliest window start, ISO-8601 UTC (inclusive). */
  from: string;
  /** Latest window end, ISO-8601 UTC (inclusive). */
  to: string;
  /** The DAG run of each window (kind `backfill`). */
  dag: BackfillDag;
  /** Task queue of the DAG runs. */
  taskQueue: string;
  /** Suffix of the DAG runs' workflow IDs (`dag/<group>/<window start>/<suffix>`); none for a whole group. */
  dagIdSuffix?: string;
  /** Most DAG runs at once. */
  parallel: number;
  /** Newest window first. */
  reverse: boolean;
  /** Skip a window whose DAG run last closed successfully. */
  skipSucceeded: boolean;
  /** Windows one workflow run starts before it continues as new (bounds the history). */
  continueAsNewAfter: number;
  /** Number of windows in the range, if the starter counted them (`countWindows`); else the workflow counts. */
  total?: number;
  /** State carried over by continue-as-new. */
  carry?: BackfillCarry;
}

/** Overall state of a backfill. */
export type BackfillStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** What the `backfillProgress` query (and the failure's details) report. */
export interface BackfillProgress {
  target: string;
  group: string;
  from: string;
  to: string;
  status: BackfillStatus;
  paused: boolean;
  total: number;
  done: number;
  running: number;
  failed: number;
  skipped: number;
  remaining: number;
  runningWindows: Window[];
  failedWindows: FailedWindow[];
}

/** Failed windows listed in a backfill's state at most; the count stays exact beyond it. */
export const MAX_LISTED_FAILURES = 1000;

/** Error type of a backfill in which at least one window failed. */
export const BACKFILL_FAILED = 'BackfillFailed';

/** Returns a backfill's counts and its running and failed windows. */
export const backfillProgressQuery = defineQuery<BackfillProgress>('backfillProgress');

/** Stops a backfill from starting DAG runs; running ones finish. */
export const pauseBackfillSignal = defineSignal('pause');

/** Lets a paused backfill start DAG runs again. */
export const resumeBackfillSignal = defineSignal('resume');

/** The range's bounds and the schedule, as the window cursor needs them. */
type Range = Pick<BackfillInput, 'schedule' | 'from' | 'to' | 'reverse'>;

/**
 * The cursor of the first window of a range: forward, the first firing at or after `from` (the first window's start);
 * reverse, the last firing at or before `to` (the newest window's end).
 */
export function firstCursor(r: Range): number | undefined {
  const from = Date.parse(r.from);
  const to = Date.parse(r.to);
  if (!r.reverse) return nextFirings(r.schedule, from - 1, 1)[0];
  const last = Math.min(to, r.schedule.endMs ?? Infinity);
  const f = previousFiring(r.schedule, last + 1);
  return f !== undefined && f >= from ? f : undefined;
}

/**
 * The window at a cursor and the cursor after it, or undefined when the range has no more windows. A window starts at
 * one firing and ends at the next; it is in the range when its start ≥ `from` and its end ≤ `to`. Pure: one window at a
 * time, so a range of 10,000 windows is never materialised.
 */
export function windowAt(r: Range, cursor: number | undefined): { window: Window; next: number } | undefined {
  if (cursor === undefined) return undefined;
  const from = Date.parse(r.from);
  const to = Date.parse(r.to);
  let start: number | undefined;
  let end: number | undefined;
  if (!r.reverse) {
    start = cursor;
    end = nextFirings(r.schedule, cursor, 1)[0];
  } else {
    end = cursor;
    start = previousFiring(r.schedule, cursor);
    if (start !== undefined && start < (r.schedule.startMs ?? -Infinity)) start = undefined;
  }
  if (start === undefined || end === undefined || start < from || end > to) return undefined;
  return {
    window: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
    next: r.reverse ? start : end,
  };
}

/**
 * The number of windows in a range: the firings from the first window's start up to `to`, less one. Firings are read
 * in batches (a day's firings are worked out once per batch, not once per window), so 10,000 hourly windows count in
 * well under a second of workflow time; nothing is kept.
 */
export function countWindows(r: Range): number {
  const to = Date.parse(r.to);
  const first = firstCursor({ ...r, reverse: false });
  if (first === undefined || first > to) return 0;
  let firings = 1;
  let after = first;
  for (;;) {
    const batch = nextFirings(r.schedule, after, 1000);
    const inRange = batch.filter((t) => t <= to);
    firings += inRange.length;
    if (inRange.length < 1000) return firings - 1;
    after = batch[batch.length - 1]!;
  }
}
