import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleSummary,
} from '@temporalio/client';
import type { Catalog } from '../catalog/load';
import type { ScheduledDagRunInput } from '../core/dag-input';
import { describeSchedule } from '../core/graph-format';
import { groupMembers } from '../core/groups';
import { resolveSchedule } from '../core/schedule';
import {
  desiredSchedule,
  isOwnedSchedule,
  ownedGroup,
  pausedPipelinesOf,
  storedMemo,
  withPausedPipelines,
  type DesiredSchedule,
} from '../temporal-config/schedules';
import { PAUSED_PIPELINES, SCHEDULE_HASH, scheduleSearchAttributes } from '../temporal-config/search-attributes';
import { buildDagInput } from './dag';
import { mapConcurrently } from './concurrency';

/** Schedule calls in flight at once: describes and updates each run a query or update on the server. */
const SERVER_CONCURRENCY = 16;

/** What `pipectl sync` does with one Schedule. `keep`: owned but no longer defined, left alone without `--prune`. */
export type SyncAction = 'create' | 'update' | 'unchanged' | 'delete' | 'keep' | 'foreign';

/** Which parts of a Schedule an update changes. */
export type SyncChange = 'schedule' | 'pipelines' | 'policies';

/** One line of the plan. */
export interface PlanEntry {
  group: string;
  scheduleId: string;
  action: SyncAction;
  /** For `update`: what changes. */
  changes?: SyncChange[];
  /** The schedule in words and the pipelines each firing runs (for defined groups). */
  schedule?: string;
  pipelines?: string[];
  /** Whether the existing Schedule is paused (kept paused by an update). */
  paused?: boolean;
  /** Pipelines paused inside the group (kept paused by an update). */
  pausedPipelines?: string[];
}

/** What applying one plan entry did. */
export interface SyncResult {
  scheduleId: string;
  action: SyncAction;
  /** `done`, or `unchanged` when a concurrent sync had already made it so. */
  outcome: 'done' | 'unchanged' | 'skipped';
}

/** A plan with the desired options of each defined group, for applying. */
export interface SyncPlan {
  entries: PlanEntry[];
  desired: Map<string, DesiredSchedule>;
}

/** A fixed window: the scheduled input carries no window, so any window gives the same input. */
const ANY_WINDOW = { start: '1970-01-01T00:00:00.000Z', end: '1970-01-02T00:00:00.000Z' };

/** The desired Temporal Schedule of every group of the catalog. */
export function desiredSchedules(catalog: Catalog, taskQueue: string): Map<string, DesiredSchedule> {
  const out = new Map<string, DesiredSchedule>();
  for (const name of [...catalog.groups.keys()].sort()) {
    const group = catalog.groups.get(name)!;
    const withWindow = buildDagInput(catalog, groupMembers(group), ANY_WINDOW, 'scheduled', taskQueue, { group: name });
    const resolved = resolveSchedule(group.schedule);
    const input: ScheduledDagRunInput = { ...withWindow, window: undefined, firing: resolved };
    delete input.window;
    out.set(name, desiredSchedule(name, group.schedule, resolved, input, taskQueue));
  }
  return out;
}

/** The parts whose hashes differ between what pipectl last applied and what the code wants now. */
function changesOf(current: ScheduleDescription, desired: DesiredSchedule): SyncChange[] | 'same' {
  const stored = storedMemo(current.action.memo);
  if (stored?.hash === desired.hash) return 'same';
  if (!stored) return ['schedule', 'pipelines', 'policies'];
  return (['schedule', 'pipelines', 'policies'] as const).filter((p) => stored.parts[p] !== desired.parts[p]);
}

/** A Schedule's description, or undefined when there is none with that ID. */
export async function describeOrUndefined(
  client: Client,
  scheduleId: string,
): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/**
 * Compares the Schedules on the server with the catalog's groups. One list (visibility) gives every Schedule with the
 * hash pipectl stored on it: a group whose listed hash equals the wanted one is unchanged without further calls. Every
 * other group's Schedule is described by ID (strongly consistent): new ones, changed ones, ones the list does not show
 * yet. Owned Schedules of groups no longer defined are found in the same list.
 */
export async function planSync(
  client: Client,
  catalog: Catalog,
  taskQueue: string,
  options: { prune: boolean },
): Promise<SyncPlan> {
  const desired = desiredSchedules(catalog, taskQueue);
  const listed = new Map<string, ScheduleSummary>();
  for await (const summary of client.schedule.list()) listed.set(summary.scheduleId, summary);
  // Each describe asks the Schedule's own workflow on the server: many at once, in the order of the groups.
  const entries: PlanEntry[] = await mapConcurrently([...desired], SERVER_CONCURRENCY, async ([group, want]) => {
    const g = catalog.groups.get(group)!;
    const base = {
      group,
      scheduleId: want.scheduleId,
      schedule: describeSchedule(g.schedule),
      pipelines: groupMembers(g),
    };
    const summary = listed.get(want.scheduleId);
    if (summary && isOwnedSchedule(summary) && summary.typedSearchAttributes?.get(SCHEDULE_HASH) === want.hash) {
      const members = new Set(want.pipelines);
      const pausedInside = (summary.typedSearchAttributes.get(PAUSED_PIPELINES) ?? []).filter((n) => members.has(n));
      return {
        ...base,
        action: 'unchanged',
        paused: summary.state.paused,
        ...(pausedInside.length ? { pausedPipelines: pausedInside } : {}),
      };
    }
    const current = await describeOrUndefined(client, want.scheduleId);
    if (!current) return { ...base, action: 'create' };
    if (!isOwnedSchedule({ scheduleId: want.scheduleId, memo: current.memo })) {
      return { ...base, action: 'foreign', paused: current.state.paused };
    }
    const changes = changesOf(current, want);
    const members = new Set(want.pipelines);
    const pausedInside = Object.keys(pausedPipelinesOf(current.action)).filter((n) => members.has(n));
    const state = { paused: current.state.paused, ...(pausedInside.length ? { pausedPipelines: pausedInside } : {}) };
    return changes === 'same'
      ? { ...base, action: 'unchanged', ...state }
      : { ...base, action: 'update', changes, ...state };
  });
  for (const summary of listed.values()) {
    if (!isOwnedSchedule(summary)) continue;
    const group = ownedGroup(summary);
    if (desired.has(group)) continue;
    entries.push({ group, scheduleId: summary.scheduleId, action: options.prune ? 'delete' : 'keep' });
  }
  return { entries, desired };
}

