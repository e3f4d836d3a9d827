import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { pipelineWorkflowId } from '../core/run-input';
import { describeWindow, type Window } from '../core/window';
import { WINDOW_END, WINDOW_START } from '../temporal-config/search-attributes';

/** Error type of one check that found an upstream without a successful run for the window yet; the check retries. */
export const UPSTREAM_NOT_READY = 'UpstreamNotReady';

type Interval = [start: number, end: number];

/** True when the intervals together cover `[start, end)`. */
export function covers(intervals: Interval[], start: number, end: number): boolean {
  let reached = start;
  for (const [s, e] of [...intervals].sort((a, b) => a[0] - b[0])) {
    if (s > reached) break;
    if (e > reached) reached = e;
    if (reached >= end) return true;
  }
  return reached >= end;
}

/**
 * Whether `upstream` has successful runs covering the window: first its run for the same window start (one call),
 * else every completed run overlapping the window, found through the visibility store.
 */
async function upstreamCovered(client: Client, upstream: string, window: Window): Promise<boolean> {
  const start = Date.parse(window.start);
  const end = Date.parse(window.end);
  const same = await client.workflow
    .getHandle(pipelineWorkflowId(upstream, window))
    .describe()
    .catch(() => undefined);
  if (same?.status.name === 'COMPLETED') {
    const sameEnd = same.typedSearchAttributes.get(WINDOW_END)?.getTime();
    if (sameEnd !== undefined && sameEnd >= end) return true;
  }
  const query =
    `WorkflowType = 'runPipeline' AND PipelineName = '${upstream}' AND ExecutionStatus = 'Completed' ` +
    `AND WindowStart < '${window.end}' AND WindowEnd > '${window.start}'`;
  const intervals: Interval[] = [];
  for await (const run of client.workflow.list({ query })) {
    const s = run.typedSearchAttributes.get(WINDOW_START)?.getTime();
    const e = run.typedSearchAttributes.get(WINDOW_END)?.getTime();
    if (s !== undefined && e !== undefined) intervals.push([s, e]);
  }
  return covers(intervals, start, end);
}

/**
 * One check of upstreams in other groups: returns when each has succeeded for the window, else throws a retryable
 * `UpstreamNotReady` naming the missing ones (in its details too). The DAG run's retry policy turns the retries into
 * polls, bounded by the node's upstream timeout.
 */
export async function checkUpstreams(client: Client, upstream: string[], window: Window): Promise<void> {
  const missing: string[] = [];
  for (const u of upstream) if (!(await upstreamCovered(client, u, window))) missing.push(u);
  if (missing.length === 0) return;
  throw ApplicationFailure.retryable(
    `no successful run of ${missing.join(', ')} covering ${describeWindow(window)} yet`,
    UPSTREAM_NOT_READY,
    missing,
  );
}
