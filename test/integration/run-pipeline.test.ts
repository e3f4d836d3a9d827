import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { definePipeline, postgres } from '../../index';
import { startPipelineRun, describeFailure } from '../../cli/runs';
import { PIPELINE_NAME, RUN_KIND, WINDOW_START } from '../../temporal-config/search-attributes';
import { parseWindow } from '../../core/window';
import { catalogOf, specOf } from '../helpers/catalog';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';
import { stagedTableOf } from '../../activities/staging';

const window = parseWindow('2026-11-20');
const queue = uniqueQueue('run');
let url: string;
let db: Pool;
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;
const calls = { flakyExtract: 0, loads: 0 };

const flaky = definePipeline({
  name: 'flaky',
  taskQueue: queue,
  retry: { maximumAttempts: 5, initialInterval: '100ms', backoffCoefficient: 1 },
  extract: () => {
    calls.flakyExtract++;
    if (calls.flakyExtract <= 2) throw new Error(`source not ready (attempt ${calls.flakyExtract})`);
    return [
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
    ];
  },
  load: postgres.upsert({ connection: 'warehouse', table: 'public.items', key: ['id'] }),
});

const broken = definePipeline({
  name: 'broken',
  taskQueue: queue,
  retry: { maximumAttempts: 10, initialInterval: '1s' },
  extract: () => {
    throw ApplicationFailure.create({
      type: 'SourceSchemaChanged',
      nonRetryable: true,
      message: 'column amount is gone',
    });
  },
  load: postgres.upsert({ connection: 'warehouse', table: 'public.items', key: ['id'] }),
});

const missingTable = definePipeline({
  name: 'missing_table',
  taskQueue: queue,
  retry: { maximumAttempts: 10, initialInterval: '1s' },
  extract: () => [{ id: 1 }],
  load: postgres.upsert({ connection: 'warehouse', table: 'public.no_such_table', key: ['id'] }),
});

const big = definePipeline({
  name: 'big',
  taskQueue: queue,
  extract: postgres.query({
    connection: 'warehouse',
    sql: `SELECT g AS id, $windowStart::timestamptz AS at, repeat(md5(g::text), 4) AS payload
            FROM generate_series(1, 60000) g`,
  }),
  transform: (rows) => rows.map((r) => ({ ...r, payload: String(r.payload).toUpperCase() })),
  load: postgres.replace({ connection: 'warehouse', table: 'public.big', windowColumn: 'at' }),
});

/** The same staged extract, loaded into a table without its payload column: the load fails for good. */
const bigBroken = definePipeline({
  ...big,
  name: 'big_broken',
  retry: { maximumAttempts: 1 },
  transform: undefined,
  load: postgres.replace({ connection: 'warehouse', table: 'public.big_narrow', windowColumn: 'at' }),
});

/** The same staged extract and a transform that waits at its first row until the run is cancelled. */
let slowStarted = false;
const bigSlow = definePipeline({
  ...big,
  name: 'big_slow',
  transform: undefined,
  transformRow: async (row, ctx) => {
    slowStarted = true;
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    return row;
  },
});

beforeAll(async () => {
  url = await createTestDatabase('run');
  db = poolFor(url);
  await db.query('CREATE TABLE public.items (id int PRIMARY KEY, v text)');
  await db.query('CREATE TABLE public.big (id int PRIMARY KEY, at timestamptz NOT NULL, payload text NOT NULL)');
  await db.query('CREATE TABLE public.big_narrow (id int PRIMARY KEY, at timestamptz NOT NULL)');
  client = await testClient();
  worker = await startTestWorker({
    catalog: catalogOf([flaky, broken, missingTable, big, bigBroken, bigSlow]),
    taskQueue: queue,
    connections: { warehouse: url, pipectl: url },
  });
});

afterAll(async () => {
  await worker?.stop();
  await db?.end();
  await client?.connection.close();
});

test('a step that fails twice then succeeds gives a successful run whose load happened once', async () => {
  const handle = await startPipelineRun(client, specOf(flaky), window, 'manual', queue);
  const result = await handle.result();
  expect(calls.flakyExtract).toBe(3);
  expect(result.rowsLoaded).toBe(2);
  const ledger = await db.query('SELECT rows FROM pipectl.load_ledger WHERE workflow_id = $1', [handle.workflowId]);
  expect(ledger.rows).toEqual([{ rows: '2' }]);
  const rows = await db.query('SELECT id, v FROM public.items ORDER BY id');
  expect(rows.rows).toEqual([
    { id: 1, v: 'a' },
    { id: 2, v: 'b' },
  ]);
  // The history shows the retries: the extract activity completed on its third attempt.
  const history = await handle.fetchHistory();
  const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes);
  expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([3, 1]);
});

test('a non-retryable error fails the run at once with its type', async () => {
  const handle = await startPipelineRun(client, specOf(broken), window, 'manual', queue);
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(describeFailure(err)).toEqual({ type: 'SourceSchemaChanged', message: 'extractRows: column amount is gone' });
  // The extract ran once, not retried; then the run's staged data was dropped.
  const history = await handle.fetchHistory();
  const scheduled = history.events!.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
  expect(scheduled).toEqual(['extractRows', 'dropStaged']);
  const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes);
  expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1, 1]);
});

