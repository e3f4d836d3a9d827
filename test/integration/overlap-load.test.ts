import type { Client, WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Pool } from 'pg';
import { describeFailure, startPipelineRun } from '../../cli/runs';
import { stagedTableOf } from '../../activities/staging';
import type { PipelineInput, StepContext } from '../../core/pipeline-spec';
import { parseWindow } from '../../core/window';
import { definePipeline, postgres } from '../../index';
import { catalogOf, specOf } from '../helpers/catalog';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { eventTypes, startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';
import { replayHistories } from '../../workers/replay';
import { progressQuery } from '../../workflows/definitions';

const { EventType } = temporal.api.enums.v1;
const queue = uniqueQueue('overlap');
const window = parseWindow('2026-11-20');
const ROWS = 40_000;
/** Row at which the failing transforms below stop, long after their first chunk was staged. */
const FAIL_AT = 30_000;

const extract = postgres.query({
  connection: 'warehouse',
  sql: `SELECT g AS id, $windowStart::timestamptz + (g % 3600) * interval '1 second' AS at, 'order ' || g AS label
          FROM generate_series(1, ${ROWS}) g`,
});

/** Whether each failing transform saw the load COPY its first chunk before it failed. */
const sawLoadCopying: Record<string, boolean> = {};

/**
 * Waits until a COPY into `table` is open on another connection: the load alongside the transform is writing the
 * chunks staged so far.
 */
async function loadIsCopying(ctx: StepContext, table: string): Promise<void> {
  const db = await ctx.postgres('warehouse');
  for (let i = 0; i < 200; i++) {
    const res = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE pid <> pg_backend_pid() AND query LIKE 'COPY %' AND query LIKE $1`,
      [`%${table}%`],
    );
    if (res.rows[0]!.n > 0) {
      sawLoadCopying[table] = true;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const pipeline = (name: string, table: string, more: Partial<PipelineInput>) =>
  definePipeline({
    name,
    taskQueue: queue,
    extract,
    transformRow: (row) => ({ ...row, label: String(row.label).toUpperCase() }),
    overlapLoad: true,
    load: postgres.replace({ connection: 'warehouse', table: `public.${table}`, windowColumn: 'at' }),
    ...more,
  });

const alongside = pipeline('overlap_alongside', 'overlap_alongside', {});
const afterwards = pipeline('overlap_afterwards', 'overlap_afterwards', { overlapLoad: false });
const local = pipeline('overlap_local', 'overlap_local', { localSteps: true });
const retried = pipeline('overlap_retried', 'overlap_retried', {
  retry: { maximumAttempts: 3, initialInterval: '100ms', backoffCoefficient: 1 },
  transformRow: async (row, ctx) => {
    if (ctx.attempt === 1 && row.id === FAIL_AT) {
      await loadIsCopying(ctx, 'overlap_retried');
      throw new Error('the transform lost its worker');
    }
    return { ...row, label: String(row.label).toUpperCase(), attempt: ctx.attempt };
  },
});
/** A transform that fails for good at row FAIL_AT of `table`'s run, once the load alongside it is writing. */
const failsForGood =
  (table: string): PipelineInput['transformRow'] =>
  async (row, ctx) => {
    if (row.id === FAIL_AT) {
      await loadIsCopying(ctx, table);
      throw ApplicationFailure.create({ type: 'BadOrder', nonRetryable: true, message: `order ${FAIL_AT} is bad` });
    }
    return { ...row, label: String(row.label).toUpperCase() };
  };
/** A transform slow enough that it is still running when the load's first COPY fails. */
const slowTransform: PipelineInput['transformRow'] = async (row) => {
  if (Number(row.id) % 1_000 === 0) await new Promise((resolve) => setTimeout(resolve, 200));
  return { ...row, label: String(row.label).toUpperCase() };
};
const failing = pipeline('overlap_failing', 'overlap_failing', {
  retry: { maximumAttempts: 3, initialInterval: '100ms' },
  transformRow: failsForGood('overlap_failing'),
});
const loadFails = pipeline('overlap_load_fails', 'overlap_narrow', {
  retry: { maximumAttempts: 3, initialInterval: '100ms' },
  transformRow: slowTransform,
});
const failingLocal = pipeline('overlap_failing_local', 'overlap_failing_local', {
  localSteps: true,
  retry: { maximumAttempts: 1 },
  transformRow: failsForGood('overlap_failing_local'),
});
/** Loads into a table that already holds its rows' keys: the load fails as the transform ends. */
const conflictLocal = pipeline('overlap_conflict_local', 'overlap_conflict_local', {
  localSteps: true,
  retry: { maximumAttempts: 1 },
});
const loadFailsLocal = pipeline('overlap_load_fails_local', 'overlap_narrow', {
  localSteps: true,
  retry: { maximumAttempts: 1 },
  transformRow: slowTransform,
});

let db: Pool;
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;

beforeAll(async () => {
  const url = await createTestDatabase('overlap');
  db = poolFor(url);
  const keyed = [
    'overlap_alongside',
    'overlap_afterwards',
    'overlap_local',
    'overlap_failing',
    'overlap_failing_local',
    'overlap_conflict_local',
  ];
  for (const table of keyed) {
    await db.query(`CREATE TABLE public.${table} (id int PRIMARY KEY, at timestamptz NOT NULL, label text NOT NULL)`);
  }
  // No key: rows a restarted load wrote twice would both be there.
  await db.query('CREATE TABLE public.overlap_retried (id int, at timestamptz, label text, attempt int)');
  await db.query('CREATE TABLE public.overlap_narrow (id int, at timestamptz)');
  client = await testClient();
  worker = await startTestWorker({
    catalog: catalogOf([
      alongside,
      afterwards,
      local,
      retried,
      failing,
      loadFails,
      failingLocal,
      loadFailsLocal,
      conflictLocal,
    ]),
    taskQueue: queue,
    connections: { warehouse: url, pipectl: url },
    // The transform's output is staged from its first 64 KiB on, so the load has a chunk to write early.
    inlineLimitBytes: 64 * 1024,
    // A step beside a failed one learns of its cancellation within a second.
    heartbeatInterval: '1s',
  });
});

afterAll(async () => {
  await worker?.stop();
  await db?.end();
  await client?.connection.close();
});

/** Each activity event of a run as `<activity> <event>`, in history order. */
async function activityEvents(handle: WorkflowHandle): Promise<string[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const types = new Map<string, string>();
  const out: string[] = [];
  for (const e of events) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(e.eventId), scheduled.activityType!.name!);
    const a =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskCanceledEventAttributes ??
      e.activityTaskCancelRequestedEventAttributes ??
      e.activityTaskStartedEventAttributes;
    const id = scheduled ? String(e.eventId) : a ? String(a.scheduledEventId) : undefined;
    if (id) out.push(`${types.get(id)} ${EventType[e.eventType!].replace('EVENT_TYPE_ACTIVITY_TASK_', '')}`);
  }
  return out;
}

test('the load runs alongside the transform and loads exactly what a load after it loads', async () => {
  const handle = await startPipelineRun(client, specOf(alongside), window, 'manual', queue);
  const result = await handle.result();
  expect(result.rowsLoaded).toBe(ROWS);
  expect(result.steps.transform).toMatchObject({ state: 'succeeded', rows: ROWS, staged: true });
  expect(result.steps.load).toMatchObject({ state: 'succeeded', rows: ROWS });
  // The load was scheduled with the transform, before the transform completed.
  const events = await activityEvents(handle);
  expect(events.indexOf('loadRows SCHEDULED')).toBeGreaterThan(-1);
  expect(events.indexOf('loadRows SCHEDULED')).toBeLessThan(events.indexOf('transformRows COMPLETED'));
  expect(events.filter((e) => e.endsWith('SCHEDULED'))).toEqual([
    'extractRows SCHEDULED',
    'transformRows SCHEDULED',
    'loadRows SCHEDULED',
    'dropStaged SCHEDULED',
  ]);

  const other = await startPipelineRun(client, specOf(afterwards), window, 'manual', queue);
  expect((await other.result()).rowsLoaded).toBe(ROWS);
  const diff = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ((TABLE public.overlap_alongside EXCEPT ALL TABLE public.overlap_afterwards)
       UNION ALL (TABLE public.overlap_afterwards EXCEPT ALL TABLE public.overlap_alongside)) d`,
  );
  expect(diff.rows[0]).toEqual({ n: 0 });
  const upper = await db.query('SELECT count(*)::int AS n FROM public.overlap_alongside WHERE label = upper(label)');
  expect(upper.rows[0]).toEqual({ n: ROWS });
  // The staged data, with the end the transform published for the load, went with the run's table.
  const staged = await db.query('SELECT to_regclass($1)::text AS t', [stagedTableOf(handle.workflowId)]);
  expect(staged.rows[0].t).toBeNull();
});

