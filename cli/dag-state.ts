import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { expandDagState, type DagRunInput, type DagRunSnapshot, type DagRunState } from '../core/dag-input';
import type { dagRun } from '../workflows/dag-run';
import { dagStateQuery } from '../workflows/definitions';
import { UserError } from './errors';

/** The snapshot a DAG run's failure carries, if the error is that failure. */
export function failedSnapshot(err: unknown): DagRunSnapshot | undefined {
  if (!(err instanceof WorkflowFailedError) || !(err.cause instanceof ApplicationFailure)) return undefined;
  if (err.cause.type !== 'DagRunFailed') return undefined;
  return err.cause.details?.[0] as DagRunSnapshot | undefined;
}

/** Waits for a DAG run to close and returns its final state, whether it succeeded or failed. */
export async function awaitDagRun(handle: WorkflowHandle<typeof dagRun>): Promise<DagRunState> {
  try {
    return expandDagState(await handle.result());
  } catch (err) {
    const snapshot = failedSnapshot(err);
    if (!snapshot) throw err;
    return expandDagState(snapshot);
  }
}

/** A DAG run's handle, checking that the workflow exists and is a DAG run. */
export async function dagRunHandle(
  client: Client,
  workflowId: string,
): Promise<{ handle: WorkflowHandle<typeof dagRun>; running: boolean; status: string }> {
  const handle = client.workflow.getHandle<typeof dagRun>(workflowId);
  const description = await handle.describe().catch((err: unknown) => {
    if ((err as Error).name === 'WorkflowNotFoundError')
      throw new UserError(`no DAG run '${workflowId}': check the ID (pipectl run prints it)`);
    throw err;
  });
  if (description.type !== 'dagRun')
    throw new UserError(`'${workflowId}' is a ${description.type} workflow, not a DAG run`);
  return { handle, running: description.status.name === 'RUNNING', status: description.status.name };
}

/**
 * The current state of a DAG run: queried while it runs; from its result or failure once closed; else (cancelled or
 * terminated) queried from its history.
 */
export async function readDagState(handle: WorkflowHandle<typeof dagRun>, running: boolean): Promise<DagRunState> {
  if (running) return expandDagState(await handle.query(dagStateQuery));
  try {
    return expandDagState(await handle.result());
  } catch (err) {
    const snapshot = failedSnapshot(err) ?? (await handle.query(dagStateQuery));
    return expandDagState(snapshot);
  }
}

/** The input the latest run of a DAG run started with (after continue-as-new, the carried one). */
export async function dagRunInput(client: Client, handle: WorkflowHandle<typeof dagRun>): Promise<DagRunInput> {
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!payload) throw new Error(`DAG run ${handle.workflowId} has no recorded input`);
  // Through the codecs too: with encryption on, the recorded input is an encrypted payload.
  return decodeFromPayloadsAtIndex<DagRunInput>(client.options.loadedDataConverter, 0, [payload]);
}
