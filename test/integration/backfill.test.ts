import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CancelledFailure, WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Pool } from 'pg';
import { readCatalog } from '../../catalog/load';
import {
  awaitBackfill,
  backfillWorkflowId,
  buildBackfillInput,
  startBackfill,
  type BackfillRequest,
} from '../../cli/backfill';
import { UserError } from '../../cli/errors';
import { definePipeline, type PipelineDefinition } from '../../index';
import type { backfill } from '../../workflows/backfill';
import {
  backfillProgressQuery,
  countWindows,
  firstCursor,
  pauseBackfillSignal,
  resumeBackfillSignal,
  type BackfillProgress,
  windowAt,
} from '../../workflows/backfill-definitions';
import { ScheduleSpec } from '../../core/pipeline-spec';
import { resolveSchedule } from '../../core/schedule';
import { catalogOf } from '../helpers/catalog';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { exited, ROOT, runCli, spawnWorker } from '../helpers/spawn';
import { startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';

const queue = uniqueQueue('backfill');
const group = `bf-${randomBytes(4).toString('hex')}`;
/** `<pipeline> <window start date>` for every extract call. */
const journal: string[] = [];
/** Windows (by start date) whose extract fails. */
const failing = new Set<string>();
/** Windows whose DAG run is between its first extract start and its last extract end. */
const active = new Set<string>();
let peak = 0;
let delayMs = 50;

const day = (ctx: { window: { start: string } }) => ctx.window.start.slice(0, 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pipeline(name: string, extra: Partial<PipelineDefinition>): PipelineDefinition {
  return definePipeline({
    name,
    taskQueue: queue,
    retry: { maximumAttempts: 1 },
    extract: async (ctx) => {
      journal.push(`${name} ${day(ctx)}`);
      if (name === 'bf_src') {
        active.add(day(ctx));
        peak = Math.max(peak, active.size);
      }
      await sleep(delayMs);
      if (name === 'bf_src' && failing.has(day(ctx))) {
        active.delete(day(ctx));
        throw new Error(`source for ${day(ctx)} is broken`);
      }
      if (name === 'bf_down') active.delete(day(ctx));
      return [{ name }];
    },
    load: (rows) => rows.length,
    ...extra,
  });
}

const catalog = catalogOf([
  pipeline('bf_src', { schedule: { every: '1 day', at: '00:00', timezone: 'UTC', group } }),
  pipeline('bf_down', { dependsOn: ['bf_src'] }),
  pipeline('bf_lonely', {}),
]);
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;

beforeAll(async () => {
  const url = await createTestDatabase('backfill');
  client = await testClient();
  worker = await startTestWorker({ catalog, taskQueue: queue, connections: { pipectl: url } });
});

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
});

beforeEach(() => {
  journal.length = 0;
  failing.clear();
  active.clear();
  peak = 0;
  delayMs = 50;
});

async function start(req: BackfillRequest): Promise<WorkflowHandle<typeof backfill>> {
  const input = buildBackfillInput(catalog, req, queue);
  return startBackfill(client, input, `${backfillWorkflowId(req)}/${randomBytes(3).toString('hex')}`, queue);
}

async function until(
  handle: WorkflowHandle<typeof backfill>,
  what: (p: BackfillProgress) => boolean,
): Promise<BackfillProgress> {
  for (let i = 0; i < 1200; i++) {
    const p = await handle.query(backfillProgressQuery).catch(() => undefined);
    if (p && what(p)) return p;
    await sleep(100);
  }
  throw new Error('backfill never reached the expected state');
}

/** The days from `first` for `n` days, as `YYYY-MM-DD`. */
function days(first: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => new Date(Date.parse(first) + i * 86_400_000).toISOString().slice(0, 10));
}

const runsOf = (name: string) =>
  journal
    .filter((l) => l.startsWith(`${name} `))
    .map((l) => l.slice(name.length + 1))
    .sort();

