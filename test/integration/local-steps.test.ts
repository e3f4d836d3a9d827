import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Pool } from 'pg';
import { buildDagInput, startDagRun } from '../../cli/dag';
import { awaitDagRun } from '../../cli/dag-state';
import { describeFailure, startPipelineRun } from '../../cli/runs';
import { pipelineWorkflowId } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import { definePipeline, postgres, type PipelineDefinition } from '../../index';
import { catalogOf, specOf } from '../helpers/catalog';
import { extractUntilAborted } from '../helpers/steps';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';
import { stagedTableOf } from '../../activities/staging';

const { EventType } = temporal.api.enums.v1;
const window = parseWindow('2026-11-20');
const queue = uniqueQueue('local');
let url: string;
let db: Pool;
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;
const calls = { flaky: 0, aborted: 0 };
let blockedStarted: () => void;
const blockedRunning = new Promise<void>((r) => (blockedStarted = r));

const flaky = definePipeline({
  name: 'local_flaky',
  taskQueue: queue,
  localSteps: true,
  retry: { maximumAttempts: 5, initialInterval: '100ms', backoffCoefficient: 1 },
  extract: () => {
    calls.flaky++;
    if (calls.flaky <= 2) throw new Error(`source not ready (attempt ${calls.flaky})`);
    return [
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
    ];
  },
  load: postgres.upsert({ connection: 'warehouse', table: 'public.items', key: ['id'] }),
});

const broken = definePipeline({
  name: 'local_broken',
  taskQueue: queue,
  localSteps: true,
  retry: { maximumAttempts: 10, initialInterval: '1s' },
  extract: () => {
    throw ApplicationFailure.create({
      type: 'SourceSchemaChanged',
      nonRetryable: true,
      message: 'column amount is gone',
    });
  },
  load: (rows) => rows.length,
});

const big = definePipeline({
  name: 'local_big',
  taskQueue: queue,
  localSteps: true,
  extract: postgres.query({
    connection: 'warehouse',
    sql: `SELECT g AS id, $windowStart::timestamptz AS at, repeat(md5(g::text), 4) AS payload
            FROM generate_series(1, 60000) g`,
  }),
  transformRow: (row) => ({ ...row, payload: String(row.payload).toUpperCase() }),
  load: postgres.replace({ connection: 'warehouse', table: 'public.big', windowColumn: 'at' }),
});

const blocked = definePipeline({
  name: 'local_blocked',
  taskQueue: queue,
  localSteps: true,
  retry: { maximumAttempts: 1 },
  extract: extractUntilAborted({ started: () => blockedStarted(), aborted: () => calls.aborted++ }),
  load: (rows) => rows.length,
});

const chain = (name: string, dependsOn: string[]): PipelineDefinition =>
  definePipeline({
    name,
    dependsOn,
    taskQueue: queue,
    localSteps: true,
    extract: () => [{ name }],
    load: (r) => r.length,
  });
const chainDefs = [chain('local_a', []), chain('local_b', ['local_a']), chain('local_c', ['local_b'])];
const dagCatalog = catalogOf(chainDefs);

beforeAll(async () => {
  url = await createTestDatabase('local');
  db = poolFor(url);
  await db.query('CREATE TABLE public.items (id int PRIMARY KEY, v text)');
  await db.query('CREATE TABLE public.big (id int PRIMARY KEY, at timestamptz NOT NULL, payload text NOT NULL)');
  client = await testClient();
  worker = await startTestWorker({
    catalog: catalogOf([flaky, broken, big, blocked, ...chainDefs]),
    taskQueue: queue,
    connections: { warehouse: url, pipectl: url },
  });
});

afterAll(async () => {
  await worker?.stop();
  await db?.end();
  await client?.connection.close();
});

/** The event types of a run's history, in order; a local activity's marker as `LOCAL_STEP`. */
async function eventTypes(workflowId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return history.events!.map((e) =>
    e.markerRecordedEventAttributes?.markerName === 'core_local_activity' ? 'LOCAL_STEP' : EventType[e.eventType!],
  );
}

test('local steps retry with the pipeline policy inside one workflow task and load once', async () => {
  const handle = await startPipelineRun(client, specOf(flaky), window, 'manual', queue);
  const result = await handle.result();
  expect(calls.flaky).toBe(3);
  expect(result.rowsLoaded).toBe(2);
  expect(result.steps.extract).toMatchObject({ state: 'succeeded', rows: 2 });
  const ledger = await db.query('SELECT rows FROM pipectl.load_ledger WHERE workflow_id = $1', [handle.workflowId]);
  expect(ledger.rows).toEqual([{ rows: '2' }]);
  expect((await db.query('SELECT id, v FROM public.items ORDER BY id')).rows).toEqual([
    { id: 1, v: 'a' },
    { id: 2, v: 'b' },
  ]);
  // No activity task: each step is a marker, and the whole run is one workflow task.
  const types = await eventTypes(handle.workflowId);
  expect(types.filter((t) => t === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED')).toHaveLength(0);
  expect(types.filter((t) => t === 'LOCAL_STEP')).toHaveLength(2);
  expect(types.filter((t) => t === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED')).toHaveLength(1);
});

test('a non-retryable error in a local step fails the run at once with its type and step', async () => {
  const handle = await startPipelineRun(client, specOf(broken), window, 'manual', queue);
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(describeFailure(err)).toEqual({ type: 'SourceSchemaChanged', message: 'extractRows: column amount is gone' });
});

test('large local steps stage their data, stream the row transform, and drop what they staged', async () => {
  const handle = await startPipelineRun(client, specOf(big), window, 'manual', queue);
  const result = await handle.result();
  expect(result).toMatchObject({ rowsExtracted: 60000, rowsLoaded: 60000 });
  expect(result.steps.extract.staged).toBe(true);
  expect(result.steps.transform.staged).toBe(true);
  const count = await db.query(
    'SELECT count(*)::int AS n, count(*) FILTER (WHERE payload = upper(payload))::int AS upper FROM public.big',
  );
  expect(count.rows[0]).toEqual({ n: 60000, upper: 60000 });
  // The run's staged data went with its table.
  const left = await db.query('SELECT to_regclass($1)::text AS t', [stagedTableOf(handle.workflowId)]);
  expect(left.rows[0].t).toBeNull();
  const types = await eventTypes(handle.workflowId);
  expect(types.filter((t) => t === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED')).toHaveLength(0);
  // extract, transform, load and dropping the staged data.
  expect(types.filter((t) => t === 'LOCAL_STEP')).toHaveLength(4);
});

test('cancelling a run stops its running local step, which sees the abort', async () => {
  const handle = await startPipelineRun(client, specOf(blocked), window, 'manual', queue);
  await blockedRunning;
  await handle.cancel();
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  expect(calls.aborted).toBe(1);
  expect((await handle.describe()).status.name).toBe('CANCELLED');
});

test('a DAG run of pipelines with local steps runs each as a child whose steps are markers', async () => {
  const input = buildDagInput(dagCatalog, ['local_a', 'local_b', 'local_c'], window, 'manual', queue);
  expect(input.profiles.map((p) => p.localSteps)).toEqual([true]);
  const handle = await startDagRun(client, input, queue, { explicitList: true });
  const state = await awaitDagRun(handle);
  expect(state.status).toBe('succeeded');
  for (const name of ['local_a', 'local_b', 'local_c']) {
    const types = await eventTypes(pipelineWorkflowId(name, window));
    expect(types.filter((t) => t === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED')).toHaveLength(0);
    expect(types.filter((t) => t === 'LOCAL_STEP')).toHaveLength(2);
  }
});
