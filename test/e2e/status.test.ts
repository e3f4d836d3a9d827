import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { readCatalog } from '../../catalog/load';
import { awaitDagRun } from '../../cli/dag-state';
import { withOutcomes, type PipelineStatus, type RunRow } from '../../cli/status';
import type { dagRun } from '../../workflows/dag-run';
import { createTestDatabase } from '../helpers/postgres';
import { ROOT, runCli } from '../helpers/spawn';
import { namespaceClient, startTestWorker, uniqueQueue } from '../helpers/temporal';

/**
 * `pipectl status` and `pipectl runs` through the real CLI, in a namespace of this file's own, over runs started with
 * `pipectl run`, `pipectl trigger` and `pipectl backfill` and executed by an in-process worker.
 */
const namespace = 'pipectl-status';
const dir = join(ROOT, 'test', 'fixtures', 'status');
const queue = uniqueQueue('status');
const env = { TEMPORAL_NAMESPACE: namespace, PIPECTL_TASK_QUEUE: queue };
const SCHEDULE = 'pipectl-st-daily';

let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;

const cli = (...args: string[]) => runCli([...args, '--dir', dir], env);

async function json<T>(...args: string[]): Promise<T> {
  const res = await cli(...args, '--json');
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  return JSON.parse(res.stdout) as T;
}

/** `pipectl status --json` by pipeline name. */
async function statuses(): Promise<Record<string, PipelineStatus>> {
  const out = await json<{ namespace: string; pipelines: PipelineStatus[] }>('status');
  expect(out.namespace).toBe(namespace);
  return Object.fromEntries(out.pipelines.map((p) => [p.name, p]));
}

