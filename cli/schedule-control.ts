import { ScheduleNotFoundError, type Client, type ScheduleDescription, type ScheduleHandle } from '@temporalio/client';
import type { Catalog } from '../catalog/load';
import type { PausedDownstream, PausedPipeline } from '../core/dag-input';
import { describeSchedule } from '../core/graph-format';
import { groupMembers, type PipelineGroup } from '../core/groups';
import { nextFirings, previousFiring, resolveSchedule, windowEndingAt } from '../core/schedule';
import { formatInZone } from '../core/time';
import type { Window } from '../core/window';
import {
  isOwnedSchedule,
  ownedGroup,
  pausedPipelinesOf,
  scheduleIdFor,
  storedMemo,
  withPausedPipelines,
} from '../temporal-config/schedules';
import { PAUSED_PIPELINES } from '../temporal-config/search-attributes';
import { UserError } from './errors';
import { describeOrUndefined, desiredSchedules } from './sync';

/** What `pipectl pause|resume <name>` acts on: a group's Schedule, or one pipeline inside a larger group. */
export type PauseTarget = { kind: 'group'; group: string } | { kind: 'pipeline'; group: string; pipeline: string };

/** The group a pipeline runs in (scheduled or downstream of one), if any. */
function groupOf(catalog: Catalog, pipeline: string): PipelineGroup | undefined {
  for (const group of catalog.groups.values()) {
    if (group.scheduled.includes(pipeline) || group.downstream.includes(pipeline)) return group;
  }
  return undefined;
}

/**
 * Resolves a name given to `pause` / `resume`: a group; or a pipeline, which is its group when it is the group's only
 * member, else the pipeline inside its group. A pipeline that runs in no group has nothing to pause.
 */
export function pauseTarget(catalog: Catalog, name: string): PauseTarget {
  if (catalog.groups.has(name)) return { kind: 'group', group: name };
  if (!catalog.pipelines.has(name)) {
    const groups = [...catalog.groups.keys()].sort().join(', ') || 'none';
    throw new UserError(`no pipeline or group named '${name}' in ${catalog.dir} (groups: ${groups})`);
  }
  const group = groupOf(catalog, name);
  if (!group)
    throw new UserError(
      `pipeline '${name}' has no schedule and runs in no group, so nothing fires it: there is nothing to pause`,
    );
  if (groupMembers(group).length === 1) return { kind: 'group', group: group.name };
  return { kind: 'pipeline', group: group.name, pipeline: name };
}

/** A group's Schedule on the server, checked to exist and to be pipectl's. */
async function ownedSchedule(
  client: Client,
  group: string,
): Promise<{ handle: ScheduleHandle; description: ScheduleDescription }> {
  const handle = client.schedule.getHandle(scheduleIdFor(group));
  let description: ScheduleDescription;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw new UserError(`group '${group}' has no Schedule on the server yet: run pipectl sync first`);
    throw err;
  }
  if (!isOwnedSchedule({ scheduleId: handle.scheduleId, memo: description.memo }))
    throw new UserError(`Schedule '${handle.scheduleId}' was not created by pipectl; pipectl leaves it alone`);
  return { handle, description };
}

/** What a pause or resume did. */
export interface PauseResult {
  target: PauseTarget;
  scheduleId: string;
  /** `done`, or `unchanged` when it already was so. */
  outcome: 'done' | 'unchanged';
  /** The group's Schedule state and the pipelines paused inside it, after the change. */
  schedulePaused: boolean;
  note?: string;
  pausedPipelines: Record<string, PausedPipeline>;
}

/**
 * Rewrites the pipelines paused inside a group's Schedule: reads them, applies `change`, writes the action back, and
 * reads again to check the write held (a concurrent `pipectl sync` writes the action too); tries again if not.
 */
