import { createHash } from 'node:crypto';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { Catalog } from '../catalog/load';
import { dagWorkflowId, type DagProfile, type DagRunInput, type ExternalWait } from '../core/dag-input';
import { countDescendants, type DagNode } from '../core/dag-plan';
import { groupMembers } from '../core/groups';
import { toRunInput, type RunKind } from '../core/run-input';
import { describeWindow, type Window } from '../core/window';
import { runSearchAttributes } from '../temporal-config/search-attributes';
import { settings } from '../temporal-config/settings';
import type { dagRun } from '../workflows/dag-run';

/** Options of a DAG run a caller may set. */
export interface DagOptions {
  /** The schedule group the run belongs to; its upstreams in other groups are waited for. Default: `manual`. */
  group?: string;
  /** Most pipeline runs at once (default: the group's `maxParallel`, else `PIPECTL_MAX_PARALLEL`, else 8). */
  maxParallel?: number;
  /** Child runs per workflow run before continuing as new (default 500). */
  continueAsNewAfter?: number;
  /** Longest interval between checks of an upstream in another group (default `PIPECTL_UPSTREAM_POLL`, 1 minute). */
  upstreamPollMs?: number;
}

/** The pipelines of a group's DAG run: its scheduled pipelines and the unscheduled ones downstream of them. */
export function groupPipelines(catalog: Catalog, group: string): string[] {
  const g = catalog.groups.get(group);
  if (!g) throw new Error(`no group named '${group}'`);
  return groupMembers(g);
}

/**
 * The `dagRun` input for a set of pipelines of the catalog: nodes numbered, edges inside the set as node indices,
 * descendant counts for priority, each distinct set of run options stored once. In a group's DAG run, upstreams
 * outside the set belong to other groups, and their downstream nodes wait for them.
 */
export function buildDagInput(
  catalog: Catalog,
  names: Iterable<string>,
  window: Window,
  kind: RunKind,
  defaultTaskQueue: string,
  options: DagOptions = {},
): DagRunInput {
  const group = options.group ?? 'manual';
  const sorted = [...new Set(names)].sort();
  const index = new Map(sorted.map((n, i) => [n, i]));
  const upstream = sorted.map((name) =>
    [...(catalog.graph.upstream.get(name) ?? [])]
      .filter((u) => index.has(u))
      .sort()
      .map((u) => index.get(u)!),
  );
  const descendants = countDescendants(upstream);
  const profiles: DagProfile[] = [];
  const profileIndex = new Map<string, number>();
  const waits: ExternalWait[] = [];
  const nodes: DagNode[] = sorted.map((name, i) => {
    const spec = catalog.pipelines.get(name)!.spec;
    const run = toRunInput(spec, window, kind, group);
    const profile: DagProfile = {
      retry: run.retry,
      timeouts: run.timeouts,
      runTimeoutMs: spec.timeouts.run,
      taskQueue: spec.taskQueue ?? defaultTaskQueue,
      hasTransform: run.hasTransform,
      ...(run.localSteps ? { localSteps: run.localSteps } : {}),
      ...(run.fusedSteps ? { fusedSteps: run.fusedSteps } : {}),
      ...(run.overlapLoad ? { overlapLoad: run.overlapLoad } : {}),
      ...(spec.inline ? { inline: true as const } : {}),
      ...(run.notify ? { notify: run.notify } : {}),
    };
    const key = JSON.stringify(profile);
    let p = profileIndex.get(key);
    if (p === undefined) {
      p = profiles.push(profile) - 1;
      profileIndex.set(key, p);
    }
    if (group !== 'manual') {
      const outside = [...(catalog.graph.upstream.get(name) ?? [])].filter((u) => !index.has(u)).sort();
      if (outside.length > 0) waits.push({ node: i, upstream: outside, timeoutMs: spec.timeouts.upstream });
    }
    return [name, upstream[i]!, descendants[i]!, p];
  });
  const upstreamPollMs = options.upstreamPollMs ?? settings().upstreamPollMs;
  const notify = group !== 'manual' ? catalog.groups.get(group)?.notify : undefined;
  return {
    window,
    kind,
    group,
    nodes,
    profiles,
    ...(waits.length > 0 ? { waits, upstreamPollMs } : {}),
    maxParallel: options.maxParallel ?? catalog.groups.get(group)?.maxParallel ?? settings().maxParallel,
    continueAsNewAfter: options.continueAsNewAfter ?? 500,
    ...(notify?.length ? { notify } : {}),
  };
}

/** How a DAG run is started. */
export interface StartDagOptions {
  /** An explicit list of pipelines gets an ID suffix from its names, so different lists never collide. */
  explicitList?: boolean;
  /** Use this workflow ID (a restart from failure reuses the failed run's ID). */
  workflowId?: string;
}

/** Starts a DAG run; a start for a DAG run that is already running returns the running one. */
export async function startDagRun(
  client: Client,
  input: DagRunInput,
  taskQueue: string,
  options: StartDagOptions = {},
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof dagRun>> {
  const names = input.nodes.map((n) => n[0]);
  const suffix = options.explicitList
    ? createHash('sha256').update(names.join(',')).digest('hex').slice(0, 10)
    : undefined;
  const listed =
    names.length > 50 ? `${names.slice(0, 50).join(', ')} and ${names.length - 50} more` : names.join(', ');
  return client.workflow.start<typeof dagRun>('dagRun', {
    workflowId: options.workflowId ?? dagWorkflowId(input.group, input.window, suffix),
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    typedSearchAttributes: runSearchAttributes(names[0] ?? '', input.group, input.window, input.kind),
    staticSummary: `DAG ${input.group} · ${names.length} pipelines · ${describeWindow(input.window)}`,
    staticDetails: `Pipelines: ${listed}`,
  });
}
