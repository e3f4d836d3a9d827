import { join } from 'node:path';
import type { Client, ScheduleSummary } from '@temporalio/client';
import { readCatalog } from '../../catalog/load';
import { awaitDagRun } from '../../cli/dag-state';
import type { ScheduleRow } from '../../cli/schedule-control';
import { nextFirings, resolveSchedule } from '../../core/schedule';
import { formatInZone, zonedParts } from '../../core/time';
import { applySync, awaitListed, planSync } from '../../cli/sync';
import { pausedPipelinesOf, storedMemo } from '../../temporal-config/schedules';
import { PAUSED_PIPELINES, SCHEDULE_HASH } from '../../temporal-config/search-attributes';
import type { dagRun } from '../../workflows/dag-run';
import { createTestDatabase } from '../helpers/postgres';
import { ROOT, runCli } from '../helpers/spawn';
import { namespaceClient, startTestWorker, uniqueQueue } from '../helpers/temporal';

/**
 * `pipectl schedules`, `pause`, `resume` and `trigger` through the real CLI, against Schedules made by `pipectl sync`
 * in a namespace of this file's own, with a worker running the groups' DAG runs.
 */
const namespace = 'pipectl-schedules';
const dir = join(ROOT, 'test', 'fixtures', 'schedules');
const queue = uniqueQueue('sched');
const env = { TEMPORAL_NAMESPACE: namespace, PIPECTL_TASK_QUEUE: queue };
const DAILY = 'pipectl-sched-daily';
const HOURLY = 'pipectl-sched-hourly';

let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;

const cli = (...args: string[]) => runCli([...args, '--dir', dir], env);

async function json<T>(...args: string[]): Promise<T> {
  const res = await cli(...args, '--json');
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  return JSON.parse(res.stdout) as T;
}

const rowsOf = async () =>
  Object.fromEntries(
    (await json<{ schedules: ScheduleRow[] }>('schedules')).schedules.map((r) => [r.group, r] as const),
  );

/** Triggers the daily group through the CLI and waits for the DAG run it started; returns node states and errors. */
async function triggerDaily() {
  const out = await json<{ workflowId: string; window: { start: string; end: string } }>('trigger', 'sched-daily');
  const state = await awaitDagRun(client.workflow.getHandle<typeof dagRun>(out.workflowId));
  expect(state.window).toEqual(out.window);
  const nodes = Object.fromEntries(Object.entries(state.nodes).map(([n, s]) => [n, s.state]));
  return { out, state, nodes };
}

beforeAll(async () => {
  client = await namespaceClient(namespace);
  const { catalog } = readCatalog(dir);
  const url = await createTestDatabase('schedules');
  worker = await startTestWorker({ catalog, taskQueue: queue, connections: { pipectl: url }, namespace });
});

afterAll(async () => {
  for (const id of [DAILY, HOURLY])
    await client?.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  await worker?.stop();
  await client?.connection.close();
});

test('before a sync, schedules lists every group with its next firings from the definition', async () => {
  const rows = await rowsOf();
  expect(Object.keys(rows).sort()).toEqual(['sched-daily', 'sched-hourly']);
  const daily = rows['sched-daily']!;
  expect(daily.sync).toBe('not synced');
  expect(daily.pipelines).toEqual(['sched_a', 'sched_b', 'sched_c', 'sched_d']);
  expect(daily.schedule).toBe('daily at 04:00 Europe/Paris');
  expect(daily.nextSource).toBe('definition');
  expect(daily.next).toHaveLength(3);
  const text = await cli('schedules');
  expect(text.code).toBe(0);
  expect(text.stdout).toContain('not synced (pipectl sync creates it)');
});

test('after a sync: the next three firings as Temporal reports them, on the wall clock of the group', async () => {
  const synced = await cli('sync');
  expect(synced.code).toBe(0);
  const rows = await rowsOf();
  for (const [group, id] of [
    ['sched-daily', DAILY],
    ['sched-hourly', HOURLY],
  ] as const) {
    const row = rows[group]!;
    expect(row.sync).toBe('in sync');
    expect(row.nextSource).toBe('temporal');
    expect(row.paused).toBe(false);
    const reported = (await client.schedule.getHandle(id).describe()).info.nextActionTimes.slice(0, 3);
    expect(row.next.map((n) => n.at)).toEqual(reported.map((d) => d.toISOString()));
  }
  // Daily at 04:00 in Paris: each firing reads 04:00 there, with Paris's offset of that day (+01:00 or +02:00).
  const daily = rows['sched-daily']!;
  for (const n of daily.next) {
    const at = Date.parse(n.at);
    expect(zonedParts(at, 'Europe/Paris')).toMatchObject({ hour: 4, minute: 0 });
    expect(n.local).toMatch(/^\d{4}-\d{2}-\d{2} 04:00 \+0[12]:00$/);
  }
  // Hourly at :15 in New York: three consecutive hours, each at :15 local (New York's offsets are whole hours).
  const hourly = rows['sched-hourly']!.next.map((n) => Date.parse(n.at));
  expect(hourly[1]! - hourly[0]!).toBe(3_600_000);
  expect(hourly[2]! - hourly[1]!).toBe(3_600_000);
  expect(rows['sched-hourly']!.next.map((n) => n.local)).toEqual(
    hourly.map((t) => formatInZone(t, 'America/New_York')),
  );
  expect(rows['sched-hourly']!.next[0]!.local).toMatch(/:15 -0[45]:00$/);
  const solo = readCatalog(dir).catalog.groups.get('sched-hourly')!.schedule;
  expect(nextFirings(resolveSchedule(solo), hourly[0]! - 1, 3)).toEqual(hourly);
});

