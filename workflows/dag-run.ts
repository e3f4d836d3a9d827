import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  setHandler,
  startChild,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { DagRunInput, DagRunState } from '../core/dag-input';
import {
  countStates,
  derive,
  orderPlan,
  readyNodes,
  type NodeState,
  type NodeStatus,
  type PlanNode,
} from '../core/dag-plan';
import { pipelineWorkflowId, type RunPipelineInput } from '../core/run-input';
import { describeWindow } from '../core/window';
import { dagStateQuery, pauseSignal, resumeSignal, retryNodeUpdate, skipNodeUpdate } from './definitions';
import { runPipeline } from './run-pipeline';
import { PIPELINE_GROUP, PIPELINE_NAME, RUN_KIND, WINDOW_START } from '../temporal-config/search-attributes';

/** The innermost failure's type and message, for a node's status. */
function failureOf(err: unknown): { type: string; message: string } {
  let cur: unknown = err;
  let step = '';
  let last: { type: string; message: string } = { type: 'Error', message: String(err) };
  while (cur instanceof Error) {
    if (cur instanceof ActivityFailure && cur.activityType) step = `${cur.activityType}: `;
    const type = cur instanceof ApplicationFailure ? (cur.type ?? 'Error') : cur.name;
    last = { type, message: `${step}${cur.message}` };
    cur = cur.cause;
  }
  return last;
}

/**
 * A DAG run: runs each pipeline as a child `runPipeline` once all its upstreams succeeded (or were skipped), at most
 * `maxParallel` at a time, pipelines with the most descendants first. A failure blocks only its downstream
 * (`upstream_failed`); independent branches go on. It can be paused and resumed, told to retry or skip a node, and
 * queried while it runs. Large DAGs continue as new after `continueAsNewAfter` child runs, carrying their state.
 */
export async function dagRun(input: DagRunInput): Promise<DagRunState> {
  const nodes = new Map(input.nodes.map((n) => [n.name, n]));
  const order: PlanNode[] = orderPlan(input.nodes);
  const states = new Map<string, NodeStatus>(
    order.map((n) => [n.name, input.states?.[n.name] ?? { state: 'pending', attempts: 0 }]),
  );
  let paused = input.paused ?? false;
  let dirty = true;
  let started = 0;
  const running = new Map<string, Promise<void>>();
  const now = () => new Date().toISOString();

  const snapshot = (status: DagRunState['status']): DagRunState => ({
    window: input.window,
    group: input.group,
    paused,
    status,
    nodes: Object.fromEntries(states),
  });

  setHandler(dagStateQuery, () => snapshot('running'));
  setHandler(pauseSignal, () => {
    paused = true;
    dirty = true;
  });
  setHandler(resumeSignal, () => {
    paused = false;
    dirty = true;
  });
  /** An update on one node: a validator that rejects it in the wrong state, and a handler that re-plans. */
  const nodeUpdate = (allowed: readonly NodeState[], rule: string, apply: (s: NodeStatus) => void) => ({
    validator: (name: string) => {
      const s = states.get(name);
      if (!s) throw new Error(`no node '${name}' in this DAG run`);
      if (!allowed.includes(s.state)) throw new Error(`node '${name}' is ${s.state}: ${rule}`);
    },
    handler: (name: string): NodeStatus => {
      const s = states.get(name)!;
      apply(s);
      derive(order, states);
      dirty = true;
      return { ...s };
    },
  });
  const retry = nodeUpdate(['failed', 'cancelled'], 'only a failed or cancelled node can be retried', (s) => {
    s.state = 'pending';
    delete s.error;
    delete s.finishedAt;
  });
  setHandler(retryNodeUpdate, retry.handler, { validator: retry.validator });
  const skip = nodeUpdate(
    ['pending', 'failed', 'upstream_failed', 'cancelled'],
    'only a node that has not succeeded and is not running can be skipped',
    (s) => {
      s.state = 'skipped';
      s.finishedAt = now();
    },
  );
  setHandler(skipNodeUpdate, skip.handler, { validator: skip.validator });

  async function runNode(name: string): Promise<void> {
    const node = nodes.get(name)!;
    const profile = input.profiles[node.profile]!;
    const s = states.get(name)!;
    s.state = 'running';
    s.attempts += 1;
    s.startedAt = now();
    delete s.finishedAt;
    delete s.error;
    const workflowId = pipelineWorkflowId(name, input.window);
    s.workflowId = workflowId;
    const childInput: RunPipelineInput = {
      pipeline: name,
      window: input.window,
      kind: input.kind,
      group: input.group,
      retry: profile.retry,
      timeouts: profile.timeouts,
      hasTransform: node.hasTransform,
    };
    try {
      const child = await startChild(runPipeline, {
        workflowId,
        taskQueue: profile.taskQueue,
        args: [childInput],
        workflowExecutionTimeout: profile.runTimeoutMs,
        staticSummary: `${name} · ${describeWindow(input.window)}`,
        typedSearchAttributes: [
          { key: PIPELINE_NAME, value: name },
          { key: PIPELINE_GROUP, value: input.group },
          { key: WINDOW_START, value: new Date(input.window.start) },
          { key: RUN_KIND, value: input.kind },
        ],
      });
      const result = await child.result();
      s.state = 'succeeded';
      s.rowsLoaded = result.rowsLoaded;
    } catch (err) {
      if (isCancellation(err)) s.state = 'cancelled';
      else {
        s.state = 'failed';
        s.error = failureOf(err);
      }
    } finally {
      s.finishedAt = now();
      running.delete(name);
      dirty = true;
    }
  }

  try {
    for (;;) {
      derive(order, states);
      if (!paused) {
        for (const node of readyNodes(order, states)) {
          if (running.size >= input.maxParallel || started >= input.continueAsNewAfter) break;
          started++;
          running.set(node.name, runNode(node.name));
        }
      }
      const pending = [...states.values()].some((s) => s.state === 'pending');
      if (running.size === 0 && !pending) break;
      if (running.size === 0 && pending && !paused && started >= input.continueAsNewAfter) {
        // Every child has finished: hand the state to a fresh run so the history stays small.
        await condition(allHandlersFinished);
        await continueAsNew<typeof dagRun>({ ...input, states: Object.fromEntries(states), paused });
      }
      dirty = false;
      await condition(() => dirty);
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: the children were asked to cancel too; wait for them, and mark what never started.
    await CancellationScope.nonCancellable(() => Promise.all(running.values()));
    for (const s of states.values()) if (s.state === 'pending' || s.state === 'upstream_failed') s.state = 'cancelled';
    throw err;
  }

  const counts = countStates(states);
  const failed = counts.failed + counts.upstream_failed + counts.cancelled;
  const result = snapshot(failed > 0 ? 'failed' : 'succeeded');
  if (failed > 0) {
    const names = [...states].filter(([, s]) => s.state === 'failed').map(([n]) => n);
    throw ApplicationFailure.create({
      type: 'DagRunFailed',
      nonRetryable: true,
      message: `${counts.failed} of ${states.size} pipelines failed (${names.join(', ')}); ${counts.upstream_failed} not run because an upstream failed`,
      details: [result],
    });
  }
  return result;
}
