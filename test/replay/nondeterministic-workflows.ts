/**
 * pipectl's workflows with one deliberately breaking change, for the replay suite to prove it catches such changes:
 * `runPipeline` calls one more activity before its steps, as a careless edit would.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { RunPipelineInput } from '../../core/run-input';
import { runPipeline as current } from '../../workflows/run-pipeline';

export { backfill, dagRun } from '../../workflows';

const { checkDagRunSucceeded } = proxyActivities<Activities>({ startToCloseTimeout: 10_000 });

export async function runPipeline(input: RunPipelineInput): ReturnType<typeof current> {
  await checkDagRunSucceeded({ workflowId: `extra/${input.pipeline}` });
  return current(input);
}