test('a load into a missing table fails permanently with TableNotFound', async () => {
  const handle = await startPipelineRun(client, specOf(missingTable), window, 'manual', queue);
  const err = await handle.result().catch((e: unknown) => e);
  expect(describeFailure(err).type).toBe('TableNotFound');
  expect(describeFailure(err).message).toMatch(/no_such_table/);
});

test('an extract larger than 5 MB passes through staging and the staged data is dropped on success', async () => {
  const handle = await startPipelineRun(client, specOf(big), window, 'manual', queue);
  const result = await handle.result();
  expect(result.rowsExtracted).toBe(60000);
  expect(result.rowsLoaded).toBe(60000);
  expect(result.steps.extract.staged).toBe(true);
  expect(result.steps.transform.staged).toBe(true);
  const count = await db.query(
    'SELECT count(*)::int AS n, count(*) FILTER (WHERE payload = upper(payload))::int AS upper FROM public.big',
  );
  expect(count.rows[0]).toEqual({ n: 60000, upper: 60000 });
  // No payload in the history is anywhere near Temporal's 2 MB limit: only references travelled.
  const history = await handle.fetchHistory();
  const largest = Math.max(...history.events!.map((e) => JSON.stringify(e).length));
  expect(largest).toBeLessThan(300 * 1024);
  // The run's staged data went with its table.
  const staged = await db.query('SELECT to_regclass($1)::text AS t', [stagedTableOf(handle.workflowId)]);
  expect(staged.rows[0].t).toBeNull();
});

/** Whether the staged data table of a workflow ID exists. */
async function stagedTableExists(workflowId: string): Promise<boolean> {
  const res = await db.query('SELECT to_regclass($1)::text AS t', [stagedTableOf(workflowId)]);
  return res.rows[0].t !== null;
}

test('a run that fails after staging drops its staged data', async () => {
  const handle = await startPipelineRun(client, specOf(bigBroken), window, 'manual', queue);
  const err = await handle.result().catch((e: unknown) => e);
  expect(describeFailure(err).type).toBe('ColumnNotFound');
  expect(await stagedTableExists(handle.workflowId)).toBe(false);
  const history = await handle.fetchHistory();
  const activities = history.events!.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
  expect(activities).toEqual(['extractRows', 'loadRows', 'dropStaged']);
});

test('a run cancelled while its transform runs drops its staged data once the transform stopped', async () => {
  slowStarted = false;
  const handle = await startPipelineRun(client, specOf(bigSlow), window, 'manual', queue);
  for (let i = 0; i < 300 && !slowStarted; i++) await new Promise((r) => setTimeout(r, 100));
  expect(slowStarted).toBe(true);
  expect(await stagedTableExists(handle.workflowId)).toBe(true);
  await handle.cancel();
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause?.name).toBe('CancelledFailure');
  expect(await stagedTableExists(handle.workflowId)).toBe(false);
});

test('two starts of the same window never run at once: the second attaches to the running run', async () => {
  const slowWindow = parseWindow('2026-11-25');
  const [a, b] = await Promise.all([
    startPipelineRun(client, specOf(flaky), slowWindow, 'manual', queue),
    startPipelineRun(client, specOf(flaky), slowWindow, 'manual', queue),
  ]);
  expect(a.workflowId).toBe('pipeline/flaky/2026-11-25T00:00:00.000Z');
  const [da, db_] = await Promise.all([a.describe(), b.describe()]);
  expect(da.runId).toBe(db_.runId);
  await a.result();
  // A finished window can be run again; it gets a new run.
  const again = await startPipelineRun(client, specOf(flaky), slowWindow, 'manual', queue);
  expect((await again.describe()).runId).not.toBe(da.runId);
  await again.result();
});

test('the run carries search attributes and a summary that say what it is', async () => {
  const handle = await startPipelineRun(client, specOf(flaky), parseWindow('2026-11-26'), 'manual', queue);
  await handle.result();
  const d = await handle.describe();
  expect(d.typedSearchAttributes.get(PIPELINE_NAME)).toBe('flaky');
  expect(d.typedSearchAttributes.get(RUN_KIND)).toBe('manual');
  expect(d.typedSearchAttributes.get(WINDOW_START)?.toISOString()).toBe('2026-11-26T00:00:00.000Z');
  expect(await d.staticSummary()).toBe('flaky · 2026-11-26 → 2026-11-27');
  // Visibility is eventually consistent: the run becomes findable by its attributes shortly after it closes.
  const query = `PipelineName = "flaky" AND WindowStart BETWEEN "2026-11-26T00:00:00Z" AND "2026-11-26T00:00:01Z" AND RunKind = "manual"`;
  let found = 0;
  for (let i = 0; i < 50 && found === 0; i++) {
    found = (await client.workflow.count(query)).count;
    if (found === 0) await new Promise((r) => setTimeout(r, 200));
  }
  expect(found).toBe(1);
});
