/**
 * pipectl's workflows with one compatible change, for `pipectl replay` to accept: `runPipeline` logs a line before its
 * steps (a log issues no command, so runs in flight continue unchanged).
 */
import { log } from '@temporalio/workflow';
import type { RunPipelineInput } from '../../core/run-input';
import { runPipeline as current } from '../../workflows/run-pipeline';

export { backfill, dagRun } from '../../workflows';

export async function runPipeline(input: RunPipelineInput): ReturnType<typeof current> {
  log.info('starting pipeline run', { pipeline: input.pipeline });
  return current(input);
}
