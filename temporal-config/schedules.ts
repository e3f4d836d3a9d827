import { createHash } from 'node:crypto';
import {
  DAYS_OF_WEEK,
  MONTHS,
  ScheduleOverlapPolicy,
  type CalendarSpec,
  type DayOfWeek,
  type Month,
  type Range,
  type ScheduleOptions,
  type ScheduleSpec as TemporalScheduleSpec,
  type ScheduleSummary,
} from '@temporalio/client';
import type { PausedPipeline, ScheduledDagRunInput } from '../core/dag-input';
import type { ScheduleSpec } from '../core/pipeline-spec';
import type { CalendarRule, ResolvedSchedule } from '../core/schedule';
import { PIPELINE_GROUP, PIPELINE_NAME, RUN_KIND, scheduleSearchAttributes } from './search-attributes';

/** Every Schedule pipectl creates has an ID with this prefix, followed by the group's name. */
export const SCHEDULE_ID_PREFIX = 'pipectl-';
/** The owner marker in a Schedule's memo (set once, at creation; the SDK cannot change a Schedule's memo later). */
export const OWNER = 'pipectl';

/** The memo pipectl puts on the Schedules it creates. */
export interface OwnerMemo {
  pipectl: { owner: typeof OWNER; group: string };
}

/** The memo on the action (and so on every DAG run the Schedule starts): the hash of the desired options. */
export interface ActionMemo {
  pipectl: { group: string; hash: string; parts: DesiredSchedule['parts'] };
}

/** The Schedule ID of a group. */
export function scheduleIdFor(group: string): string {
  return `${SCHEDULE_ID_PREFIX}${group}`;
}

/**
 * True when pipectl created this Schedule: its ID has pipectl's prefix AND its memo names pipectl as owner. A Schedule
 * someone made by hand under a `pipectl-` ID is not pipectl's, and pipectl never changes or deletes it.
 */
export function isOwnedSchedule(summary: Pick<ScheduleSummary, 'scheduleId' | 'memo'>): boolean {
  const memo = summary.memo?.pipectl as { owner?: unknown } | undefined;
  return summary.scheduleId.startsWith(SCHEDULE_ID_PREFIX) && memo?.owner === OWNER;
}

/** The group of an owned Schedule (from its memo). */
export function ownedGroup(summary: Pick<ScheduleSummary, 'memo' | 'scheduleId'>): string {
  const memo = summary.memo?.pipectl as { group?: unknown } | undefined;
  return typeof memo?.group === 'string' ? memo.group : summary.scheduleId.slice(SCHEDULE_ID_PREFIX.length);
}

/**
 * Sorted values as the fewest ranges: an arithmetic progression of three or more values is one stepped range
 * (`0,15,30,45` → 0–45/15), anything else runs of consecutive values.
 */
export function toRanges(values: readonly number[]): Range<number>[] {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  if (sorted.length >= 3) {
    const step = sorted[1]! - sorted[0]!;
    if (sorted.every((v, i) => i === 0 || v - sorted[i - 1]! === step))
      return [{ start: sorted[0]!, end: sorted[sorted.length - 1]!, step }];
  }
  const out: Range<number>[] = [];
  for (const v of sorted) {
    const last = out[out.length - 1];
    if (last && last.end === v - 1 && last.step === 1) last.end = v;
    else out.push({ start: v, end: v, step: 1 });
  }
  return out;
}

const full = (values: readonly number[], from: number, to: number) => values.length === to - from + 1;
const named = <T>(ranges: Range<number>[], names: readonly T[], base: number): Range<T>[] =>
  ranges.map((r) => ({ start: names[r.start - base]!, end: names[r.end - base]!, step: r.step }));

/** One calendar rule as a Temporal calendar: months and weekdays by the SDK's names, full fields as `*`. */
export function toCalendarSpec(rule: CalendarRule): CalendarSpec {
  return {
    second: 0,
    minute: toRanges(rule.minute),
    hour: toRanges(rule.hour),
    dayOfMonth: full(rule.day, 1, 31) ? '*' : toRanges(rule.day),
    month: full(rule.month, 1, 12) ? '*' : named<Month>(toRanges(rule.month), MONTHS, 1),
    dayOfWeek: full(rule.weekday, 0, 6) ? '*' : named<DayOfWeek>(toRanges(rule.weekday), DAYS_OF_WEEK, 0),
  };
}

/** A resolved schedule (plus the definition's jitter) as a Temporal Schedule spec. */
export function toTemporalSpec(resolved: ResolvedSchedule, jitterMs?: number): TemporalScheduleSpec {
  const spec: TemporalScheduleSpec =
    resolved.rule.kind === 'calendar'
      ? { calendars: resolved.rule.calendars.map(toCalendarSpec), timezone: resolved.timezone }
      : { intervals: [{ every: resolved.rule.everyMs, offset: resolved.rule.offsetMs }], timezone: resolved.timezone };
  if (resolved.startMs !== undefined) spec.startAt = new Date(resolved.startMs);
  if (resolved.endMs !== undefined) spec.endAt = new Date(resolved.endMs);
  if (jitterMs !== undefined) spec.jitter = jitterMs;
  return spec;
}

const OVERLAP: Record<ScheduleSpec['overlap'], ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  buffer_one: ScheduleOverlapPolicy.BUFFER_ONE,
  buffer_all: ScheduleOverlapPolicy.BUFFER_ALL,
  cancel_other: ScheduleOverlapPolicy.CANCEL_OTHER,
  terminate_other: ScheduleOverlapPolicy.TERMINATE_OTHER,
  allow_all: ScheduleOverlapPolicy.ALLOW_ALL,
};

