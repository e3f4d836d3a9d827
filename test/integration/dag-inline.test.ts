import type { Client, WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Pool } from 'pg';
import { stagedTableOf } from '../../activities/staging';
import { awaitDagRun, failedSnapshot } from '../../cli/dag-state';
import { buildDagInput, startDagRun } from '../../cli/dag';
import { expandDagState, type DagRunState } from '../../core/dag-input';
import type { PipelineInput } from '../../core/pipeline-spec';
import { pipelineWorkflowId } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import { definePipeline, postgres } from '../../index';
import type { dagRun } from '../../workflows/dag-run';
import { dagStateQuery, retryNodeUpdate } from '../../workflows/definitions';
import { catalogOf } from '../helpers/catalog';
import { untilDagState } from '../helpers/dag';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { eventTypes as markedEventTypes, startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';
import { replayHistories } from '../../workers/replay';

const { EventType } = temporal.api.enums.v1;
const queue = uniqueQueue('inline');
const ROWS = 5_000;
const journal: string[] = [];
/** Per-pipeline behaviour of a function extract; absent means: succeed at once. */
const behaviour = new Map<string, (signal: AbortSignal) => Promise<void>>();

const step = (name: string, more: Partial<PipelineInput> = {}) =>
  definePipeline({
    name,
    taskQueue: queue,
    inline: true,
    retry: { maximumAttempts: 1 },
    extract: async (ctx) => {
      journal.push(`start ${name}`);
      await behaviour.get(name)?.(ctx.signal);
      journal.push(`end ${name}`);
      return [{ name, run: ctx.workflowId }];
    },
    load: (rows) => rows.length,
    ...more,
  });

const defs = [
  // A diamond of inline pipelines (local steps and activities) around one child.
  step('ia', { localSteps: true }),
  step('ib', { dependsOn: ['ia'] }),
  step('ic', { dependsOn: ['ia'], inline: false }),
  step('id', { dependsOn: ['ib', 'ic'], localSteps: true }),
  // Staged rows, a transform with the load alongside, a ledgered PostgreSQL load.
  definePipeline({
    name: 'iload',
    taskQueue: queue,
    inline: true,
    extract: postgres.query({
      connection: 'warehouse',
      sql: `SELECT g AS id, $windowStart::timestamptz + (g % 3600) * interval '1 second' AS at, 'order ' || g AS label
              FROM generate_series(1, ${ROWS}) g`,
    }),
    transformRow: (row) => ({ ...row, label: String(row.label).toUpperCase() }),
    overlapLoad: true,
    load: postgres.replace({ connection: 'warehouse', table: 'public.inline_orders', windowColumn: 'at' }),
  }),
  step('iflaky'),
  step('iflaky_down', { dependsOn: ['iflaky'] }),
  step('islow', { timeouts: { run: '3s' } }),
  step('islow_down', { dependsOn: ['islow'] }),
  step('islowlocal', { timeouts: { run: '3s' }, localSteps: true }),
  step('ihold'),
  step('ikeep'),
];

const catalog = catalogOf(defs);
let db: Pool;
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;
let windowDay = 1;

beforeAll(async () => {
  const url = await createTestDatabase('inline');
  db = poolFor(url);
  await db.query(
    'CREATE TABLE public.inline_orders (id int PRIMARY KEY, at timestamptz NOT NULL, label text NOT NULL)',
  );
  client = await testClient();
  worker = await startTestWorker({
    catalog,
    taskQueue: queue,
    connections: { warehouse: url, pipectl: url },
    // Staged from the first 16 KiB on, so the inline run's steps pass staged data between them.
    inlineLimitBytes: 16 * 1024,
    // A step cut short by its run's time limit learns of the cancellation within a second.
    heartbeatInterval: '1s',
  });
});

afterAll(async () => {
  await worker?.stop();
  await db?.end();
  await client?.connection.close();
});

async function start(names: string[]) {
  const window = parseWindow(`2026-09-${String(windowDay++).padStart(2, '0')}`);
  const input = buildDagInput(catalog, names, window, 'manual', queue);
  return startDagRun(client, input, queue, { explicitList: true });
}

const states = (s: DagRunState) => Object.fromEntries(Object.entries(s.nodes).map(([n, v]) => [n, v.state]));

async function failedState(handle: WorkflowHandle<typeof dagRun>): Promise<DagRunState> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  const snapshot = failedSnapshot(err);
  expect(snapshot).toBeDefined();
  return expandDagState(snapshot!);
}