/** Visibility catches up with a closed run a moment after it closes: asks again until `check` passes. */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => void, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    try {
      check(value);
      return value;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/** The line of a table in stdout that starts with `first`. */
const lineOf = (stdout: string, first: string) => stdout.split('\n').find((l) => l.startsWith(`${first} `)) ?? '';

beforeAll(async () => {
  client = await namespaceClient(namespace);
  const { catalog } = readCatalog(dir);
  const url = await createTestDatabase('status');
  worker = await startTestWorker({ catalog, taskQueue: queue, connections: { pipectl: url }, namespace });
});

afterAll(async () => {
  await client?.schedule
    .getHandle(SCHEDULE)
    .delete()
    .catch(() => undefined);
  await worker?.stop();
  await client?.connection.close();
});

test('before any run: every pipeline with its group and schedule in words, never run, its group not synced', async () => {
  const all = await statuses();
  expect(Object.keys(all)).toEqual(['st_down', 'st_flaky', 'st_never', 'st_ok', 'st_sched']);
  expect(all.st_never).toEqual({
    name: 'st_never',
    group: null,
    schedule: null,
    paused: null,
    lastRun: null,
    nextRun: null,
    sync: null,
    lastError: null,
  });
  expect(all.st_sched).toMatchObject({ group: 'st-daily', schedule: 'daily at 04:00', sync: 'not synced' });
  expect(all.st_down).toMatchObject({ group: 'st-daily', schedule: 'after upstreams: daily at 04:00' });
  const text = await cli('status');
  expect(text.code).toBe(0);
  expect(text.stdout.split('\n')[0]).toMatch(/^pipeline +group +schedule +paused +last run +window +finished/);
  expect(lineOf(text.stdout, 'st_never')).toMatch(/^st_never +none +by hand +never$/);
  expect(lineOf(text.stdout, 'st_sched')).toMatch(/st-daily +daily at 04:00 +never +not synced$/);
});

test('a succeeded run: its state, window, finish, duration and rows loaded', async () => {
  const run = await cli('run', 'st_ok', '--window', '2026-11-20');
  expect(run.code).toBe(0);
  const ok = (await eventually(statuses, (all) => expect(all.st_ok!.lastRun?.status).toBe('succeeded'))).st_ok!;
  expect(ok.lastRun).toMatchObject({
    workflowId: 'pipeline/st_ok/2026-11-20T00:00:00.000Z',
    kind: 'manual',
    window: { start: '2026-11-20T00:00:00.000Z', end: '2026-11-21T00:00:00.000Z' },
    rowsLoaded: 3,
  });
  expect(Date.parse(ok.lastRun!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(ok.lastRun!.startedAt));
  expect(ok.lastRun!.durationMs).toBeGreaterThanOrEqual(0);
  expect(ok.lastError).toBeNull();
  const line = lineOf((await cli('status')).stdout, 'st_ok');
  expect(line).toMatch(/^st_ok +none +by hand +succeeded +2026-11-20 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\S+ +3$/);
}, 60_000);

test('a closed run that visibility still lists as running is settled from the run itself', async () => {
  const id = 'pipeline/st_ok/2026-11-20T00:00:00.000Z';
  const { runId } = await client.workflow.getHandle(id).describe();
  // A row as visibility lists a run in the moment after it closed: its own state already says it is done.
  const stale: RunRow = { workflowId: id, runId, status: 'running', startedAt: '2026-11-22T00:00:00.000Z' };
  const gone: RunRow = { ...stale, workflowId: 'pipeline/st_ok/1999-01-01T00:00:00.000Z' };
  const [settled, unknown] = await withOutcomes(client, [stale, gone]);
  expect(settled).toMatchObject({ workflowId: id, runId, status: 'succeeded', kind: 'manual', rowsLoaded: 3 });
  expect(Date.parse(settled!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(settled!.startedAt));
  expect(settled!.startedAt).not.toBe(stale.startedAt);
  // A run that cannot be described (never existed, or its history aged out) keeps what visibility said.
  expect(unknown).toEqual(gone);
});

test('a pipeline whose latest run failed shows the error type and message; an earlier success does not hide it', async () => {
  expect((await cli('run', 'st_flaky', '--window', '2026-11-20')).code).toBe(0);
  const failed = await cli('run', 'st_flaky', '--window', '2026-11-21');
  expect(failed.code).toBe(1);
  const flaky = (await eventually(statuses, (all) => expect(all.st_flaky!.lastRun?.status).toBe('failed'))).st_flaky!;
  expect(flaky.lastRun).toMatchObject({
    workflowId: 'pipeline/st_flaky/2026-11-21T00:00:00.000Z',
    window: { start: '2026-11-21T00:00:00.000Z', end: '2026-11-22T00:00:00.000Z' },
  });
  expect(flaky.lastRun!.rowsLoaded).toBeUndefined();
  expect(flaky.lastError).toEqual({ type: 'SourceMissing', message: 'extractRows: no export for 2026-11-21' });
  const line = lineOf((await cli('status')).stdout, 'st_flaky');
  expect(line).toMatch(/ failed +2026-11-21 .* SourceMissing: extractRows: no export for 2026-11-21$/);
}, 60_000);

test('runs lists the recent runs of a pipeline newest first, with kind, window, status and rows', async () => {
  expect((await cli('sync')).code).toBe(0);
  expect((await cli('run', 'st_sched', '--window', '2026-11-20')).code).toBe(0);
  const triggered = await json<{ workflowId: string; window: { start: string; end: string } }>('trigger', 'st-daily');
  const dag = await awaitDagRun(client.workflow.getHandle<typeof dagRun>(triggered.workflowId));
  expect(dag.status).toBe('succeeded');
  const backfill = await cli('backfill', 'st-daily', '--from', '2026-11-10', '--to', '2026-11-12T04:00');
  expect(backfill.code).toBe(0);

  const from4 = (start: string, end: string) => ({ start: `${start}T04:00:00.000Z`, end: `${end}T04:00:00.000Z` });
  const out = await eventually(
    () => json<{ namespace: string; pipeline: string; runs: RunRow[] }>('runs', 'st_sched'),
    (o) => expect(o.runs.filter((r) => r.status === 'succeeded')).toHaveLength(4),
  );
  expect(out).toMatchObject({ namespace, pipeline: 'st_sched' });
  expect(out.runs.map((r) => [r.kind, r.window, r.status, r.rowsLoaded])).toEqual([
    ['backfill', from4('2026-11-11', '2026-11-12'), 'succeeded', 2],
    ['backfill', from4('2026-11-10', '2026-11-11'), 'succeeded', 2],
    ['scheduled', triggered.window, 'succeeded', 2],
    ['manual', { start: '2026-11-20T00:00:00.000Z', end: '2026-11-21T00:00:00.000Z' }, 'succeeded', 2],
  ]);
  expect(out.runs[3]!.workflowId).toBe('pipeline/st_sched/2026-11-20T00:00:00.000Z');
  const starts = out.runs.map((r) => Date.parse(r.startedAt));
  expect([...starts].sort((a, b) => b - a)).toEqual(starts);

  const limited = await json<{ runs: RunRow[] }>('runs', 'st_sched', '--limit', '2');
  expect(limited.runs.map((r) => r.kind)).toEqual(['backfill', 'backfill']);

  const text = await cli('runs', 'st_sched');
  expect(text.code).toBe(0);
  const lines = text.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^workflow ID +kind +window +status +started \(UTC\) +took +rows +error$/);
  expect(lines.slice(1).map((l) => l.split(/ {2,}/)[1])).toEqual(['backfill', 'backfill', 'scheduled', 'manual']);
  expect(lines[4]).toMatch(/^pipeline\/st_sched\/2026-11-20T00:00:00.000Z +manual +2026-11-20 +succeeded .* 2$/);

  const flaky = await json<{ runs: RunRow[] }>('runs', 'st_flaky');
  expect(flaky.runs.map((r) => [r.window?.start.slice(0, 10), r.status, r.error?.type])).toEqual([
    ['2026-11-21', 'failed', 'SourceMissing'],
    ['2026-11-20', 'succeeded', undefined],
  ]);
}, 120_000);

test('a paused group: its pipelines show paused with the note, and the next firing Temporal reports', async () => {
  const paused = await cli('pause', 'st-daily', '--note', 'vendor outage');
  expect(paused.code).toBe(0);
  const all = await statuses();
  const next = (await client.schedule.getHandle(SCHEDULE).describe()).info.nextActionTimes[0];
  expect(next).toBeDefined();
  for (const name of ['st_sched', 'st_down']) {
    expect(all[name]).toMatchObject({
      group: 'st-daily',
      sync: 'in sync',
      paused: { by: 'group', note: 'vendor outage' },
      nextRun: { at: next!.toISOString() },
      lastRun: { status: 'succeeded' },
    });
  }
  expect(all.st_ok!.paused).toBeNull();
  const line = lineOf((await cli('status')).stdout, 'st_sched');
  expect(line).toMatch(
    /^st_sched +st-daily +daily at 04:00 +group +succeeded .* \d{4}-\d\d-\d\d 04:00 \+00:00 \(paused\)$/,
  );
  expect((await cli('resume', 'st-daily')).code).toBe(0);
});

test('runs of an unknown pipeline names it and the folder, and exits 1', async () => {
  const res = await cli('runs', 'nope');
  expect(res.code).toBe(1);
  expect(res.stderr).toContain(`no pipeline named 'nope' in ${dir}`);
  expect(res.stderr).toContain('known: st_down, st_flaky, st_never, st_ok, st_sched');
  const group = await cli('runs', 'st-daily');
  expect(group.code).toBe(1);
  expect(group.stderr).toContain("'st-daily' is a group: give one of its pipelines (st_down, st_sched)");
  const limit = await cli('runs', 'st_ok', '--limit', 'lots');
  expect(limit.code).toBe(1);
  expect(limit.stderr).toContain("--limit must be a whole number from 1 to 1000, not 'lots'");
});
