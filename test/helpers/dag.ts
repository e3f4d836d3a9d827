import type { WorkflowHandle } from '@temporalio/client';
import { expandDagState, type DagRunState } from '../../core/dag-input';
import type { dagRun } from '../../workflows/dag-run';
import { dagStateQuery } from '../../workflows/definitions';

/** Polls a DAG run's state query every 100 ms until `what` holds (30 s at most); returns that state. */
export async function untilDagState(
  handle: WorkflowHandle<typeof dagRun>,
  what: (s: DagRunState) => boolean,
): Promise<DagRunState> {
  for (let i = 0; i < 300; i++) {
    const s = await handle.query(dagStateQuery).then(expandDagState, () => undefined);
    if (s && what(s)) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('DAG run never reached the expected state');
}