test('30 daily windows with parallel 3: each window runs once, never more than 3 DAG runs at once', async () => {
  const handle = await start({ target: group, from: '2026-01-01', to: '2026-01-31', parallel: 3 });
  let mostRunning = 0;
  let closed = false;
  const result = awaitBackfill(handle).finally(() => (closed = true));
  while (!closed) {
    const p = await handle.query(backfillProgressQuery).catch(() => undefined);
    if (p) mostRunning = Math.max(mostRunning, p.running, p.runningWindows.length);
    await sleep(50);
  }
  const final = await result;
  expect(final).toMatchObject({ status: 'succeeded', total: 30, done: 30, failed: 0, skipped: 0, remaining: 0 });
  expect(runsOf('bf_src')).toEqual(days('2026-01-01', 30));
  expect(runsOf('bf_down')).toEqual(days('2026-01-01', 30));
  expect(peak).toBeLessThanOrEqual(3);
  expect(mostRunning).toBeLessThanOrEqual(3);
  // Each window's DAG run is a child with the group's DAG run ID, marked as a backfill.
  const dag = await client.workflow.getHandle(`dag/${group}/2026-01-15T00:00:00.000Z`).describe();
  expect(dag.status.name).toBe('COMPLETED');
  expect(dag.searchAttributes.RunKind).toEqual(['backfill']);
});

test('pause stops new DAG runs (running ones finish); resume completes the backfill', async () => {
  delayMs = 200;
  const handle = await start({ target: group, from: '2026-02-01', to: '2026-02-21', parallel: 2 });
  await until(handle, (p) => p.done >= 4);
  await handle.signal(pauseBackfillSignal);
  const paused = await until(handle, (p) => p.paused && p.running === 0);
  const seen = journal.length;
  await sleep(1_500);
  expect(journal.length).toBe(seen);
  const still = await handle.query(backfillProgressQuery);
  expect(still).toMatchObject({ paused: true, running: 0, done: paused.done });
  expect(still.remaining).toBeGreaterThan(0);
  await handle.signal(resumeBackfillSignal);
  const final = await awaitBackfill(handle);
  expect(final).toMatchObject({ status: 'succeeded', total: 20, done: 20, paused: false });
  expect(runsOf('bf_src')).toEqual(days('2026-02-01', 20));
});

test('a failing window fails the backfill listing it; the others succeed; skipSucceeded re-runs only it', async () => {
  failing.add('2026-03-05');
  const req = { target: group, from: '2026-03-01', to: '2026-03-11', parallel: 3 };
  const first = await awaitBackfill(await start(req));
  expect(first).toMatchObject({ status: 'failed', total: 10, done: 9, failed: 1, remaining: 0 });
  expect(first.failedWindows).toEqual([
    {
      window: { start: '2026-03-05T00:00:00.000Z', end: '2026-03-06T00:00:00.000Z' },
      error: expect.objectContaining({ type: 'DagRunFailed' }),
    },
  ]);
  expect(runsOf('bf_src')).toEqual(days('2026-03-01', 10));
  expect(runsOf('bf_down')).toEqual(days('2026-03-01', 10).filter((d) => d !== '2026-03-05'));

  failing.clear();
  journal.length = 0;
  const second = await awaitBackfill(await start({ ...req, skipSucceeded: true }));
  expect(second).toMatchObject({ status: 'succeeded', total: 10, done: 1, skipped: 9, failed: 0 });
  expect(journal.sort()).toEqual(['bf_down 2026-03-05', 'bf_src 2026-03-05']);
});

test('continue-as-new every 5 windows: the backfill completes with correct counts', async () => {
  const handle = await start({
    target: group,
    from: '2026-04-01',
    to: '2026-04-13',
    parallel: 2,
    continueAsNewAfter: 5,
  });
  const final = await awaitBackfill(handle);
  expect(final).toMatchObject({ status: 'succeeded', total: 12, done: 12, failed: 0 });
  expect(runsOf('bf_src')).toEqual(days('2026-04-01', 12));
  const described = await client.workflow.getHandle(handle.workflowId).describe();
  expect(described.runId).not.toBe((handle as { firstExecutionRunId?: string }).firstExecutionRunId);
  const events = (await client.workflow.getHandle(handle.workflowId, described.runId).fetchHistory()).events ?? [];
  const startedWith = events[0]?.workflowExecutionStartedEventAttributes;
  expect(startedWith?.continuedExecutionRunId).toBeTruthy();
});

