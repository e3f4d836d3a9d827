import type { HistoryAndWorkflowId } from '@temporalio/client';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { BUNDLE_PATH } from './build-bundle';

/** The outcome of replaying one recorded workflow run against the current workflow code. */
export interface ReplayOutcome {
  workflowId: string;
  runId: string;
  /** `nondeterminism`: the code would issue different commands than the history recorded. */
  error?: { kind: 'nondeterminism' | 'other'; message: string };
}

/** A recorded run as `npm run replay:record` writes it: its workflow ID and its history as Temporal's JSON. */
export interface RecordedHistory {
  workflowId: string;
  history: unknown;
}

/**
 * Keeps a process that only replays (`pipectl replay`) quiet: a run that does not replay is an outcome the caller
 * reports, not a log line. Does nothing when the process already made a runtime (a worker in the same process).
 */
export function quietReplayLogs(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // A runtime exists already: its logging stays.
  }
}

/** A recorded run, ready to replay. */
export function fromRecording(recorded: RecordedHistory): HistoryAndWorkflowId {
  return { workflowId: recorded.workflowId, history: historyFromJSON(recorded.history) };
}

/**
 * Replays histories against workflow code — by default the prebuilt bundle workers run — in one replay worker, and
 * reports each: a run the current code could not continue is the change that would break it in production.
 */
export async function replayHistories(
  histories: Iterable<HistoryAndWorkflowId> | AsyncIterable<HistoryAndWorkflowId>,
  workflows: Pick<ReplayWorkerOptions, 'workflowBundle' | 'workflowsPath' | 'dataConverter'> = {
    workflowBundle: { codePath: BUNDLE_PATH },
  },
): Promise<ReplayOutcome[]> {
  const out: ReplayOutcome[] = [];
  for await (const result of Worker.runReplayHistories({ ...workflows, replayName: 'pipectl-replay' }, histories)) {
    const outcome: ReplayOutcome = { workflowId: result.workflowId, runId: result.runId };
    if (result.error)
      outcome.error = {
        kind: result.error instanceof DeterminismViolationError ? 'nondeterminism' : 'other',
        message: result.error.message,
      };
    out.push(outcome);
  }
  return out;
}