test('pausing a pipeline inside its group: the group runs skip it and its downstream; the Schedule shows it', async () => {
  const res = await cli('pause', 'sched_b', '--note', 'source under migration');
  expect(res.code).toBe(0);
  expect(res.stdout).toContain('✓ paused pipeline sched_b in group sched-daily');
  expect(res.stdout).toContain("the group's runs skip it and everything downstream of it");

  const schedule = await client.schedule.getHandle(DAILY).describe();
  expect(schedule.state.paused).toBe(false);
  const paused = pausedPipelinesOf(schedule.action);
  expect(Object.keys(paused)).toEqual(['sched_b']);
  expect(paused.sched_b).toMatchObject({ note: 'source under migration', downstream: 'skip' });
  // What the Web UI shows on the Schedule: its action's summary and details.
  expect(schedule.action.staticSummary).toBe('DAG sched-daily · 4 pipelines · scheduled · 1 paused');
  expect(schedule.action.staticDetails).toContain('Paused pipelines: sched_b (since ');
  expect(schedule.action.staticDetails).toContain('downstream skipped; source under migration)');

  const listed = await cli('schedules');
  expect(listed.stdout).toMatch(/paused +sched_b \(since .*; downstream skipped; source under migration\)/);

  const { out, state, nodes } = await triggerDaily();
  expect(nodes).toEqual({ sched_a: 'succeeded', sched_b: 'skipped', sched_c: 'skipped', sched_d: 'succeeded' });
  expect(state.status).toBe('succeeded');
  expect(state.nodes.sched_b!.error).toMatchObject({ type: 'PipelinePaused' });
  expect(state.nodes.sched_b!.error!.message).toMatch(/^paused since .*: source under migration$/);
  expect(state.nodes.sched_c!.error).toEqual({
    type: 'UpstreamPaused',
    message: 'skipped because upstream sched_b is paused',
  });
  expect(state.nodes.sched_b!.attempts).toBe(0);
  const run = await client.workflow.getHandle(out.workflowId).describe();
  expect(await run.staticSummary()).toBe('DAG sched-daily · 4 pipelines · scheduled · 1 paused');
}, 60_000);

test('with --downstream run, the downstream of a paused pipeline still runs', async () => {
  const res = await json<{ outcome: string; pausedPipelines: Record<string, { downstream: string }> }>(
    'pause',
    'sched_b',
    '--downstream',
    'run',
  );
  expect(res.outcome).toBe('done');
  expect(res.pausedPipelines.sched_b!.downstream).toBe('run');
  const { nodes } = await triggerDaily();
  expect(nodes).toEqual({ sched_a: 'succeeded', sched_b: 'skipped', sched_c: 'succeeded', sched_d: 'succeeded' });
}, 60_000);

test('a sync that changes the group keeps the pipelines paused inside it', async () => {
  const res = await runCli(['sync', '--dir', dir, '--json'], { ...env, PIPECTL_TASK_QUEUE: `${queue}-moved` });
  const out = JSON.parse(res.stdout) as { plan: { scheduleId: string; action: string }[] };
  expect(out.plan.find((e) => e.scheduleId === DAILY)!.action).toBe('update');
  const schedule = await client.schedule.getHandle(DAILY).describe();
  expect(schedule.action.taskQueue).toBe(`${queue}-moved`);
  expect(Object.keys(pausedPipelinesOf(schedule.action))).toEqual(['sched_b']);
  expect(schedule.action.staticSummary).toBe('DAG sched-daily · 4 pipelines · scheduled · 1 paused');
  // And back, so the worker of this file runs the group again.
  expect((await cli('sync')).code).toBe(0);
  const back = await client.schedule.getHandle(DAILY).describe();
  // Right after the change, the revert is seen and applied (the first sync ended once the list showed its change).
  expect(back.action.taskQueue).toBe(queue);
  expect(Object.keys(pausedPipelinesOf(back.action))).toEqual(['sched_b']);
  // What a sync with no change reads from one list instead of describing each Schedule: the hash and the paused.
  // The sync returns once the list shows its change.
  let summary: ScheduleSummary | undefined;
  for await (const listed of client.schedule.list()) if (listed.scheduleId === DAILY) summary = listed;
  expect(summary?.typedSearchAttributes?.get(SCHEDULE_HASH)).toBe(storedMemo(back.action.memo)!.hash);
  expect(summary?.typedSearchAttributes?.get(PAUSED_PIPELINES)).toEqual(['sched_b']);
  const again = await json<{ plan: { scheduleId: string; action: string; pausedPipelines?: string[] }[] }>('sync');
  expect(again.plan.find((e) => e.scheduleId === DAILY)).toMatchObject({
    action: 'unchanged',
    pausedPipelines: ['sched_b'],
  });
});