test('a range of 10,000 windows: counted up front, run in order across continue-as-new with a constant carry', async () => {
  delayMs = 0;
  const from = '1990-01-01';
  const handle = await start({ target: group, from, to: '2017-05-19', parallel: 4, continueAsNewAfter: 20 });
  const midway = await until(handle, (p) => p.done >= 60);
  expect(midway.total).toBe(10_000);
  expect(midway.done + midway.running + midway.failed + midway.skipped + midway.remaining).toBe(10_000);
  await handle.cancel();
  await handle.result().catch(() => undefined);
  // Oldest first, each window once: the windows done are the first ones; the few started since are the next ones.
  const ran = runsOf('bf_src');
  expect(new Set(ran).size).toBe(ran.length);
  expect(ran.slice(0, midway.done)).toEqual(days(from, midway.done));
  expect(ran.every((d) => d < days(from, midway.done + 40).pop()!)).toBe(true);
  // The chain of runs: each continued run starts with the same small input (cursor and counts, not the windows).
  const sizes: number[] = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) {
    const history = await client.workflow.getHandle(handle.workflowId, run.runId).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    sizes.push(input?.length ?? 0);
  }
  expect(sizes.length).toBeGreaterThanOrEqual(3);
  expect(Math.max(...sizes)).toBeLessThan(Math.min(...sizes) + 2_000);
}, 120_000);

test('reverse runs the newest window first; a pipeline alone backfills just itself', async () => {
  const final = await awaitBackfill(
    await start({ target: 'bf_src', from: '2026-05-01', to: '2026-05-06', parallel: 1, reverse: true }),
  );
  expect(final).toMatchObject({ status: 'succeeded', total: 5, done: 5 });
  expect(journal).toEqual(
    days('2026-05-01', 5)
      .reverse()
      .map((d) => `bf_src ${d}`),
  );
  const dag = await client.workflow.getHandle(`dag/${group}/2026-05-03T00:00:00.000Z/bf_src`).describe();
  expect(dag.status.name).toBe('COMPLETED');
});

test('cancelling a backfill cancels its running DAG runs and starts no more', async () => {
  delayMs = 1_500;
  const handle = await start({ target: group, from: '2026-07-01', to: '2026-07-11', parallel: 2 });
  const running = await until(handle, (p) => p.running === 2);
  await handle.cancel();
  const err: unknown = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  const dagIds = running.runningWindows.map((w) => `dag/${group}/${w.start}`);
  for (const id of dagIds) expect((await client.workflow.getHandle(id).describe()).status.name).toBe('CANCELLED');
  expect(new Set(runsOf('bf_src')).size).toBeLessThan(10);
});

test('windows come from the schedule one at a time, the same forward and reverse, across a DST change', () => {
  const schedule = resolveSchedule(ScheduleSpec.parse({ every: '1 day', at: '04:00', timezone: 'Europe/Paris' }));
  // From Paris midnight 2026-03-27 to 2026-04-01 04:00: firings 27th … 1st at 04:00, so 5 windows.
  const range = { schedule, from: '2026-03-26T23:00:00.000Z', to: '2026-04-01T02:00:00.000Z' };
  const walk = (reverse: boolean) => {
    const out: string[] = [];
    let cursor = firstCursor({ ...range, reverse });
    for (let w = windowAt({ ...range, reverse }, cursor); w; w = windowAt({ ...range, reverse }, cursor)) {
      out.push(`${w.window.start}/${w.window.end}`);
      cursor = w.next;
    }
    return out;
  };
  const forward = walk(false);
  expect(forward).toEqual([
    '2026-03-27T03:00:00.000Z/2026-03-28T03:00:00.000Z',
    '2026-03-28T03:00:00.000Z/2026-03-29T02:00:00.000Z',
    '2026-03-29T02:00:00.000Z/2026-03-30T02:00:00.000Z',
    '2026-03-30T02:00:00.000Z/2026-03-31T02:00:00.000Z',
    '2026-03-31T02:00:00.000Z/2026-04-01T02:00:00.000Z',
  ]);
  expect(walk(true)).toEqual([...forward].reverse());
  expect(countWindows({ ...range, reverse: false })).toBe(5);
});

