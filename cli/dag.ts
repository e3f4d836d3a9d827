import { createHash } from 'node:crypto';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { Catalog } from '../catalog/load';
import { dagWorkflowId, type DagNodeInput, type DagProfile, type DagRunInput } from '../core/dag-input';
import { toRunInput, type RunKind } from '../core/run-input';
import { describeWindow, type Window } from '../core/window';
import { PIPELINE_GROUP, PIPELINE_NAME, RUN_KIND, WINDOW_START } from '../temporal-config/search-attributes';
import type { dagRun } from '../workflows/dag-run';

/** Options of a DAG run a caller may set. */
export interface DagOptions {
  /** Most pipeline runs at once (default `PIPECTL_MAX_PARALLEL` or 8). */
  maxParallel?: number;
  /** Child runs per workflow run before continuing as new (default 500). */
  continueAsNewAfter?: number;
}

/**
 * The `dagRun` input for a set of pipelines of the catalog: their edges inside the set, descendant counts for
 * priority, and each distinct set of run options stored once.
 */
export function buildDagInput(
  catalog: Catalog,
  names: Iterable<string>,
  window: Window,
  kind: RunKind,
  defaultTaskQueue: string,
  group = 'manual',
  options: DagOptions = {},
): DagRunInput {
  const members = new Set(names);
  const profiles: DagProfile[] = [];
  const profileIndex = new Map<string, number>();
  const downstream = new Map<string, string[]>();
  for (const name of members) {
    for (const d of catalog.graph.downstream.get(name) ?? [])
      if (members.has(d)) downstream.set(name, [...(downstream.get(name) ?? []), d]);
  }
  const descendants = (name: string) => {
    const seen = new Set<string>();
    const stack = [...(downstream.get(name) ?? [])];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...(downstream.get(n) ?? []));
    }
    return seen.size;
  };
  const nodes: DagNodeInput[] = [...members].sort().map((name) => {
    const spec = catalog.pipelines.get(name)!.spec;
    const run = toRunInput(spec, window, kind, group);
    const profile: DagProfile = {
      retry: run.retry,
      timeouts: run.timeouts,
      runTimeoutMs: spec.timeouts.run,
      taskQueue: spec.taskQueue ?? defaultTaskQueue,
    };
    const key = JSON.stringify(profile);
    let index = profileIndex.get(key);
    if (index === undefined) {
      index = profiles.push(profile) - 1;
      profileIndex.set(key, index);
    }
    return {
      name,
      upstream: [...(catalog.graph.upstream.get(name) ?? [])].filter((u) => members.has(u)).sort(),
      descendants: descendants(name),
      profile: index,
      hasTransform: run.hasTransform,
    };
  });
  return {
    window,
    kind,
    group,
    nodes,
    profiles,
    maxParallel: options.maxParallel ?? Number(process.env.PIPECTL_MAX_PARALLEL || 8),
    continueAsNewAfter: options.continueAsNewAfter ?? 500,
  };
}

/** Starts a DAG run; an explicit list of pipelines gets an ID suffix from its names, so different lists never collide. */
export async function startDagRun(
  client: Client,
  input: DagRunInput,
  taskQueue: string,
  explicitList: boolean,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof dagRun>> {
  const names = input.nodes.map((n) => n.name);
  const suffix = explicitList ? createHash('sha256').update(names.join(',')).digest('hex').slice(0, 10) : undefined;
  return client.workflow.start<typeof dagRun>('dagRun', {
    workflowId: dagWorkflowId(input.group, input.window, suffix),
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    typedSearchAttributes: [
      { key: PIPELINE_NAME, value: names[0] ?? '' },
      { key: PIPELINE_GROUP, value: input.group },
      { key: WINDOW_START, value: new Date(input.window.start) },
      { key: RUN_KIND, value: input.kind },
    ],
    staticSummary: `DAG ${input.group} · ${names.length} pipelines · ${describeWindow(input.window)}`,
    staticDetails: `Pipelines: ${names.join(', ')}`,
  });
}
