import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { stagedTableOf } from '../../activities/staging';
import { buildDagInput, startDagRun } from '../../cli/dag';
import { awaitDagRun } from '../../cli/dag-state';
import { describeFailure, startPipelineRun } from '../../cli/runs';
import type { RunPipelineResult } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import { definePipeline, postgres, type PipelineDefinition } from '../../index';
import { replayHistories } from '../../workers/replay';
import { progressQuery } from '../../workflows/definitions';
import { catalogOf, specOf } from '../helpers/catalog';
import { extractUntilAborted } from '../helpers/steps';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { eventTypes, startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';

const window = parseWindow('2026-11-21');
const queue = uniqueQueue('fused');
let db: Pool;
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;
const calls = { extract: 0, load: 0, badExtract: 0, aborted: 0, order: [] as string[] };
let blockedStarted: () => void;
const blockedRunning = new Promise<void>((r) => (blockedStarted = r));

const big = definePipeline({
  name: 'fused_big',
  taskQueue: queue,
  localSteps: 'fused',
  extract: postgres.query({
    connection: 'warehouse',
    sql: `SELECT g AS id, $windowStart::timestamptz AS at, repeat(md5(g::text), 4) AS payload
            FROM generate_series(1, 20000) g`,
  }),
  transformRow: (row) => ({ ...row, payload: String(row.payload).toUpperCase() }),
  load: postgres.replace({ connection: 'warehouse', table: 'public.fused_big', windowColumn: 'at' }),
});

// The load fails its first attempt: the attempt after it starts again from the extract.
const flaky = definePipeline({
  name: 'fused_flaky',
  taskQueue: queue,
  localSteps: 'fused',
  retry: { maximumAttempts: 3, initialInterval: '100ms', backoffCoefficient: 1 },
  extract: () => {
    calls.extract++;
    return [{ id: 1 }, { id: 2 }, { id: 3 }];
  },
  load: (rows) => {
    calls.load++;
    if (calls.load === 1) throw new Error('the warehouse is restarting');
    return rows.length;
  },
});

const broken = definePipeline({
  name: 'fused_broken',
  taskQueue: queue,
  localSteps: 'fused',
  retry: { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: ['BadRow'] },
  extract: () => {
    calls.badExtract++;
    return [{ id: 1 }];
  },
  transform: () => {
    throw ApplicationFailure.create({ type: 'BadRow', message: 'row 1 has no amount' });
  },
  load: (rows) => rows.length,
});

const blocked = definePipeline({
  name: 'fused_blocked',
  taskQueue: queue,
  localSteps: 'fused',
  retry: { maximumAttempts: 1 },
  extract: extractUntilAborted({ started: () => blockedStarted(), aborted: () => calls.aborted++ }),
  load: (rows) => rows.length,
});

// Fused pipelines inside their DAG run: a line of three, and a failing one that blocks its downstream.
const inline = (name: string, dependsOn: string[], fail = false): PipelineDefinition =>
  definePipeline({
    name,
    dependsOn,
    taskQueue: queue,
    inline: true,
    localSteps: 'fused',
    retry: { maximumAttempts: 1 },
    extract: () => {
      calls.order.push(name);
      if (fail) throw ApplicationFailure.create({ type: 'SourceDown', message: `${name}: source down` });
      return [{ name }];
    },
    load: (rows) => rows.length,
  });
let slowStarted: () => void;
const slowRunning = new Promise<void>((r) => (slowStarted = r));
const slowAborted = { n: 0 };
const dagDefs = [
  // Past its time limit: the DAG run's timer cancels it.
  definePipeline({
    name: 'fslow',
    taskQueue: queue,
    inline: true,
    localSteps: 'fused',
    timeouts: { run: '2s' },
    extract: extractUntilAborted({ started: () => slowStarted(), aborted: () => slowAborted.n++ }),
    load: (rows) => rows.length,
  }),
  inline('fslow_down', ['fslow']),
  inline('fa', []),
  inline('fb', ['fa']),
  inline('fc', ['fb']),
  inline('ffail', [], true),
  inline('ffail_down', ['ffail']),
];
const dagCatalog = catalogOf(dagDefs);

beforeAll(async () => {
  const url = await createTestDatabase('fused');
  db = poolFor(url);
  await db.query('CREATE TABLE public.fused_big (id int PRIMARY KEY, at timestamptz NOT NULL, payload text NOT NULL)');
  client = await testClient();
  worker = await startTestWorker({
    catalog: catalogOf([big, flaky, broken, blocked, ...dagDefs]),
    taskQueue: queue,
    connections: { warehouse: url, pipectl: url },
    // Staged from the first 16 KiB on, so the fused steps pass staged data between them.
    inlineLimitBytes: 16 * 1024,
  });
});

afterAll(async () => {
  await worker?.stop();
  await db?.end();
  await client?.connection.close();
});

test('fused steps run as one local activity: staged data passes between them, is loaded and then dropped', async () => {
  const handle = await startPipelineRun(client, specOf(big), window, 'manual', queue);
  const result: RunPipelineResult = await handle.result();
  expect(result).toMatchObject({ rowsExtracted: 20000, rowsLoaded: 20000, loadReplayed: false });
  expect(result.steps.extract).toMatchObject({ state: 'succeeded', rows: 20000, staged: true });
  expect(result.steps.transform).toMatchObject({ state: 'succeeded', rows: 20000, staged: true });
  expect(result.steps.load).toMatchObject({ state: 'succeeded', rows: 20000 });
  for (const s of Object.values(result.steps)) expect(Date.parse(s.finishedAt!)).toBeGreaterThan(0);
  const count = await db.query(
    'SELECT count(*)::int AS n, count(*) FILTER (WHERE payload = upper(payload))::int AS upper FROM public.fused_big',
  );
  expect(count.rows[0]).toEqual({ n: 20000, upper: 20000 });
  const ledger = await db.query('SELECT rows FROM pipectl.load_ledger WHERE workflow_id = $1', [handle.workflowId]);
  expect(ledger.rows).toEqual([{ rows: '20000' }]);
  const left = await db.query('SELECT to_regclass($1)::text AS t', [stagedTableOf(handle.workflowId)]);
  expect(left.rows[0].t).toBeNull();
  // One marker for the three steps (and the staged data's drop), no activity task, one workflow task.
  const types = await eventTypes(handle);
  expect(types.filter((t) => t.startsWith('LOCAL'))).toEqual(['LOCAL runSteps']);
  expect(types.filter((t) => t === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED')).toHaveLength(0);
  expect(types.filter((t) => t === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED')).toHaveLength(1);
  // The progress query of the closed run shows each step's outcome.
  const progress = await handle.query(progressQuery);
  expect(progress.steps.load).toMatchObject({ state: 'succeeded', rows: 20000 });
});

test('a failed attempt of fused steps is retried with the pipeline policy, from the extract', async () => {
  const handle = await startPipelineRun(client, specOf(flaky), window, 'manual', queue);
  const result: RunPipelineResult = await handle.result();
  expect(result.rowsLoaded).toBe(3);
  expect(calls).toMatchObject({ extract: 2, load: 2 });
  expect(result.steps.load).toMatchObject({ state: 'succeeded', rows: 3 });
});

test('a non-retryable error in a fused step fails the run at once, named by its step, with the steps before it', async () => {
  const handle = await startPipelineRun(client, specOf(broken), window, 'manual', queue);
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(describeFailure(err)).toEqual({ type: 'BadRow', message: 'transformRows: row 1 has no amount' });
  expect(calls.badExtract).toBe(1);
  const progress = await handle.query(progressQuery);
  expect(progress.steps.extract).toMatchObject({ state: 'succeeded', rows: 1 });
  expect(progress.steps.transform).toMatchObject({ state: 'failed' });
  expect(progress.steps.load).toEqual({ state: 'pending' });
});

test('cancelling a run stops its running fused steps, which see the abort', async () => {
  const handle = await startPipelineRun(client, specOf(blocked), window, 'manual', queue);
  await blockedRunning;
  await handle.cancel();
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  expect(calls.aborted).toBe(1);
});

test('fused pipelines inside a DAG run run in DAG order, one marker each, and a failure blocks its downstream', async () => {
  const input = buildDagInput(dagCatalog, ['fa', 'fb', 'fc', 'ffail', 'ffail_down'], window, 'manual', queue);
  expect(input.profiles.map((p) => [p.inline, p.localSteps, p.fusedSteps])).toEqual([[true, true, true]]);
  const handle = await startDagRun(client, input, queue, { explicitList: true });
  const state = await awaitDagRun(handle);
  expect(state.status).toBe('failed');
  expect(Object.fromEntries(Object.entries(state.nodes).map(([n, s]) => [n, s.state]))).toEqual({
    fa: 'succeeded',
    fb: 'succeeded',
    fc: 'succeeded',
    ffail: 'failed',
    ffail_down: 'upstream_failed',
  });
  expect(state.nodes.ffail!.error).toEqual({ type: 'SourceDown', message: 'extractRows: ffail: source down' });
  // One at a time: each node that ran started once the one before it had finished.
  const ran = Object.values(state.nodes)
    .filter((n) => n.startedAt !== undefined)
    .sort((a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!));
  expect(ran).toHaveLength(4);
  for (let k = 1; k < ran.length; k++) {
    expect(Date.parse(ran[k]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(ran[k - 1]!.finishedAt!));
  }
  const line = calls.order.filter((n) => ['fa', 'fb', 'fc'].includes(n));
  expect(line).toEqual(['fa', 'fb', 'fc']);
  const types = await eventTypes(handle);
  expect(types.filter((t) => t === 'LOCAL runSteps')).toHaveLength(4);
  expect(types.filter((t) => t === 'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED')).toHaveLength(0);
  // One at a time, so each result comes alone on replay as it did the first time: the history replays (fa and ffail
  // both start at once; run together, replay handed their results back together and the run failed to replay).
  const history = await handle.fetchHistory();
  expect(await replayHistories([{ workflowId: handle.workflowId, history }])).toEqual([
    { workflowId: handle.workflowId, runId: expect.any(String) },
  ]);
});

test('a fused pipeline inside a DAG run past its time limit fails RunTimedOut, and its steps see the abort', async () => {
  const input = buildDagInput(dagCatalog, ['fslow', 'fslow_down'], parseWindow('2026-11-19'), 'manual', queue);
  const handle = await startDagRun(client, input, queue, { explicitList: true });
  await slowRunning;
  const state = await awaitDagRun(handle);
  expect(state.nodes.fslow).toMatchObject({
    state: 'failed',
    error: { type: 'RunTimedOut', message: 'the run did not end within its time limit (timeouts.run 2.0s)' },
  });
  expect(state.nodes.fslow_down!.state).toBe('upstream_failed');
  expect(slowAborted.n).toBe(1);
});