const until = untilDagState;

/** The DAG run's history (every run it continued as included) as event type names. */
async function eventTypes(handle: WorkflowHandle): Promise<string[]> {
  const events = (await client.workflow.getHandle(handle.workflowId).fetchHistory()).events ?? [];
  return events.map((e) => EventType[e.eventType!].replace('EVENT_TYPE_', ''));
}

async function stagedTableExists(workflowId: string): Promise<boolean> {
  const res = await db.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [stagedTableOf(workflowId)]);
  return res.rows[0]!.t !== null;
}

test('inline pipelines run inside the DAG run in DAG order, beside a child run, with no workflow of their own', async () => {
  const handle = await start(['ia', 'ib', 'ic', 'id']);
  const result = await awaitDagRun(handle);
  expect(states(result)).toEqual({ ia: 'succeeded', ib: 'succeeded', ic: 'succeeded', id: 'succeeded' });
  const lines = journal.filter((l) => / i[abcd]$/.test(l));
  expect(lines.indexOf('end ia')).toBeLessThan(lines.indexOf('start ib'));
  expect(lines.indexOf('end ia')).toBeLessThan(lines.indexOf('start ic'));
  expect(lines.indexOf('end ib')).toBeLessThan(lines.indexOf('start id'));
  expect(lines.indexOf('end ic')).toBeLessThan(lines.indexOf('start id'));
  for (const n of ['ia', 'ib', 'id']) {
    expect(result.nodes[n]).toMatchObject({ inline: true, attempts: 1, rowsLoaded: 1 });
    expect(result.nodes[n]!.workflowId).toBeUndefined();
    await expect(client.workflow.getHandle(pipelineWorkflowId(n, result.window)).describe()).rejects.toThrow();
  }
  expect(result.nodes.ic).toMatchObject({ workflowId: pipelineWorkflowId('ic', result.window) });
  expect(result.nodes.ic!.inline).toBeUndefined();
  const types = await eventTypes(handle);
  // One child (ic); ib's steps are the DAG run's activities, ia's and id's its markers (local activities).
  expect(types.filter((t) => t === 'START_CHILD_WORKFLOW_EXECUTION_INITIATED')).toHaveLength(1);
  expect(types.filter((t) => t === 'ACTIVITY_TASK_COMPLETED')).toHaveLength(2);
  expect(types.filter((t) => t === 'MARKER_RECORDED').length).toBeGreaterThanOrEqual(4);
});