/** The parts of a group's Schedule that `pipectl sync` compares, each hashed on its own to say what changed. */
export interface DesiredSchedule {
  scheduleId: string;
  group: string;
  /** The pipelines each firing runs. */
  pipelines: string[];
  /** Options for `client.schedule.create` (paused state left to the caller). */
  options: ScheduleOptions;
  /** Hash of everything below; stored in the action's memo. */
  hash: string;
  /** Hashes of the parts, to tell what changed: the schedule's times, the pipelines run, the policies. */
  parts: { schedule: string; pipelines: string; policies: string };
}

const digest = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

/**
 * The desired Temporal Schedule of a group: a spec from its resolved schedule, its overlap/catch-up/pause-on-failure
 * policies, and an action starting `dagRun` with the group's scheduled input (the run takes its window from the
 * scheduled time). The hash covers all of it, so a second sync with the same definitions sees no change.
 */
export function desiredSchedule(
  group: string,
  schedule: ScheduleSpec,
  resolved: ResolvedSchedule,
  input: ScheduledDagRunInput,
  taskQueue: string,
): DesiredSchedule {
  const spec = toTemporalSpec(resolved, schedule.jitter);
  const policies: NonNullable<ScheduleOptions['policies']> = {
    overlap: OVERLAP[schedule.overlap],
    pauseOnFailure: schedule.pauseOnFailure,
    ...(schedule.catchupWindow !== undefined ? { catchupWindow: schedule.catchupWindow } : {}),
  };
  const names = input.nodes.map((n) => n[0]);
  const parts = {
    // The firing rule travels in the input (the run derives its window from it) but is a schedule change.
    schedule: digest({ spec, firing: input.firing }),
    pipelines: digest({ ...input, firing: undefined, taskQueue }),
    policies: digest(policies),
  };
  const hash = digest(parts);
  const scheduleId = scheduleIdFor(group);
  const actionMemo: ActionMemo = { pipectl: { group, hash, parts } };
  const ownerMemo: OwnerMemo = { pipectl: { owner: OWNER, group } };
  return {
    scheduleId,
    group,
    pipelines: names,
    hash,
    parts,
    options: {
      scheduleId,
      spec,
      policies,
      memo: ownerMemo as unknown as Record<string, unknown>,
      typedSearchAttributes: scheduleSearchAttributes(hash, []),
      action: {
        type: 'startWorkflow',
        workflowType: 'dagRun',
        // Temporal appends the scheduled time to this ID, so each firing has its own business key.
        workflowId: `dag/${group}`,
        taskQueue,
        args: [input],
        memo: actionMemo as unknown as Record<string, unknown>,
        typedSearchAttributes: [
          { key: PIPELINE_NAME, value: names[0] ?? '' },
          { key: PIPELINE_GROUP, value: group },
          { key: RUN_KIND, value: 'scheduled' },
        ],
        staticSummary: `DAG ${group} · ${names.length} pipelines · scheduled`,
        staticDetails: `Pipelines: ${names.join(', ')}`,
      },
    },
  };
}

/** What pipectl stored on a Schedule's action (the hash of the options it applied), if anything. */
export function storedMemo(actionMemo: Record<string, unknown> | undefined): ActionMemo['pipectl'] | undefined {
  const memo = actionMemo?.pipectl as Partial<ActionMemo['pipectl']> | undefined;
  if (typeof memo?.hash !== 'string' || typeof memo.parts !== 'object' || memo.parts === null) return undefined;
  return memo as ActionMemo['pipectl'];
}

/** The pipelines paused inside a group, as its Schedule's action input carries them (each firing skips them). */
export function pausedPipelinesOf(action: { args?: readonly unknown[] }): Record<string, PausedPipeline> {
  const input = action.args?.[0] as { pausedPipelines?: unknown } | undefined;
  const paused = input?.pausedPipelines;
  return paused && typeof paused === 'object' ? { ...(paused as Record<string, PausedPipeline>) } : {};
}

/** One paused pipeline in words, as the Schedule's details and `pipectl schedules` show it. */
export function describePaused(name: string, p: PausedPipeline): string {
  const downstream = p.downstream === 'skip' ? 'downstream skipped' : 'downstream runs';
  return `${name} (since ${p.since}; ${downstream}${p.note ? `; ${p.note}` : ''})`;
}

const PAUSED_LINE = 'Paused pipelines: ';
const PAUSED_SUFFIX = / · \d+ paused$/;

/**
 * A Schedule action whose input skips exactly the given paused pipelines, with its summary and details saying so,
 * so the Web UI shows them on the Schedule and on every DAG run it starts.
 */
export function withPausedPipelines<
  A extends { args?: readonly unknown[]; staticSummary?: string; staticDetails?: string },
>(action: A, paused: Record<string, PausedPipeline>): A {
  const [input, ...rest] = action.args ?? [];
  const next: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  delete next.pausedPipelines;
  const names = Object.keys(paused).sort();
  const details = (action.staticDetails ?? '').split('\n').filter((l) => l && !l.startsWith(PAUSED_LINE));
  let summary = (action.staticSummary ?? '').replace(PAUSED_SUFFIX, '');
  if (names.length > 0) {
    next.pausedPipelines = Object.fromEntries(names.map((n) => [n, paused[n]!]));
    details.push(`${PAUSED_LINE}${names.map((n) => describePaused(n, paused[n]!)).join(', ')}`);
    summary = `${summary} · ${names.length} paused`;
  }
  return { ...action, args: [next, ...rest], staticSummary: summary, staticDetails: details.join('\n') };
}
