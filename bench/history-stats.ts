import type { Client } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';

const { EventType } = temporal.api.enums.v1;
const { HistoryEvent, History } = temporal.api.history.v1;
const { Payload } = temporal.api.common.v1;

/** Spread of a set of durations, in milliseconds. */
export interface Spread {
  count: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

/** What one run of a continue-as-new chain recorded. */
export interface RunHistoryStats {
  runId: string;
  status: string;
  /** Events as the server counts them (the 51,200-event limit applies to this). */
  events: number;
  /** History size as the server counts it (the 50 MB limit applies to this). */
  historyBytes: number;
  /** The same history encoded as protobuf here, as a cross-check. */
  encodedBytes: number;
  /** Encoded size of the run's input payloads (the 2 MB payload limit applies to each). */
  inputBytes: number;
  largestEvent: { type: string; bytes: number; eventId: number };
  /** Child workflows this run started. */
  childrenStarted: number;
  /** First to last event. */
  spanMs: number;
  /** Last child start → end of the run: the run only waits for its last children here (continue-as-new drains). */
  drainMs: number;
  /** Workflow task processing: started → completed. */
  workflowTasks: Spread;
  /** Workflow task queueing: scheduled → started. */
  workflowTaskWaits: Spread;
  /** Child start: initiated → the server reports it started. */
  childStarts: Spread;
}

/** Mean, median, 95th percentile and maximum of durations (all 0 when there are none). */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { count: 0, meanMs: 0, p50Ms: 0, p95Ms: 0, maxMs: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  return { count: sorted.length, meanMs: Math.round(mean), p50Ms: at(0.5), p95Ms: at(0.95), maxMs: at(1) };
}

function typeName(type: number | null | undefined): string {
  return (EventType[type ?? 0] ?? `EVENT_TYPE_${type}`).replace(/^EVENT_TYPE_/, '');
}

/**
 * Walks a workflow's continue-as-new chain from its first run and measures each run's history: size and event count
 * as the server reports them, the largest event, the input payload, and how long its workflow tasks took.
 */
export async function chainStats(
  client: Client,
  workflowId: string,
  firstRunId: string,
  /** Filled with when the parent's history recorded each child's start and end, by child workflow ID. */
  childTimes?: Map<string, ParentSideTimes>,
): Promise<RunHistoryStats[]> {
  const runs: RunHistoryStats[] = [];
  for (let runId: string | undefined = firstRunId; runId;) {
    const handle = client.workflow.getHandle(workflowId, runId);
    const [description, history] = await Promise.all([handle.describe(), handle.fetchHistory()]);
    const events = history.events ?? [];
    let largest = { type: '', bytes: 0, eventId: 0 };
    const scheduled = new Map<number, number>();
    const startedAt = new Map<number, number>();
    const processing: number[] = [];
    const waits: number[] = [];
    const initiated = new Map<number, number>();
    const childStarts: number[] = [];
    let childrenStarted = 0;
    let lastInitiated = 0;
    let next: string | undefined;
    for (const event of events) {
      const bytes = HistoryEvent.encode(event).finish().length;
      const eventId = Number(event.eventId);
      if (bytes > largest.bytes) largest = { type: typeName(event.eventType), bytes, eventId };
      const at = tsToMs(event.eventTime);
      switch (event.eventType) {
        case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
          scheduled.set(eventId, at);
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED: {
          const s = Number(event.workflowTaskStartedEventAttributes?.scheduledEventId);
          startedAt.set(eventId, at);
          if (scheduled.has(s)) waits.push(at - scheduled.get(s)!);
          break;
        }
        case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: {
          const s = Number(event.workflowTaskCompletedEventAttributes?.startedEventId);
          if (startedAt.has(s)) processing.push(at - startedAt.get(s)!);
          break;
        }
        case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: {
          childrenStarted++;
          lastInitiated = at;
          initiated.set(eventId, at);
          const id = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
          if (id) childTimes?.set(id, { initiatedAt: at });
          break;
        }
        case EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: {
          const i = Number(event.childWorkflowExecutionStartedEventAttributes?.initiatedEventId);
          if (initiated.has(i)) childStarts.push(at - initiated.get(i)!);
          const times = childTimes?.get(
            event.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId ?? '',
          );
          if (times) times.startedAt = at;
          break;
        }
        case EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: {
          const times = childTimes?.get(
            event.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId ?? '',
          );
          if (times) times.completedAt = at;
          break;
        }
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
          next = event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
          break;
      }
    }
    const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    const first = events[0] ? tsToMs(events[0].eventTime) : 0;
    const last = events.length > 0 ? tsToMs(events[events.length - 1]!.eventTime) : 0;
    runs.push({
      runId,
      status: description.status.name,
      events: description.historyLength,
      historyBytes: description.historySize ?? 0,
      encodedBytes: History.encode(history).finish().length,
      inputBytes: input.reduce((sum, p) => sum + Payload.encode(p).finish().length, 0),
      largestEvent: largest,
      childrenStarted,
      spanMs: last - first,
      drainMs: lastInitiated > 0 ? last - lastInitiated : 0,
      workflowTasks: spread(processing),
      workflowTaskWaits: spread(waits),
      childStarts: spread(childStarts),
    });
    runId = next;
  }
  return runs;
}

/** When a parent's history recorded a child's start request, its start and its completion (ms since 1970). */
export interface ParentSideTimes {
  initiatedAt: number;
  startedAt?: number;
  completedAt?: number;
}

/** Where a child pipeline run's time went, over a sample of children. */
export interface ChildBreakdown {
  sampled: number;
  /** First to last event of the child. */
  span: Spread;
  workflowTaskWaits: Spread;
  workflowTasks: Spread;
  /** Activity scheduled → started (queueing and poller latency). */
  activityWaits: Spread;
  /** Activity started → completed (the no-op step and the round trip). */
  activities: Spread;
  /** The parent asks for the child → the child's first event (the server created it). */
  initiatedToCreated: Spread;
  /** The child's first event → the parent's history records that it started. */
  createdToStartedInParent: Spread;
  /** The child's completion → the parent's history records it. */
  completionToParent: Spread;
}

/** Measures the histories of some child runs: how long each part of a (no-op) pipeline run took. */
export async function childBreakdown(
  client: Client,
  workflowIds: readonly string[],
  childTimes: ReadonlyMap<string, ParentSideTimes>,
): Promise<ChildBreakdown> {
  const spans: number[] = [];
  const wftWaits: number[] = [];
  const wfts: number[] = [];
  const actWaits: number[] = [];
  const acts: number[] = [];
  const toParent: number[] = [];
  const toCreated: number[] = [];
  const createdToStarted: number[] = [];
  for (const workflowId of workflowIds) {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    const times = new Map<number, number>();
    for (const event of events) {
      const at = tsToMs(event.eventTime);
      times.set(Number(event.eventId), at);
      const since = (id: unknown) => (times.has(Number(id)) ? at - times.get(Number(id))! : undefined);
      let d: number | undefined;
      switch (event.eventType) {
        case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
          if ((d = since(event.workflowTaskStartedEventAttributes?.scheduledEventId)) !== undefined) wftWaits.push(d);
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
          if ((d = since(event.workflowTaskCompletedEventAttributes?.startedEventId)) !== undefined) wfts.push(d);
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
          if ((d = since(event.activityTaskStartedEventAttributes?.scheduledEventId)) !== undefined) actWaits.push(d);
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
          if ((d = since(event.activityTaskCompletedEventAttributes?.startedEventId)) !== undefined) acts.push(d);
          break;
      }
    }
    const first = events[0] ? tsToMs(events[0].eventTime) : 0;
    const last = events.length > 0 ? tsToMs(events[events.length - 1]!.eventTime) : 0;
    spans.push(last - first);
    const parent = childTimes.get(workflowId);
    if (parent) {
      toCreated.push(first - parent.initiatedAt);
      if (parent.startedAt !== undefined) createdToStarted.push(parent.startedAt - first);
      if (parent.completedAt !== undefined) toParent.push(parent.completedAt - last);
    }
  }
  return {
    sampled: workflowIds.length,
    span: spread(spans),
    workflowTaskWaits: spread(wftWaits),
    workflowTasks: spread(wfts),
    activityWaits: spread(actWaits),
    activities: spread(acts),
    initiatedToCreated: spread(toCreated),
    createdToStartedInParent: spread(createdToStarted),
    completionToParent: spread(toParent),
  };
}