test('an inline run stages, transforms and loads under its own identity; its ledger row names it; its staged data goes', async () => {
  const handle = await start(['iload']);
  const result = await awaitDagRun(handle);
  expect(result.nodes.iload).toMatchObject({ state: 'succeeded', inline: true, rowsLoaded: ROWS });
  const runId = (await handle.describe()).runId;
  const ledger = await db.query<{ workflow_id: string; run_id: string; rows: string }>(
    `SELECT workflow_id, run_id, rows FROM pipectl.load_ledger WHERE pipeline = 'iload'`,
  );
  expect(ledger.rows).toEqual([
    { workflow_id: `${handle.workflowId}/iload`, run_id: `${runId}/0`, rows: String(ROWS) },
  ]);
  const loaded = await db.query<{ n: number; upper: number }>(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE label = upper(label))::int AS upper FROM public.inline_orders`,
  );
  expect(loaded.rows[0]).toEqual({ n: ROWS, upper: ROWS });
  // The steps passed staged data (16 KiB inline limit) under the inline run's workflow ID, dropped at the end.
  const types = await eventTypes(handle);
  expect(types).not.toContain('START_CHILD_WORKFLOW_EXECUTION_INITIATED');
  const summaries = ((await handle.fetchHistory()).events ?? []).flatMap((e) =>
    e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType!.name!] : [],
  );
  expect(summaries.sort()).toEqual(['dropStaged', 'extractRows', 'loadRows', 'transformRows']);
  expect(await stagedTableExists(`${handle.workflowId}/iload`)).toBe(false);
});

test('a failed inline node blocks its downstream; a retry update runs it again as a new pipeline run', async () => {
  let fixed = false;
  behaviour.set('iflaky', async () => {
    if (!fixed) throw ApplicationFailure.create({ type: 'Broken', nonRetryable: true, message: 'not yet' });
  });
  // ikeep keeps the DAG run open until the retry is sent.
  let release!: () => void;
  const kept = new Promise<void>((resolve) => (release = resolve));
  behaviour.set('ikeep', () => kept);
  const handle = await start(['iflaky', 'iflaky_down', 'ikeep']);
  const failed = await until(handle, (s) => s.nodes.iflaky_down!.state === 'upstream_failed');
  expect(failed.nodes.iflaky!.error).toEqual({ type: 'Broken', message: 'extractRows: not yet' });
  fixed = true;
  await handle.executeUpdate(retryNodeUpdate, { args: ['iflaky'] });
  release();
  const result = await awaitDagRun(handle);
  expect(states(result)).toEqual({ iflaky: 'succeeded', iflaky_down: 'succeeded', ikeep: 'succeeded' });
  expect(result.nodes.iflaky!.attempts).toBe(2);
});

test('an inline run past its time limit fails with RunTimedOut: its step is cancelled and its downstream not run', async () => {
  let aborted = false;
  behaviour.set('islow', async (signal) => {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 60_000);
      signal.addEventListener('abort', () => {
        aborted = true;
        clearTimeout(timer);
        resolve();
      });
    });
    signal.throwIfAborted();
  });
  const startedAt = Date.now();
  const state = await failedState(await start(['islow', 'islow_down']));
  expect(Date.now() - startedAt).toBeLessThan(30_000);
  expect(states(state)).toEqual({ islow: 'failed', islow_down: 'upstream_failed' });
  expect(state.nodes.islow!.error).toEqual({
    type: 'RunTimedOut',
    message: 'the run did not end within its time limit (timeouts.run 3.0s)',
  });
  expect(aborted).toBe(true);
  expect(journal).not.toContain('end islow');
});

test('an inline run with local steps past its time limit is stopped in the worker and fails with RunTimedOut', async () => {
  let aborted = false;
  behaviour.set('islowlocal', (signal) => {
    return new Promise<void>((_, reject) => {
      const timer = setTimeout(() => reject(new Error('not stopped')), 60_000);
      signal.addEventListener('abort', () => {
        aborted = true;
        clearTimeout(timer);
        reject(signal.reason as Error);
      });
    });
  });
  const startedAt = Date.now();
  const handle = await start(['islowlocal']);
  const state = await failedState(handle);
  expect(Date.now() - startedAt).toBeLessThan(30_000);
  expect(state.nodes.islowlocal).toMatchObject({
    state: 'failed',
    error: { type: 'RunTimedOut', message: 'the run did not end within its time limit (timeouts.run 3.0s)' },
  });
  expect(aborted).toBe(true);
  // Stopped by a local activity of the DAG run, not by cancelling the step from the workflow; the history replays.
  const types = await markedEventTypes(handle);
  expect(types).not.toContain('EVENT_TYPE_WORKFLOW_TASK_FAILED');
  expect(types.filter((t) => t === 'LOCAL stopSteps')).toHaveLength(1);
  const history = await handle.fetchHistory();
  expect(await replayHistories([{ workflowId: handle.workflowId, history }])).toEqual([
    { workflowId: handle.workflowId, runId: expect.any(String) },
  ]);
});

test('cancelling the DAG run cancels the running inline pipeline', async () => {
  let aborted = false;
  behaviour.set('ihold', (signal) => {
    return new Promise<void>((_, reject) => {
      signal.addEventListener('abort', () => {
        aborted = true;
        reject(signal.reason as Error);
      });
    });
  });
  const handle = await start(['ihold']);
  await until(handle, (s) => s.nodes.ihold!.state === 'running');
  await new Promise((r) => setTimeout(r, 300));
  await handle.cancel();
  await expect(handle.result()).rejects.toThrow();
  const state = expandDagState(await handle.query(dagStateQuery));
  expect(state.status).toBe('cancelled');
  expect(state.nodes.ihold!.state).toBe('cancelled');
  expect(aborted).toBe(true);
});