/**
 * The desired action, still skipping the pipelines paused inside the group (`pipectl pause <pipeline>`) that are
 * still members of it: a sync changes what the code defines, never what people paused.
 */
function keepPausedPipelines(
  current: { args?: readonly unknown[] },
  want: DesiredSchedule,
): DesiredSchedule['options']['action'] {
  const members = new Set(want.pipelines);
  const paused = Object.entries(pausedPipelinesOf(current)).filter(([name]) => members.has(name));
  return withPausedPipelines(want.options.action, Object.fromEntries(paused));
}

/** The names of the paused pipelines an update keeps (those still members of the group). */
function keptPausedPipelines(current: { args?: readonly unknown[] }, want: DesiredSchedule): string[] {
  const members = new Set(want.pipelines);
  return Object.keys(pausedPipelinesOf(current)).filter((name) => members.has(name));
}

/** Sends the desired options as an update, keeping the Schedule's paused state and note. */
async function update(client: Client, want: DesiredSchedule): Promise<'done' | 'unchanged'> {
  const handle = client.schedule.getHandle(want.scheduleId);
  for (let attempt = 1; ; attempt++) {
    try {
      const current = await handle.describe();
      if (changesOf(current, want) === 'same') return 'unchanged';
      await handle.update((previous) => ({
        spec: want.options.spec,
        action: keepPausedPipelines(previous.action, want),
        typedSearchAttributes: scheduleSearchAttributes(want.hash, keptPausedPipelines(previous.action, want)),
        policies: want.options.policies,
        state: { paused: previous.state.paused, ...(previous.state.note ? { note: previous.state.note } : {}) },
      }));
      return 'done';
    } catch (err) {
      // Another sync updated it at the same time: describe again and compare.
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** Applies a plan, many Schedules at once. Creation that races with another sync falls back to an update check. */
export async function applySync(client: Client, plan: SyncPlan): Promise<SyncResult[]> {
  return mapConcurrently(plan.entries, SERVER_CONCURRENCY, async (entry) => ({
    scheduleId: entry.scheduleId,
    action: entry.action,
    outcome: await applyEntry(client, plan.desired.get(entry.group), entry),
  }));
}

/**
 * Waits until listing Schedules shows what a sync created or updated (visibility lags the write), at most `timeoutMs`.
 * The next sync trusts the listed hash of a Schedule, so a sync ends only once a list tells the truth about its
 * changes: a sync that reverts a change right after it then sees the change instead of a stale "unchanged".
 * Resolves to the IDs still not shown when the time ran out.
 */
export async function awaitListed(
  client: Client,
  plan: SyncPlan,
  results: SyncResult[],
  timeoutMs = 30_000,
): Promise<string[]> {
  const pending = new Map<string, string>();
  for (const r of results) {
    if (r.outcome !== 'done' || (r.action !== 'create' && r.action !== 'update')) continue;
    const entry = plan.entries.find((e) => e.scheduleId === r.scheduleId)!;
    pending.set(r.scheduleId, plan.desired.get(entry.group)!.hash);
  }
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0 && Date.now() < deadline) {
    for await (const summary of client.schedule.list()) {
      if (summary.typedSearchAttributes?.get(SCHEDULE_HASH) === pending.get(summary.scheduleId))
        pending.delete(summary.scheduleId);
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 200));
  }
  return [...pending.keys()];
}

/** Applies one entry of a plan. */
async function applyEntry(
  client: Client,
  want: DesiredSchedule | undefined,
  entry: PlanEntry,
): Promise<SyncResult['outcome']> {
  switch (entry.action) {
    case 'create': {
      try {
        await client.schedule.create(want!.options);
        return 'done';
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        const current = await describeOrUndefined(client, entry.scheduleId);
        if (current && !isOwnedSchedule({ scheduleId: entry.scheduleId, memo: current.memo })) return 'skipped';
        return update(client, want!);
      }
    }
    case 'update':
      return update(client, want!);
    case 'delete': {
      // Checked again just before deleting: never delete a Schedule pipectl does not own.
      const current = await describeOrUndefined(client, entry.scheduleId);
      if (!current) return 'unchanged';
      if (!isOwnedSchedule({ scheduleId: entry.scheduleId, memo: current.memo })) return 'skipped';
      await client.schedule
        .getHandle(entry.scheduleId)
        .delete()
        .catch((err: unknown) => {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
        });
      return 'done';
    }
    case 'unchanged':
      return 'unchanged';
    default:
      return 'skipped';
  }
}

/** Counts of a plan's actions, for the summary line. */
export function planCounts(entries: PlanEntry[]): Record<SyncAction, number> {
  const counts: Record<SyncAction, number> = { create: 0, update: 0, unchanged: 0, delete: 0, keep: 0, foreign: 0 };
  for (const e of entries) counts[e.action]++;
  return counts;
}
