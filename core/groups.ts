/**
 * Schedule groups: pipelines with identical schedules share one group, which gets one Temporal Schedule and one DAG
 * run per firing. A group runs its scheduled pipelines and every pipeline downstream of them that has no schedule of
 * its own. Pure: used by validation, the CLI and sync.
 */
import { createHash } from 'node:crypto';
import type { PipelineGraph } from './graph';
import type { NotifyTarget, PipelineSpec, ScheduleSpec } from './pipeline-spec';

/** A schedule group. */
export interface PipelineGroup {
  name: string;
  /** The schedule every scheduled member shares (without the group's own settings). */
  schedule: ScheduleSpec;
  /** Pipelines whose schedule this is, sorted. */
  scheduled: string[];
  /** Pipelines without a schedule that run in this group because they are downstream of it, sorted. */
  downstream: string[];
  /** Most pipeline runs at once, when the group sets it. */
  maxParallel?: number;
  /** Notified at the end of each of the group's DAG runs, when the group sets it. */
  notify?: NotifyTarget[];
}

/** A problem with groups, located at a pipeline. */
export interface GroupIssue {
  pipeline: string;
  field: string;
  message: string;
}

/** The schedule fields that decide when a group fires, in a fixed key order, for comparing schedules. */
export function scheduleKey(schedule: ScheduleSpec): string {
  const own = new Set(['group', 'maxParallel', 'notify']);
  const when = Object.entries(schedule).filter(([k, v]) => !own.has(k) && v !== undefined);
  return JSON.stringify(Object.fromEntries(when.sort(([a], [b]) => (a < b ? -1 : 1))));
}

