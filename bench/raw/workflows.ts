/**
 * The raw Temporal baseline of the DAG benchmarks: the least Temporal TypeScript code that does what a pipectl DAG run
 * does for no-op pipelines, so `npm run bench` can report pipectl's overhead over Temporal itself.
 *
 * It mirrors pipectl's shapes, not its features. A parent workflow runs each node once every upstream completed, at
 * most `maxParallel` at a time, and continues as new after `continueAsNewAfter` node runs (pipectl's `dagRun` does,
 * 500 by default, to bound its history). A node runs two activities, extract then load, with the retry policy and
 * timeouts of a default pipectl pipeline, in one of two shapes:
 * - child workflows (the default): the parent starts each node as a child {@link rawNode}, which runs the two steps
 *   (as local activities with `localSteps`, as pipectl's `localSteps` does);
 * - inline (`inline: true`): the parent runs each node's two steps itself, as pipectl's `dagRun` runs a pipeline with
 *   `inline: true`; no child workflow, and the steps are local activities of the parent with `localSteps` (pipectl's
 *   `inline` with `localSteps`, what the benchmark's inline shape runs); with `fused` too, both steps are one local
 *   activity (pipectl's `inline` with `localSteps: 'fused'`, the benchmark's fused shape).
 *
 * There is no query, signal, pause, retry, skip, search attribute, summary, notification or progress detail, and
 * ready nodes start first come, first served (pipectl starts those with the most descendants first).
 */
import { condition, continueAsNew, proxyActivities, proxyLocalActivities, startChild } from '@temporalio/workflow';
import type { RawActivities } from './activities';

/** Input of {@link rawDag}. */
export interface RawDagInput {
  /** Node names; a child's workflow ID is `<idPrefix>/<name>`. */
  names: string[];
  /** Upstream node indices, per node. */
  upstream: number[][];
  /** Most nodes running at once. */
  maxParallel: number;
  /** Node runs one workflow run starts before it continues as new. */
  continueAsNewAfter: number;
  /** Prefix of the children's workflow IDs. */
  idPrefix: string;
  /** Run each node's extract and load as local activities (as pipectl's `localSteps` does). */
  localSteps?: boolean;
  /**
   * Run each node's steps in this workflow rather than in a child workflow (as pipectl's `inline` does); with
   * `localSteps`, as local activities of this workflow.
   */
  inline?: boolean;
  /** With `localSteps`: each node's extract and load together as one local activity (pipectl's `localSteps: 'fused'`). */
  fused?: boolean;
  /** Carried through continue-as-new: indices of the nodes that completed. */
  done?: number[];
  /** Carried through continue-as-new: indices of the nodes that failed. */
  failed?: number[];
}

/** What {@link rawDag} returns: how many nodes completed, and the nodes that failed (none ran downstream of them). */
export interface RawDagResult {
  succeeded: number;
  failed: string[];
}

/** Input of {@link rawNode}. */
export interface RawNodeInput {
  node: string;
  /** Extract and load as local activities. */
  local?: boolean;
  /** With `local`: extract and load together as one local activity. */
  fused?: boolean;
}

// A default pipectl pipeline's step options: 30 min per attempt, 60 s heartbeat timeout, 3 attempts from 5 s doubling.
const retry = { maximumAttempts: 3, initialInterval: 5_000, backoffCoefficient: 2 };
const steps = proxyActivities<RawActivities>({ startToCloseTimeout: 30 * 60_000, heartbeatTimeout: 60_000, retry });
const localSteps = proxyLocalActivities<RawActivities>({ startToCloseTimeout: 30 * 60_000, retry });

/** A no-op pipeline run: extract, then load what it extracted (both in one local activity, fused); the rows loaded. */
export async function rawNode(input: RawNodeInput): Promise<number> {
  if (input.local && input.fused) return localSteps.extractAndLoad({ node: input.node });
  const { extract, load } = input.local ? localSteps : steps;
  const rows = await extract({ node: input.node });
  return load({ node: input.node, rows });
}

/**
 * A DAG run: each node once its upstreams completed, at most `maxParallel` at once, as a child {@link rawNode} or, with
 * `inline`, by running {@link rawNode}'s body in this workflow.
 */
export async function rawDag(input: RawDagInput): Promise<RawDagResult> {
  const n = input.names.length;
  // 1 completed, 2 failed.
  const done = new Uint8Array(n);
  for (const i of input.done ?? []) done[i] = 1;
  for (const i of input.failed ?? []) done[i] = 2;
  const children: number[][] = input.names.map(() => []);
  const unmet = new Array<number>(n).fill(0);
  input.upstream.forEach((ups, i) => {
    for (const u of ups) {
      children[u]!.push(i);
      if (done[u] !== 1) unmet[i]!++;
    }
  });
  const ready: number[] = [];
  for (let i = 0; i < n; i++) if (!done[i] && unmet[i] === 0) ready.push(i);
  let next = 0;
  let running = 0;
  let started = 0;
  let dirty = false;

  async function runNode(i: number): Promise<void> {
    const name = input.names[i]!;
    const nodeInput: RawNodeInput = {
      node: name,
      ...(input.localSteps ? { local: true } : {}),
      ...(input.fused ? { fused: true } : {}),
    };
    try {
      if (input.inline) await rawNode(nodeInput);
      else await (await startChild(rawNode, { workflowId: `${input.idPrefix}/${name}`, args: [nodeInput] })).result();
      done[i] = 1;
      for (const c of children[i]!) if (--unmet[c]! === 0) ready.push(c);
    } catch {
      done[i] = 2;
    } finally {
      running--;
      dirty = true;
    }
  }

  for (;;) {
    while (running < input.maxParallel && started < input.continueAsNewAfter && next < ready.length) {
      running++;
      started++;
      void runNode(ready[next++]!);
    }
    if (running === 0) {
      if (next < ready.length) {
        // Every node run has finished: hand the outcomes to a fresh run so the history stays small.
        const carried = (code: number) => input.names.flatMap((_, i) => (done[i] === code ? [i] : []));
        await continueAsNew<typeof rawDag>({ ...input, done: carried(1), failed: carried(2) });
      }
      break;
    }
    dirty = false;
    await condition(() => dirty);
  }
  return {
    succeeded: done.filter((d) => d === 1).length,
    failed: input.names.filter((_, i) => done[i] === 2),
  };
}
