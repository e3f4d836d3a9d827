import { defineQuery } from '@temporalio/workflow';
import type { RunPipelineResult } from '../core/run-input';

/** Live progress of a pipeline run: each step's state and row count so far. */
export type RunProgress = Pick<RunPipelineResult, 'pipeline' | 'window' | 'steps'> & {
  /** The step running now, if any. */
  current?: 'extract' | 'transform' | 'load';
};

/** Returns a pipeline run's progress while it runs. */
export const progressQuery = defineQuery<RunProgress>('progress');
