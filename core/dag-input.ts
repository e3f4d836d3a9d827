import { NODE_STATES, type DagNode, type NodeError, type NodeState, type PackedStates } from './dag-plan';
import type { NotifyTarget } from './pipeline-spec';
import { pipelineWorkflowId, type RunKind, type StepRetry } from './run-input';
import type { ResolvedSchedule } from './schedule';
import type { Window } from './window';

/** Run options shared by many nodes; a DAG run's input stores each distinct set once. */
export interface DagProfile {
  retry: StepRetry;
  timeouts: { extractMs: number; transformMs: number; loadMs: number; heartbeatMs: number };
  runTimeoutMs: number;
  taskQueue: string;
  hasTransform: boolean;
  /** The pipeline's steps run as local activities; absent when they run as activities. */
  localSteps?: true;
  /** With `localSteps`, the pipeline's steps run together as one local activity; absent when each is its own. */
  fusedSteps?: true;
  /** The pipeline's load runs alongside its transform; absent when it runs after it. */
  overlapLoad?: true;
  /** The pipeline runs inside the DAG run's workflow, not as a child workflow of its own; absent when it is a child. */
  inline?: true;
  /** The pipeline's own notification targets, handed to its runs; absent when it sets none. */
  notify?: NotifyTarget[];
}

/** Upstreams outside the DAG run (in another group) that a node waits for, and for how long at most. */
export interface ExternalWait {
  /** Node index. */
  node: number;
  upstream: string[];
  timeoutMs: number;
}

/** What happens downstream of a paused pipeline: skipped with it, or run as if it had succeeded. */
export type PausedDownstream = 'skip' | 'run';

/** A pipeline paused inside its group (`pipectl pause <pipeline>`): its group's DAG runs skip it. */
export interface PausedPipeline {
  /** Why, as the person who paused it wrote. */
  note?: string;
  downstream: PausedDownstream;
  /** When it was paused (ISO). */
  since: string;
}

/** Error types a skipped node carries to say why it was skipped. */
export const PIPELINE_PAUSED = 'PipelinePaused';
export const UPSTREAM_PAUSED = 'UpstreamPaused';

/** Input of the `dagRun` workflow. Nodes are numbered; upstreams are node indices, so large DAGs stay small. */
export interface DagRunInput {
  window: Window;
  kind: RunKind;
  /** Schedule group, or `manual`. */
  group: string;
  nodes: DagNode[];
  profiles: DagProfile[];
  /** Nodes that wait for upstreams in other groups before they start. */
  waits?: ExternalWait[];
  /** Longest interval between two checks of an upstream in another group. */
  upstreamPollMs?: number;
  /** Most pipeline runs at once. */
  maxParallel: number;
  /** Child runs one workflow run starts before it continues as new, carrying its state (bounds the history). */
  continueAsNewAfter: number;
  /** States carried over from the previous run of this DAG run, or preset (nodes that already succeeded). */
  states?: PackedStates;
  /** Paused state carried over. */
  paused?: boolean;
  /** Pipelines paused inside the group, by name: skipped at the start of the run (with their downstream if chosen). */
  pausedPipelines?: Record<string, PausedPipeline>;
  /** The group's notification targets (`schedule.notify`), sent once when the DAG run ends; absent when none. */
  notify?: NotifyTarget[];
}

/**
 * Input of a DAG run a Temporal Schedule starts: everything but the window, which the run works out from its scheduled
 * time (the window ends at the firing and starts at the previous one).
 */
export type ScheduledDagRunInput = Omit<DagRunInput, 'window'> & { window?: undefined; firing: ResolvedSchedule };

/** Overall state of a DAG run. */
export type DagRunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** What the `dagRun` workflow reports (query, result, failure details): node states packed. */
export interface DagRunSnapshot {
  window: Window;
  group: string;
  kind: RunKind;
  paused: boolean;
  status: DagRunStatus;
  names: string[];
  states: PackedStates;
  /** Nodes that run inside the DAG run (`inline`), by index; absent when none does. */
  inline?: number[];
}

/** A node's status as people and tools read it. */
export interface NodeStatus {
  state: NodeState;
  /** Child runs started for this node in this DAG run (a retry update adds one). */
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  /** The child workflow of the latest attempt; absent for a pipeline that runs inside the DAG run. */
  workflowId?: string;
  /** The pipeline runs inside the DAG run (`inline`): its steps are in the DAG run's history. */
  inline?: true;
  rowsLoaded?: number;
  /** Type and message of the latest failure. */
  error?: NodeError;
}

/** A DAG run's state with every node by name. */
export interface DagRunState {
  window: Window;
  group: string;
  kind: RunKind;
  paused: boolean;
  status: DagRunStatus;
  nodes: Record<string, NodeStatus>;
}

/** Unpacks a snapshot into a state with every node by name, times as ISO strings. */
export function expandDagState(snapshot: DagRunSnapshot): DagRunState {
  const { epoch, nodes, errors } = snapshot.states;
  const iso = (t: number) => (t >= 0 ? new Date(epoch + t).toISOString() : undefined);
  const out: Record<string, NodeStatus> = {};
  const inline = new Set(snapshot.inline);
  snapshot.names.forEach((name, i) => {
    const [code, attempts, started, finished, rows] = nodes[i] ?? [0, 0, -1, -1, -1];
    const status: NodeStatus = { state: NODE_STATES[code] ?? 'pending', attempts };
    const startedAt = iso(started);
    const finishedAt = iso(finished);
    if (startedAt) status.startedAt = startedAt;
    if (finishedAt) status.finishedAt = finishedAt;
    if (inline.has(i)) status.inline = true;
    else if (attempts > 0) status.workflowId = pipelineWorkflowId(name, snapshot.window);
    if (rows >= 0) status.rowsLoaded = rows;
    const error = errors[i];
    if (error) status.error = error;
    out[name] = status;
  });
  return {
    window: snapshot.window,
    group: snapshot.group,
    kind: snapshot.kind,
    paused: snapshot.paused,
    status: snapshot.status,
    nodes: out,
  };
}

/**
 * Preset states for restarting a DAG run from failure: nodes that succeeded or were skipped keep their state; every
 * other node starts over as pending.
 */
export function restartStates(snapshot: DagRunSnapshot): PackedStates {
  const keep = new Set([NODE_STATES.indexOf('succeeded'), NODE_STATES.indexOf('skipped')]);
  return {
    epoch: snapshot.states.epoch,
    nodes: snapshot.states.nodes.map((n) => (keep.has(n[0]) ? n : [0, 0, -1, -1, -1])),
    errors: {},
  };
}

/** The workflow ID of a DAG run. */
export function dagWorkflowId(group: string, window: Window, suffix?: string): string {
  return `dag/${group}/${window.start}${suffix ? `/${suffix}` : ''}`;
}

export type { DagNode, NodeError, NodeState, PackedStates };