async function changePausedPipelines(
  client: Client,
  group: string,
  change: (paused: Record<string, PausedPipeline>) => void,
): Promise<{ changed: boolean; description: ScheduleDescription }> {
  const { handle } = await ownedSchedule(client, group);
  for (let attempt = 1; ; attempt++) {
    let wanted: Record<string, PausedPipeline> = {};
    let changed = false;
    await handle.update((previous) => {
      const before = pausedPipelinesOf(previous.action);
      wanted = pausedPipelinesOf(previous.action);
      change(wanted);
      changed = JSON.stringify(before) !== JSON.stringify(wanted);
      return {
        ...previous,
        action: withPausedPipelines(previous.action, wanted),
        // Listing Schedules (a sync with no change) reads the paused pipelines from here.
        typedSearchAttributes: previous.typedSearchAttributes.updateCopy([
          { key: PAUSED_PIPELINES, value: Object.keys(wanted).sort() },
        ]),
      };
    });
    const description = await handle.describe();
    const now = pausedPipelinesOf(description.action);
    if (JSON.stringify(Object.keys(now).sort()) === JSON.stringify(Object.keys(wanted).sort()))
      return { changed, description };
    if (attempt >= 5) throw new Error(`the Schedule ${handle.scheduleId} kept changing under pipectl pause; try again`);
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
}

/** Pauses a group's Schedule, or one pipeline inside its group (its group's runs skip it, downstream as chosen). */
export async function pause(
  client: Client,
  target: PauseTarget,
  opts: { note?: string; downstream: PausedDownstream },
): Promise<PauseResult> {
  const scheduleId = scheduleIdFor(target.group);
  if (target.kind === 'group') {
    const { handle, description } = await ownedSchedule(client, target.group);
    const note = opts.note ?? 'paused with pipectl pause';
    if (!description.state.paused || description.state.note !== note) await handle.pause(note);
    const after = await handle.describe();
    return {
      target,
      scheduleId,
      outcome: description.state.paused ? 'unchanged' : 'done',
      schedulePaused: after.state.paused,
      ...(after.state.note ? { note: after.state.note } : {}),
      pausedPipelines: pausedPipelinesOf(after.action),
    };
  }
  const entry: PausedPipeline = {
    downstream: opts.downstream,
    since: new Date().toISOString(),
    ...(opts.note ? { note: opts.note } : {}),
  };
  const { changed, description } = await changePausedPipelines(client, target.group, (paused) => {
    const current = paused[target.pipeline];
    // Pausing again keeps the original time; the note and the downstream choice take the new values.
    paused[target.pipeline] = current ? { ...entry, since: current.since } : entry;
  });
  return result(target, scheduleId, changed, description);
}

/** Resumes a group's Schedule, or one pipeline paused inside its group. */
export async function resume(client: Client, target: PauseTarget, opts: { note?: string }): Promise<PauseResult> {
  const scheduleId = scheduleIdFor(target.group);
  if (target.kind === 'group') {
    const { handle, description } = await ownedSchedule(client, target.group);
    if (description.state.paused) await handle.unpause(opts.note ?? 'resumed with pipectl resume');
    return result(target, scheduleId, description.state.paused, await handle.describe());
  }
  const { changed, description } = await changePausedPipelines(client, target.group, (paused) => {
    delete paused[target.pipeline];
  });
  return result(target, scheduleId, changed, description);
}

function result(
  target: PauseTarget,
  scheduleId: string,
  changed: boolean,
  description: ScheduleDescription,
): PauseResult {
  return {
    target,
    scheduleId,
    outcome: changed ? 'done' : 'unchanged',
    schedulePaused: description.state.paused,
    ...(description.state.note ? { note: description.state.note } : {}),
    pausedPipelines: pausedPipelinesOf(description.action),
  };
}

/** What `pipectl trigger` started. */
export interface TriggerResult {
  group: string;
  scheduleId: string;
  /** The DAG run it started, or undefined when the Schedule's overlap policy skipped it (a run is still going). */
  workflowId?: string;
  window: Window;
  skipped?: { reason: string; running: string[] };
}

/**
 * Triggers a group's Schedule now, under the Schedule's own overlap policy (a run still going is not doubled unless
 * the policy allows it). The DAG run processes the latest complete window. Waits until the Schedule reports the
 * action taken (or skipped).
 */
export async function trigger(client: Client, catalog: Catalog, group: string): Promise<TriggerResult> {
  if (!catalog.groups.has(group)) {
    const owner = catalog.pipelines.has(group) ? groupOf(catalog, group) : undefined;
    const hint = owner ? `: it is a pipeline of group '${owner.name}' (pipectl trigger ${owner.name})` : '';
    throw new UserError(`no group named '${group}' in ${catalog.dir}${hint}`);
  }
  const { handle, description } = await ownedSchedule(client, group);
  const firing = resolveSchedule(catalog.groups.get(group)!.schedule);
  const taken = new Set(description.info.recentActions.map((a) => a.action.workflow.workflowId));
  const skippedBefore = description.info.numActionsSkippedOverlap;
  const at = Date.now();
  await handle.trigger(description.policies.overlap);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const now = await handle.describe();
    const started = now.info.recentActions.find((a) => !taken.has(a.action.workflow.workflowId));
    const window = windowEndingAt(firing, previousFiring(firing, (started?.scheduledAt.getTime() ?? at) + 1) ?? at);
    if (started)
      return { group, scheduleId: handle.scheduleId, workflowId: started.action.workflow.workflowId, window };
    if (now.info.numActionsSkippedOverlap > skippedBefore)
      return {
        group,
        scheduleId: handle.scheduleId,
        window,
        skipped: {
          reason: `a run of ${group} is still going and the Schedule's overlap policy is ${(now.policies.overlap ?? 'SKIP').toLowerCase().replace('_', ' ')}`,
          running: now.info.runningActions.map((a) => a.workflow.workflowId),
        },
      };
    if (Date.now() > deadline)
      throw new Error(`the Schedule ${handle.scheduleId} took no action within 15 s of the trigger`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One group as `pipectl schedules` shows it. */
export interface ScheduleRow {
  group: string;
  scheduleId: string;
  pipelines: string[];
  schedule: string;
  timezone: string;
  /** `in sync`, `out of date` (the code changed since the last sync), `not synced`, `not in code`, `not ours`. */
  sync: 'in sync' | 'out of date' | 'not synced' | 'not in code' | 'not ours';
  paused: boolean;
  note?: string;
  pausedPipelines: Record<string, PausedPipeline>;
  /** The next three firings: as Temporal reports them, or from the definition when the group is not synced. */
  next: { at: string; local: string }[];
  nextSource: 'temporal' | 'definition';
}

/** Every group of the catalog with its Schedule's state on the server, then owned Schedules no longer in the code. */
export async function listSchedules(client: Client, catalog: Catalog, taskQueue: string): Promise<ScheduleRow[]> {
  const desired = desiredSchedules(catalog, taskQueue);
  const rows: ScheduleRow[] = [];
  const now = Date.now();
  for (const [name, want] of desired) {
    const group = catalog.groups.get(name)!;
    const resolved = resolveSchedule(group.schedule);
    const current = await describeOrUndefined(client, want.scheduleId);
    const owned = current !== undefined && isOwnedSchedule({ scheduleId: want.scheduleId, memo: current.memo });
    const sync: ScheduleRow['sync'] = !current
      ? 'not synced'
      : !owned
        ? 'not ours'
        : storedMemo(current.action.memo)?.hash === want.hash
          ? 'in sync'
          : 'out of date';
    const fromTemporal = owned && current ? current.info.nextActionTimes.slice(0, 3).map((d) => d.getTime()) : [];
    const times = owned ? fromTemporal : nextFirings(resolved, now, 3);
    rows.push({
      group: name,
      scheduleId: want.scheduleId,
      pipelines: groupMembers(group),
      schedule: describeSchedule(group.schedule),
      timezone: resolved.timezone,
      sync,
      paused: owned ? current.state.paused : false,
      ...(owned && current.state.note ? { note: current.state.note } : {}),
      pausedPipelines: owned ? pausedPipelinesOf(current.action) : {},
      next: times.map((t) => ({ at: new Date(t).toISOString(), local: formatInZone(t, resolved.timezone) })),
      nextSource: owned ? 'temporal' : 'definition',
    });
  }
  for await (const summary of client.schedule.list()) {
    if (!isOwnedSchedule(summary) || desired.has(ownedGroup(summary))) continue;
    const current = await describeOrUndefined(client, summary.scheduleId);
    if (!current) continue;
    const timezone = current.spec.timezone ?? 'UTC';
    rows.push({
      group: ownedGroup(summary),
      scheduleId: summary.scheduleId,
      pipelines: [],
      schedule: '',
      timezone,
      sync: 'not in code',
      paused: current.state.paused,
      ...(current.state.note ? { note: current.state.note } : {}),
      pausedPipelines: pausedPipelinesOf(current.action),
      next: current.info.nextActionTimes
        .slice(0, 3)
        .map((d) => ({ at: d.toISOString(), local: formatInZone(d.getTime(), timezone) })),
      nextSource: 'temporal',
    });
  }
  return rows;
}