test('a change reverted at once is applied: a sync ends only once the Schedule list shows its change', async () => {
  const { catalog } = readCatalog(dir);
  for (const taskQueue of [`${queue}-again`, queue]) {
    const plan = await planSync(client, catalog, taskQueue, { prune: false });
    expect(plan.entries.find((e) => e.scheduleId === DAILY)!.action).toBe('update');
    const results = await applySync(client, plan);
    expect(await awaitListed(client, plan, results)).toEqual([]);
  }
  expect((await client.schedule.getHandle(DAILY).describe()).action.taskQueue).toBe(queue);
});

test('resuming the pipeline: the next run runs it again', async () => {
  const res = await cli('resume', 'sched_b');
  expect(res.code).toBe(0);
  expect(res.stdout).toContain('✓ resumed pipeline sched_b in group sched-daily');
  const again = await cli('resume', 'sched_b');
  expect(again.stdout).toContain('pipeline sched_b in group sched-daily was already resumed');
  const schedule = await client.schedule.getHandle(DAILY).describe();
  expect(pausedPipelinesOf(schedule.action)).toEqual({});
  expect(schedule.action.staticSummary).toBe('DAG sched-daily · 4 pipelines · scheduled');
  const { nodes } = await triggerDaily();
  expect(nodes).toEqual({ sched_a: 'succeeded', sched_b: 'succeeded', sched_c: 'succeeded', sched_d: 'succeeded' });
}, 60_000);

test('pausing a group (or the only pipeline of one) pauses its Schedule with the note; resume unpauses it', async () => {
  const res = await cli('pause', 'sched_solo', '--note', 'vendor outage');
  expect(res.code).toBe(0);
  expect(res.stdout).toContain('✓ paused group sched-hourly (Schedule pipectl-sched-hourly)');
  let schedule = await client.schedule.getHandle(HOURLY).describe();
  expect(schedule.state).toMatchObject({ paused: true, note: 'vendor outage' });
  const row = (await rowsOf())['sched-hourly']!;
  expect(row).toMatchObject({ paused: true, note: 'vendor outage' });
  expect((await cli('schedules')).stdout).toContain('sched-hourly  pipectl-sched-hourly  paused: vendor outage');

  const resumed = await json<{ outcome: string; schedulePaused: boolean }>('resume', 'sched-hourly');
  expect(resumed).toMatchObject({ outcome: 'done', schedulePaused: false });
  schedule = await client.schedule.getHandle(HOURLY).describe();
  expect(schedule.state.paused).toBe(false);
});

test('trigger under the Schedule overlap policy: a second trigger while a run is going is not started', async () => {
  await worker.stop();
  try {
    const first = await json<{ workflowId: string }>('trigger', 'sched-daily');
    expect(first.workflowId).toMatch(/^dag\/sched-daily-/);
    const second = await cli('trigger', 'sched-daily');
    expect(second.code).toBe(1);
    expect(second.stdout).toContain('not started: a run of sched-daily is still going');
    expect(second.stdout).toContain(first.workflowId);
    await client.workflow.getHandle(first.workflowId).terminate('test done');
  } finally {
    const { catalog } = readCatalog(dir);
    const url = await createTestDatabase('schedules2');
    worker = await startTestWorker({ catalog, taskQueue: queue, connections: { pipectl: url }, namespace });
  }
}, 60_000);

test('clear errors: unknown names, a pipeline without a schedule, trigger of a pipeline, a bad --downstream', async () => {
  const unknown = await cli('pause', 'nope');
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain("no pipeline or group named 'nope'");
  expect(unknown.stderr).toContain('groups: sched-daily, sched-hourly');
  const adhoc = await cli('pause', 'sched_adhoc');
  expect(adhoc.code).toBe(1);
  expect(adhoc.stderr).toContain("pipeline 'sched_adhoc' has no schedule and runs in no group");
  const trig = await cli('trigger', 'sched_b');
  expect(trig.code).toBe(1);
  expect(trig.stderr).toContain("it is a pipeline of group 'sched-daily' (pipectl trigger sched-daily)");
  const bad = await cli('pause', 'sched_b', '--downstream', 'maybe');
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain("--downstream must be skip or run, not 'maybe'");
  const groupDownstream = await cli('pause', 'sched-daily', '--downstream', 'run');
  expect(groupDownstream.code).toBe(1);
  expect(pausedPipelinesOf((await client.schedule.getHandle(DAILY).describe()).action)).toEqual({});
  expect((await client.schedule.getHandle(DAILY).describe()).state.paused).toBe(false);
});
