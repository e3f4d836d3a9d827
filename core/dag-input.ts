import type { NodeStatus } from './dag-plan';
import type { RunKind, StepRetry } from './run-input';
import type { Window } from './window';

/** Run options shared by many nodes; a DAG run's input stores each distinct set once. */
export interface DagProfile {
  retry: StepRetry;
  timeouts: { extractMs: number; transformMs: number; loadMs: number; heartbeatMs: number };
  runTimeoutMs: number;
  taskQueue: string;
}

/** One pipeline of a DAG run. */
export interface DagNodeInput {
  name: string;
  /** Upstreams inside this DAG run. */
  upstream: string[];
  /** Pipelines transitively downstream inside this DAG run. */
  descendants: number;
  /** Index into `DagRunInput.profiles`. */
  profile: number;
  hasTransform: boolean;
}

/** Input of the `dagRun` workflow. */
export interface DagRunInput {
  window: Window;
  kind: RunKind;
  /** Schedule group, or `manual`. */
  group: string;
  nodes: DagNodeInput[];
  profiles: DagProfile[];
  /** Most pipeline runs at once. */
  maxParallel: number;
  /** Child runs one workflow run starts before it continues as new, carrying its state (bounds the history). */
  continueAsNewAfter: number;
  /** States carried over from the previous run of this DAG run, or preset (nodes that already succeeded). */
  states?: Record<string, NodeStatus>;
  /** Paused state carried over. */
  paused?: boolean;
}

/** What a DAG run reports, while running (query) and at the end. */
export interface DagRunState {
  window: Window;
  group: string;
  paused: boolean;
  status: 'running' | 'succeeded' | 'failed' | 'cancelled';
  nodes: Record<string, NodeStatus>;
}

/** The workflow ID of a DAG run. */
export function dagWorkflowId(group: string, window: Window, suffix?: string): string {
  return `dag/${group}/${window.start}${suffix ? `/${suffix}` : ''}`;
}
