import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { style } from './output';
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  CancelledFailure,
  TerminatedFailure,
} from '@temporalio/common';
import { pipelineWorkflowId, toRunInput, type RunKind, type RunPipelineResult } from '../core/run-input';
import type { PipelineSpec } from '../core/pipeline-spec';
import { describeWindow, type Window } from '../core/window';
import { connectClient as connectTemporalClient } from '../temporal-config/connection';
import { runSearchAttributes } from '../temporal-config/search-attributes';
import type { Settings } from '../temporal-config/settings';
import type { runPipeline } from '../workflows/run-pipeline';
import { progressQuery, type RunProgress } from '../workflows/definitions';

/**
 * Connects a client with the settings' address, TLS, API key and data converter (see `temporal-config/connection`),
 * turning an unreachable server or refused credentials into a message that says what to do.
 */
export async function connectClient(s: Settings): Promise<Client> {
  return connectTemporalClient(s);
}

/**
 * Starts a pipeline run for a window. If a run of the same window is already running it is returned instead of a
 * second one; a finished window can be run again (its load replaces or upserts the same rows).
 */
export async function startPipelineRun(
  client: Client,
  spec: PipelineSpec,
  window: Window,
  kind: RunKind,
  defaultTaskQueue: string,
  group = 'manual',
): Promise<WorkflowHandle<typeof runPipeline>> {
  return client.workflow.start<typeof runPipeline>('runPipeline', {
    workflowId: pipelineWorkflowId(spec.name, window),
    taskQueue: spec.taskQueue ?? defaultTaskQueue,
    args: [toRunInput(spec, window, kind, group)],
    workflowExecutionTimeout: spec.timeouts.run,
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    typedSearchAttributes: runSearchAttributes(spec.name, group, window, kind),
    staticSummary: `${spec.name} · ${describeWindow(window)}`,
    staticDetails: [
      spec.description,
      spec.owner ? `owner: ${spec.owner}` : '',
      `${kind} run of ${spec.name} for [${window.start}, ${window.end})`,
    ]
      .filter(Boolean)
      .join('\n\n'),
  });
}

/** The innermost failure of a failed run, as `type: message`. */
export function describeFailure(err: unknown): { type: string; message: string } {
  let cur: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  let step: string | undefined;
  while (cur) {
    if (cur instanceof ActivityFailure) {
      step = cur.activityType;
      cur = cur.cause;
      continue;
    }
    if (cur instanceof ApplicationFailure) {
      const where = step ? `${step}: ` : '';
      if (cur.cause instanceof ApplicationFailure) {
        cur = cur.cause;
        continue;
      }
      return { type: cur.type ?? 'Error', message: `${where}${cur.message}` };
    }
    if (cur instanceof TimeoutFailure)
      return { type: 'Timeout', message: `${step ? `${step}: ` : ''}${cur.message} (${cur.timeoutType})` };
    if (cur instanceof CancelledFailure) return { type: 'Cancelled', message: cur.message };
    if (cur instanceof TerminatedFailure) return { type: 'Terminated', message: cur.message };
    if (cur instanceof Error && cur.cause) {
      cur = cur.cause;
      continue;
    }
    return {
      type: cur instanceof Error ? cur.name : 'Error',
      message: cur instanceof Error ? cur.message : String(cur),
    };
  }
  return { type: 'Error', message: String(err) };
}

/** Follows a run until it ends, calling `onProgress` whenever a step changes. */
/** How long a followed run may go without a worker polling its task queue before the CLI says so. */
export const NO_WORKER_WARNING_MS = 3_000;

/**
 * Tells the user, once, when no worker has polled the task queue of a run they follow `afterMs` after it started: the
 * run waits for one rather than failing (runs are durable), which looks like a hang. Returns what stops the check.
 */
export function warnWithoutWorker(
  handle: WorkflowHandle,
  warn: (message: string) => void,
  afterMs = NO_WORKER_WARNING_MS,
): () => void {
  let stopped = false;
  const check = async () => {
    const { taskQueue, status } = await handle.describe();
    if (stopped || status.name !== 'RUNNING') return;
    const { client } = handle;
    const res = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    if (stopped || (res.pollers ?? []).length > 0) return;
    warn(
      `no worker is polling task queue ${taskQueue}: the run waits until one does ` +
        `(start one with pipectl worker, or pipectl dev; Ctrl-C stops following, the run stays queued)`,
    );
  };
  const timer = setTimeout(() => void check().catch(() => undefined), afterMs);
  timer.unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export async function followRun(
  handle: WorkflowHandle<typeof runPipeline>,
  onProgress: (p: RunProgress) => void,
): Promise<RunPipelineResult> {
  let last = '';
  let done = false;
  const stopWarning = warnWithoutWorker(handle, warnOnStderr);
  const poll = (async () => {
    while (!done) {
      try {
        const p = await handle.query(progressQuery);
        const key = JSON.stringify([p.current, Object.values(p.steps).map((s) => [s.state, s.rows])]);
        if (key !== last) {
          last = key;
          onProgress(p);
        }
      } catch {
        // The run may not have had its first workflow task yet, or has just closed.
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  try {
    return await handle.result();
  } finally {
    done = true;
    stopWarning();
    await poll;
  }
}

/** A warning of the CLI's, on stderr (stdout may be JSON). */
export function warnOnStderr(message: string): void {
  process.stderr.write(`${style.yellow('warning:')} ${message}\n`);
}