/** The default name of a schedule's group: its fields in a slug, e.g. `daily-0400-europe-paris`. */
export function defaultGroupName(schedule: ScheduleSpec): string {
  const every = schedule.every ?? '';
  const parts: string[] = [
    schedule.cron !== undefined ? `cron ${schedule.cron}` : /^\d/.test(every) ? `every ${every}` : every,
  ];
  if (schedule.at) parts.push(schedule.at);
  if (schedule.hours?.length) parts.push(`h${schedule.hours.join('.')}`);
  if (schedule.weekdays?.length) parts.push(`d${schedule.weekdays.join('.')}`);
  if (schedule.months?.length) parts.push(`m${schedule.months.join('.')}`);
  if (schedule.start) parts.push(`from ${schedule.start}`);
  if (schedule.end) parts.push(`to ${schedule.end}`);
  parts.push(schedule.timezone);
  const slug = parts
    .join('-')
    .toLowerCase()
    .replace(/\*/g, 'x')
    .replace(/:/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const name = /^[a-z]/.test(slug) ? slug : `s-${slug}`;
  if (name.length <= 100) return name;
  return `${name.slice(0, 88)}-${createHash('sha256').update(name).digest('hex').slice(0, 10)}`;
}

/**
 * Works out the groups of a catalog. An unscheduled pipeline joins the group of its scheduled upstreams (through
 * other unscheduled ones); one with upstreams in several groups is an issue, since no single window fits it.
 */
export function buildGroups(
  specs: ReadonlyMap<string, { spec: PipelineSpec }>,
  graph: PipelineGraph,
): { groups: Map<string, PipelineGroup>; issues: GroupIssue[] } {
  const groups = new Map<string, PipelineGroup>();
  const issues: GroupIssue[] = [];
  const groupOf = new Map<string, string>();
  for (const name of [...specs.keys()].sort()) {
    const schedule = specs.get(name)!.spec.schedule;
    if (!schedule) continue;
    const groupName = schedule.group ?? defaultGroupName(schedule);
    const existing = groups.get(groupName);
    if (!existing) {
      const group: PipelineGroup = { name: groupName, schedule, scheduled: [name], downstream: [] };
      if (schedule.maxParallel !== undefined) group.maxParallel = schedule.maxParallel;
      if (schedule.notify !== undefined) group.notify = schedule.notify;
      groups.set(groupName, group);
      groupOf.set(name, groupName);
      continue;
    }
    const first = existing.scheduled[0]!;
    if (scheduleKey(existing.schedule) !== scheduleKey(schedule)) {
      issues.push({
        pipeline: name,
        field: 'schedule.group',
        message: `group '${groupName}' has another schedule in '${first}': pipelines of one group share one schedule`,
      });
      continue;
    }
    if (schedule.maxParallel !== undefined) {
      if (existing.maxParallel !== undefined && existing.maxParallel !== schedule.maxParallel) {
        issues.push({
          pipeline: name,
          field: 'schedule.maxParallel',
          message: `group '${groupName}' has maxParallel ${existing.maxParallel} in '${existing.scheduled.find((p) => specs.get(p)!.spec.schedule?.maxParallel !== undefined)}': set one value`,
        });
        continue;
      }
      existing.maxParallel = schedule.maxParallel;
    }
    if (schedule.notify !== undefined) {
      if (existing.notify !== undefined && JSON.stringify(existing.notify) !== JSON.stringify(schedule.notify)) {
        issues.push({
          pipeline: name,
          field: 'schedule.notify',
          message: `group '${groupName}' has another notify in '${existing.scheduled.find((p) => specs.get(p)!.spec.schedule?.notify !== undefined)}': set it on one pipeline of the group, or the same on each`,
        });
        continue;
      }
      existing.notify = schedule.notify;
    }
    existing.scheduled.push(name);
    groupOf.set(name, groupName);
  }
  for (const name of specs.keys()) {
    if (groups.has(name)) {
      issues.push({
        pipeline: name,
        field: 'name',
        message: `'${name}' names both a pipeline and a group: rename the group (schedule.group)`,
      });
    }
  }

  // Unscheduled pipelines: the groups reachable upstream through unscheduled pipelines only.
  const memo = new Map<string, Set<string>>();
  const reach = (name: string, path: Set<string>): Set<string> => {
    const known = memo.get(name);
    if (known) return known;
    const out = new Set<string>();
    if (path.has(name)) return out; // a cycle, reported elsewhere
    path.add(name);
    for (const u of graph.upstream.get(name) ?? []) {
      const g = groupOf.get(u);
      if (g) out.add(g);
      else if (specs.has(u) && !specs.get(u)!.spec.schedule) for (const x of reach(u, path)) out.add(x);
    }
    path.delete(name);
    memo.set(name, out);
    return out;
  };
  for (const name of [...specs.keys()].sort()) {
    if (specs.get(name)!.spec.schedule) continue;
    const reached = [...reach(name, new Set())].sort();
    if (reached.length === 1) groups.get(reached[0]!)!.downstream.push(name);
    else if (reached.length > 1) {
      issues.push({
        pipeline: name,
        field: 'schedule',
        message: `no schedule, and its upstreams run in several groups (${reached.join(', ')}): give it a schedule of its own, and it waits for them`,
      });
    }
  }
  issues.push(...inlineIssues(specs, graph, groups));
  return { groups, issues };
}

/**
 * An `inline` pipeline runs inside its group's DAG run, with no workflow of its own, so a pipeline of another group,
 * which waits for the runs of its upstreams there, could never find one: that is an issue at the inline pipeline.
 */
function inlineIssues(
  specs: ReadonlyMap<string, { spec: PipelineSpec }>,
  graph: PipelineGraph,
  groups: ReadonlyMap<string, PipelineGroup>,
): GroupIssue[] {
  const groupOf = new Map<string, string>();
  for (const g of groups.values()) for (const name of groupMembers(g)) groupOf.set(name, g.name);
  const issues: GroupIssue[] = [];
  for (const [name, { spec }] of specs) {
    const own = groupOf.get(name);
    if (!spec.inline || own === undefined) continue;
    const waiting = [...(graph.downstream.get(name) ?? [])]
      .filter((d) => groupOf.has(d) && groupOf.get(d) !== own)
      .sort();
    if (waiting.length === 0) continue;
    issues.push({
      pipeline: name,
      field: 'inline',
      message: `pipelines of other groups wait for its runs (${waiting.map((d) => `${d}, group ${groupOf.get(d)}`).join('; ')}), but an inline run, inside the DAG run of group ${own}, is not one they can find: leave inline off`,
    });
  }
  return issues;
}

/** Every pipeline a group's DAG run covers. */
export function groupMembers(group: PipelineGroup): string[] {
  return [...group.scheduled, ...group.downstream].sort();
}