test('refuses a pipeline without a schedule and a range without a window', () => {
  expect(() =>
    buildBackfillInput(catalog, { target: 'bf_lonely', from: '2026-01-01', to: '2026-01-05' }, queue),
  ).toThrow(/has no schedule/);
  expect(() =>
    buildBackfillInput(catalog, { target: group, from: '2026-01-01T01:00', to: '2026-01-01T23:00' }, queue),
  ).toThrow(UserError);
  expect(() => buildBackfillInput(catalog, { target: 'nope', from: '2026-01-01', to: '2026-01-05' }, queue)).toThrow(
    /unknown pipeline or group/,
  );
});

describe('with a worker process', () => {
  const crashQueue = uniqueQueue('backfill-crash');
  const dir = join(ROOT, 'test', 'fixtures', 'backfill-crash');
  const workers: ChildProcess[] = [];
  let url: string;
  let db: Pool;

  beforeAll(async () => {
    url = await createTestDatabase('bfcrash');
    db = poolFor(url);
    await db.query('CREATE TABLE public.attempts (day text NOT NULL, pid int NOT NULL, at timestamptz DEFAULT now())');
    await db.query('CREATE TABLE public.daily_counts (day date PRIMARY KEY, n int NOT NULL)');
  });

  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await db?.end();
  });

  const env = () => ({
    PIPECTL_TASK_QUEUE: crashQueue,
    PIPECTL_CONNECTION_WAREHOUSE: url,
    PIPECTL_CONNECTION_PIPECTL: url,
  });

  test('a worker killed midway is replaced and the backfill completes, every window loaded', async () => {
    const { catalog: fixture, issues } = readCatalog(dir);
    expect(issues).toEqual([]);
    const first = await spawnWorker(['--dir', dir], env());
    workers.push(first);
    const req = { target: 'backfill-crash', from: '2026-06-01', to: '2026-06-13', parallel: 2 };
    const input = buildBackfillInput(fixture, req, crashQueue);
    const handle = await startBackfill(
      client,
      input,
      `${backfillWorkflowId(req)}/${randomBytes(3).toString('hex')}`,
      crashQueue,
    );

    // Kill the worker once some windows are done and others are running.
    await until(handle, (p) => p.done >= 3 && p.running > 0);
    first.kill('SIGKILL');
    await exited(first);
    const second = await spawnWorker(['--dir', dir], env());
    workers.push(second);

    const final = await awaitBackfill(handle);
    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
    expect(final).toMatchObject({ status: 'succeeded', total: 12, done: 12, failed: 0, remaining: 0 });
    const loaded = await db.query<{ day: string }>(
      "SELECT to_char(day, 'YYYY-MM-DD') AS day FROM public.daily_counts ORDER BY day",
    );
    expect(loaded.rows.map((r) => r.day)).toEqual(days('2026-06-01', 12));
    const pids = await db.query<{ pid: number }>('SELECT DISTINCT pid FROM public.attempts');
    expect(pids.rows.map((r) => r.pid).sort()).toEqual([first.pid, second.pid].sort());
  });

  test('pipectl backfill runs a range and exits 0; status reports it; pause of a closed backfill exits 1', async () => {
    const worker = await spawnWorker(['--dir', dir], env());
    workers.push(worker);
    const cliEnv = { ...env(), PIPECTL_PIPELINES_DIR: dir };
    const args = ['backfill', 'daily_counts', '--from', '2026-08-01', '--to', '2026-08-04', '--parallel', '2'];
    const run = await runCli([...args, '--json'], cliEnv);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const id = 'backfill/daily_counts/2026-08-01/2026-08-04';
    expect(JSON.parse(run.stdout)).toMatchObject({ workflowId: id, status: 'succeeded', total: 3, done: 3 });
    const dag = await client.workflow.getHandle('dag/backfill-crash/2026-08-02T00:00:00.000Z/daily_counts').describe();
    expect(dag.status.name).toBe('COMPLETED');

    const status = await runCli(['backfill', 'status', id, '--json'], cliEnv);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'succeeded', done: 3, failed: 0 });
    const pause = await runCli(['backfill', 'pause', id], cliEnv);
    expect(pause.code).toBe(1);
    expect(pause.stderr).toMatch(/not running/);
    const missing = await runCli(['backfill', 'daily_counts', '--from', '2026-08-01'], cliEnv);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--from and --to/);
    worker.kill('SIGTERM');
    await exited(worker);
  });
});