test('with local steps the load runs alongside the transform in the same workflow task, and loads the same rows', async () => {
  const handle = await startPipelineRun(client, specOf(local), window, 'manual', queue);
  const result = await handle.result();
  expect(result.rowsLoaded).toBe(ROWS);
  expect(result.steps.load.startedAt! <= result.steps.transform.finishedAt!).toBe(true);
  const rows = await db.query(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE label = 'ORDER ' || id)::int AS upper FROM public.overlap_local`,
  );
  expect(rows.rows[0]).toEqual({ n: ROWS, upper: ROWS });
});

test("a transform retried after the load wrote its first chunk: the load starts over and holds only the new attempt's rows", async () => {
  const handle = await startPipelineRun(client, specOf(retried), window, 'manual', queue);
  const result = await handle.result();
  expect(sawLoadCopying.overlap_retried).toBe(true);
  expect(result.rowsLoaded).toBe(ROWS);
  const rows = await db.query(
    'SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids, min(attempt) AS lo, max(attempt) AS hi FROM public.overlap_retried',
  );
  expect(rows.rows[0]).toEqual({ n: ROWS, ids: ROWS, lo: 2, hi: 2 });
  const ledger = await db.query('SELECT rows FROM pipectl.load_ledger WHERE workflow_id = $1', [handle.workflowId]);
  expect(ledger.rows).toEqual([{ rows: String(ROWS) }]);
  // One load attempt did it: the restart happened inside it.
  const events = await activityEvents(handle);
  expect(events.filter((e) => e === 'loadRows STARTED')).toHaveLength(1);
});

/**
 * Runs a pipeline whose transform fails for good (`failsForGood`) over a target holding one row: the run fails with
 * the transform's failure and the target keeps its row.
 */
async function runFailingTransform(table: string, definition: typeof failing): Promise<WorkflowHandle> {
  await db.query(`INSERT INTO public.${table} VALUES (0, '2026-11-20T12:00:00Z', 'kept')`);
  const handle = await startPipelineRun(client, specOf(definition), window, 'manual', queue);
  const err = await handle.result().catch((e: unknown) => e);
  expect(sawLoadCopying[table]).toBe(true);
  expect(describeFailure(err)).toEqual({ type: 'BadOrder', message: `transformRows: order ${FAIL_AT} is bad` });
  const rows = await db.query(`SELECT id, label FROM public.${table}`);
  expect(rows.rows).toEqual([{ id: 0, label: 'kept' }]);
  return handle;
}

test('a transform that fails for good cancels the load, which leaves the target as it was', async () => {
  const handle = await runFailingTransform('overlap_failing', failing);
  const events = await activityEvents(handle);
  expect(events).toContain('loadRows CANCEL_REQUESTED');
  expect(events).toContain('loadRows CANCELED');
});

test('a load that fails for good cancels the transform, and the run fails with the load’s error', async () => {
  const handle = await startPipelineRun(client, specOf(loadFails), window, 'manual', queue);
  const err = await handle.result().catch((e: unknown) => e);
  expect(describeFailure(err).type).toBe('ColumnNotFound');
  expect(describeFailure(err).message).toMatch(/^loadRows: .*label/);
  const events = await activityEvents(handle);
  expect(events).toContain('transformRows CANCEL_REQUESTED');
  expect(events).toContain('transformRows CANCELED');
  expect(events).not.toContain('transformRows COMPLETED');
  const rows = await db.query('SELECT count(*)::int AS n FROM public.overlap_narrow');
  expect(rows.rows[0]).toEqual({ n: 0 });
});

/**
 * A run that failed with local steps alongside each other: the failed step's partner was stopped by one `stopSteps`
 * local activity, no workflow task failed, and the history replays against the current workflow code.
 */
async function stoppedCleanly(handle: WorkflowHandle): Promise<void> {
  const types = await eventTypes(handle);
  expect(types.filter((t) => t === 'LOCAL stopSteps')).toHaveLength(1);
  expect(types).not.toContain('EVENT_TYPE_WORKFLOW_TASK_FAILED');
  const history = await handle.fetchHistory();
  expect(await replayHistories([{ workflowId: handle.workflowId, history }])).toEqual([
    { workflowId: handle.workflowId, runId: expect.any(String) },
  ]);
}

describe('with local steps, the step beside one that failed for good is stopped, and the run replays', () => {
  test('the transform fails for good while the load is writing: the load stops, the target keeps its rows', async () => {
    await stoppedCleanly(await runFailingTransform('overlap_failing_local', failingLocal));
  });

  test('the load fails for good while the transform runs: the transform stops, the run fails with the load’s error', async () => {
    const handle = await startPipelineRun(client, specOf(loadFailsLocal), window, 'manual', queue);
    const err = await handle.result().catch((e: unknown) => e);
    expect(describeFailure(err)).toMatchObject({ type: 'ColumnNotFound' });
    expect(describeFailure(err).message).toMatch(/^loadRows: .*label/);
    const progress = await handle.query(progressQuery);
    expect(progress.steps.transform.state).toBe('failed');
    await stoppedCleanly(handle);
  });

  test('the load fails as the transform completes: no workflow task fails (cancelling the transform there did)', async () => {
    // Each window's keys are in the table already: the load's COPY fails on the first row, which it learns at the
    // end of its COPY, just as the transform completes. Cancelling the transform then failed the workflow task.
    await db.query(
      `INSERT INTO public.overlap_conflict_local
         SELECT g, '2026-11-01T00:00:00Z', 'old' FROM generate_series(1, ${ROWS}) g`,
    );
    for (const day of ['2026-11-02', '2026-11-03', '2026-11-04']) {
      const handle = await startPipelineRun(client, specOf(conflictLocal), parseWindow(day), 'manual', queue);
      const err = await handle.result().catch((e: unknown) => e);
      expect(describeFailure(err)).toMatchObject({ type: 'ConstraintViolation' });
      expect(describeFailure(err).message).toMatch(/^loadRows: .*duplicate key/);
      await stoppedCleanly(handle);
    }
  }, 60_000);
});
