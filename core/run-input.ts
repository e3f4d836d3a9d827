import type { NotifyTarget, PipelineSpec, Row } from './pipeline-spec';
import type { Window } from './window';

/** How a run was started; shown in the Web UI as the `RunKind` search attribute. */
export type RunKind = 'scheduled' | 'manual' | 'backfill' | 'retry';

/** A step's output as it travels to the next step: the rows themselves, or a reference to staged rows. */
export type StepData =
  | { kind: 'inline'; rows: Row[]; rowCount: number }
  | { kind: 'staged'; ref: string; chunks: number; rowCount: number; bytes: number };

/**
 * What a load is given when it runs alongside the transform (the pipeline's `overlapLoad`): the transform's output,
 * read from staging as the transform writes it. `rowCount` is the rows the transform was given.
 */
export interface FollowedOutput {
  kind: 'followed';
  step: 'transform';
  rowCount: number;
}

/** Retry policy in milliseconds, as the workflow hands it to Temporal. */
export interface StepRetry {
  maximumAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs?: number;
  nonRetryableErrorTypes: string[];
}

/**
 * Everything `runPipeline` needs, resolved from the definition when the run starts. The workflow reads only this,
 * so a later edit of the definition cannot change a run already in flight.
 */
export interface RunPipelineInput {
  pipeline: string;
  window: Window;
  kind: RunKind;
  /** Schedule group, or `manual`. */
  group: string;
  retry: StepRetry;
  timeouts: { extractMs: number; transformMs: number; loadMs: number; heartbeatMs: number };
  hasTransform: boolean;
  /** The steps run as local activities (the pipeline's `localSteps`); absent when they run as activities. */
  localSteps?: true;
  /**
   * With `localSteps`, the steps run together as one local activity (the pipeline's `localSteps: 'fused'`); absent
   * when each step is an activity of its own.
   */
  fusedSteps?: true;
  /**
   * The load runs alongside the transform and writes each chunk as the transform stages it (the pipeline's
   * `overlapLoad`); absent when the load runs after the transform.
   */
  overlapLoad?: true;
  /** Where to send a notification when the run ends; absent when the pipeline sets none. */
  notify?: NotifyTarget[];
}

/** A pipeline run's steps. */
export type StepName = 'extract' | 'transform' | 'load';

/** Error type of a local step stopped because the step running alongside it failed for good (`overlapLoad`). */
export const STEP_STOPPED = 'StepStopped';

/** Per-step outcome in a run's result and progress. */
export interface StepProgress {
  state: 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';
  rows?: number;
  startedAt?: string;
  finishedAt?: string;
  staged?: boolean;
}

/** What a finished run returns. */
export interface RunPipelineResult {
  pipeline: string;
  window: Window;
  rowsExtracted: number;
  rowsLoaded: number;
  /** True when this run's load had already committed in an earlier attempt and was not repeated. */
  loadReplayed: boolean;
  steps: Record<StepName, StepProgress>;
}

/** The workflow ID of a pipeline run: one per pipeline and window start. */
export function pipelineWorkflowId(pipeline: string, window: Window): string {
  return `pipeline/${pipeline}/${window.start}`;
}

/** Resolves a definition and a window into the workflow's input. */
export function toRunInput(spec: PipelineSpec, window: Window, kind: RunKind, group = 'manual'): RunPipelineInput {
  const t = spec.timeouts;
  return {
    pipeline: spec.name,
    window,
    kind,
    group,
    retry: {
      maximumAttempts: spec.retry.maximumAttempts,
      initialIntervalMs: spec.retry.initialInterval,
      backoffCoefficient: spec.retry.backoffCoefficient,
      ...(spec.retry.maximumInterval !== undefined ? { maximumIntervalMs: spec.retry.maximumInterval } : {}),
      nonRetryableErrorTypes: spec.retry.nonRetryableErrorTypes,
    },
    timeouts: {
      extractMs: t.extract ?? t.step,
      transformMs: t.transform ?? t.step,
      loadMs: t.load ?? t.step,
      heartbeatMs: t.heartbeat,
    },
    hasTransform: spec.transform !== undefined || spec.transformRow !== undefined,
    // Absent rather than false, so the input of a pipeline with activity steps is what it was before local steps.
    ...(spec.localSteps ? { localSteps: true as const } : {}),
    ...(spec.localSteps === 'fused' ? { fusedSteps: true as const } : {}),
    ...(spec.overlapLoad ? { overlapLoad: true as const } : {}),
    // Absent rather than empty, so the input of a pipeline without notifications is what it was before they existed.
    ...(spec.notify?.length ? { notify: spec.notify } : {}),
  };
}
