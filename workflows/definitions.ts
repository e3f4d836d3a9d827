import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DagRunSnapshot } from '../core/dag-input';
import type { RunPipelineResult } from '../core/run-input';

/** Live progress of a pipeline run: each step's state and row count so far. */
export type RunProgress = Pick<RunPipelineResult, 'pipeline' | 'window' | 'steps'> & {
  /** The step running now, if any. */
  current?: 'extract' | 'transform' | 'load';
};

/** Returns a pipeline run's progress while it runs. */
export const progressQuery = defineQuery<RunProgress>('progress');

/** A DAG run's state: every node's state, attempts, start and end (packed; `expandDagState` unpacks it). */
export const dagStateQuery = defineQuery<DagRunSnapshot>('dagState');

/** Stops a DAG run from starting new pipelines; running ones finish. */
export const pauseSignal = defineSignal('pause');

/** Lets a paused DAG run start pipelines again. */
export const resumeSignal = defineSignal('resume');

/** Runs a failed node again inside the same DAG run, and then its downstream. Returns the DAG run's state after it. */
export const retryNodeUpdate = defineUpdate<DagRunSnapshot, [string]>('retryNode');

/** Marks a node skipped: it does not run, and its downstream runs as if it had succeeded. */
export const skipNodeUpdate = defineUpdate<DagRunSnapshot, [string]>('skipNode');
