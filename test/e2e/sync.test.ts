import { join } from 'node:path';
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { TypedSearchAttributes } from '@temporalio/common';
import { ROOT, runCli } from '../helpers/spawn';
import { testClient } from '../helpers/temporal';

/**
 * `pipectl sync` against the real server. Every group here is named `synctest-…`, and no other test file creates
 * pipectl Schedules, so `--prune` here deletes only this file's Schedules.
 */
const fixtures = join(ROOT, 'test', 'fixtures', 'sync');
const v1 = join(fixtures, 'v1');
const v2 = join(fixtures, 'v2');
const invalid = join(fixtures, 'invalid');
const DAILY = 'pipectl-synctest-daily';
const WEEKLY = 'pipectl-synctest-weekly';
const HANDMADE = 'pipectl-synctest-handmade';
const env = { PIPECTL_TASK_QUEUE: 'synctest-queue' };

let client: Client;

interface SyncJson {
  dryRun: boolean;
  plan: { scheduleId: string; action: string; changes?: string[]; paused?: boolean }[];
  counts: Record<string, number>;
  results: { scheduleId: string; action: string; outcome: string }[];
}

async function sync(dir: string, ...flags: string[]): Promise<SyncJson> {
  const res = await runCli(['sync', '--dir', dir, '--json', ...flags], env);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  return JSON.parse(res.stdout) as SyncJson;
}

async function exists(scheduleId: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(scheduleId).describe();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

const actions = (out: SyncJson) => Object.fromEntries(out.plan.map((e) => [e.scheduleId, e.action]));

beforeAll(async () => {
  client = await testClient();
});

afterAll(async () => {
  for (const id of [DAILY, WEEKLY, HANDMADE]) {
    await client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  }
  await client?.connection.close();
});

test('--dry-run prints the plan and creates nothing', async () => {
  const res = await runCli(['sync', '--dir', v1, '--dry-run'], env);
  expect(res.code).toBe(0);
  expect(res.stdout).toContain(`+ create    ${DAILY}`);
  expect(res.stdout).toContain('synctest_orders, synctest_refunds, synctest_revenue');
  expect(res.stdout).toContain('2 to create, 0 to update, 0 unchanged, 0 to delete');
  expect(res.stdout).toContain('Dry run: nothing changed.');
  expect(await exists(DAILY)).toBe(false);
  expect(await exists(WEEKLY)).toBe(false);
});

test('sync creates one Schedule per group that starts a scheduled DAG run', async () => {
  const out = await sync(v1);
  expect(actions(out)).toEqual({ [DAILY]: 'create', [WEEKLY]: 'create' });
  expect(out.results.map((r) => r.outcome)).toEqual(['done', 'done']);

  const daily = await client.schedule.getHandle(DAILY).describe();
  expect(daily.memo).toEqual({ pipectl: { owner: 'pipectl', group: 'synctest-daily' } });
  expect(daily.state.paused).toBe(false);
  expect(daily.spec.timezone).toBe('Europe/Paris');
  expect(daily.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 4, end: 4, step: 1 }] });
  expect(daily.action).toMatchObject({
    workflowType: 'dagRun',
    workflowId: 'dag/synctest-daily',
    taskQueue: 'synctest-queue',
  });
  const input = daily.action.args?.[0] as { group: string; kind: string; firing: unknown; window?: unknown };
  expect(input).toMatchObject({ group: 'synctest-daily', kind: 'scheduled' });
  expect(input.firing).toBeDefined();
  expect(input.window).toBeUndefined();
  expect(
    (daily.action.typedSearchAttributes as TypedSearchAttributes).getAll().map((p) => [p.key.name, p.value]),
  ).toEqual(
    expect.arrayContaining([
      ['PipelineGroup', 'synctest-daily'],
      ['RunKind', 'scheduled'],
    ]),
  );
  const weekly = await client.schedule.getHandle(WEEKLY).describe();
  expect(weekly.policies.overlap).toBe('BUFFER_ONE');
});

test('a second sync right after reports zero changes', async () => {
  const out = await sync(v1);
  expect(actions(out)).toEqual({ [DAILY]: 'unchanged', [WEEKLY]: 'unchanged' });
  expect(out.counts).toMatchObject({ create: 0, update: 0, delete: 0, unchanged: 2 });
});

test('--dry-run of a change changes nothing', async () => {
  const before = await client.schedule.getHandle(DAILY).describe();
  const out = await sync(v2, '--dry-run');
  expect(out.plan.find((e) => e.scheduleId === DAILY)).toMatchObject({ action: 'update', changes: ['schedule'] });
  expect(out.results).toEqual([]);
  const after = await client.schedule.getHandle(DAILY).describe();
  expect(after.spec).toEqual(before.spec);
  expect(after.action.memo).toEqual(before.action.memo);
});

test('an update keeps a paused Schedule paused with its note; a removed group is left alone without --prune', async () => {
  await client.schedule.getHandle(DAILY).pause('maintenance until Monday');
  const out = await sync(v2);
  expect(actions(out)).toEqual({ [DAILY]: 'update', [WEEKLY]: 'keep' });
  expect(out.plan.find((e) => e.scheduleId === DAILY)).toMatchObject({ changes: ['schedule'], paused: true });
  const daily = await client.schedule.getHandle(DAILY).describe();
  expect(daily.state).toMatchObject({ paused: true, note: 'maintenance until Monday' });
  expect(daily.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 5, end: 5, step: 1 }] });
  expect(await exists(WEEKLY)).toBe(true);

  const text = await runCli(['sync', '--dir', v2], env);
  expect(text.stdout).toContain(`= unchanged ${DAILY}  (paused)`);
  expect(text.stdout).toContain('left alone (use --prune to delete it)');
});

test('--prune deletes a removed group and never touches a Schedule pipectl did not create', async () => {
  await client.schedule.create({
    scheduleId: HANDMADE,
    spec: { intervals: [{ every: '1 day' }] },
    action: { type: 'startWorkflow', workflowType: 'dagRun', taskQueue: 'synctest-elsewhere', args: [] },
    state: { paused: true, note: 'made by hand' },
  });
  const before = await client.schedule.getHandle(HANDMADE).describe();
  const out = await sync(v2, '--prune');
  expect(actions(out)).toEqual({ [DAILY]: 'unchanged', [WEEKLY]: 'delete' });
  expect(await exists(WEEKLY)).toBe(false);
  const after = await client.schedule.getHandle(HANDMADE).describe();
  expect(after.spec).toEqual(before.spec);
  expect(after.state).toEqual(before.state);
});

test('two syncs at once end in the same correct state', async () => {
  const [a, b] = await Promise.all([sync(v1), sync(v1)]);
  expect(a.plan.length).toBe(2);
  expect(b.plan.length).toBe(2);
  const out = await sync(v1);
  expect(actions(out)).toEqual({ [DAILY]: 'unchanged', [WEEKLY]: 'unchanged' });
  const daily = await client.schedule.getHandle(DAILY).describe();
  expect(daily.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 4, end: 4, step: 1 }] });
  expect(daily.state.paused).toBe(true);
  expect(await exists(HANDMADE)).toBe(true);
});

test('an invalid definition exits 1 naming it, and changes nothing on the server', async () => {
  const before = await client.schedule.getHandle(DAILY).describe();
  const res = await runCli(['sync', '--dir', invalid, '--prune'], env);
  expect(res.code).toBe(1);
  // Every bad schedule is reported at once, each naming its pipeline and the field.
  for (const [pipeline, problem] of [
    ['synctest_broken', "schedule.at: at '25:00': '25:00' is not a time of day"],
    ['synctest_bad_zone', 'schedule.timezone: unknown time zone'],
    ['synctest_zero_days', 'schedule.every: every is '],
    ['synctest_cron4', 'schedule.cron: a cron expression has 5 fields'],
    ['synctest_cron_minute', "schedule.cron: cron '61 * * * *': minute '61' is not 0 to 59"],
    ['synctest_hour24', 'schedule.hours.0: hours run from 0 to 23'],
    ['synctest_weekday7', 'schedule.weekdays.0: weekdays run from 0 (Sunday) to 6'],
    ['synctest_month13', 'schedule.months.0: months run from 1 to 12'],
    ['synctest_end_first', 'schedule.end: end must be after start'],
    ['synctest_feb31', 'schedule.at: the schedule can never fire: no month in it has day 31'],
    ['synctest_five_months', "schedule.every: every '5 months' does not divide a year"],
    ['synctest_weekday_daily', "schedule.at: at 'Mon 09:00' (a weekday) does not fit every 'daily'"],
    ['synctest_overlap', 'schedule.overlap: '],
  ])
    expect(res.stderr).toContain(`pipeline '${pipeline}': ${problem}`);
  expect(res.stderr).toContain('13 problems');
  expect(res.stdout).toBe('');
  expect(await exists('pipectl-synctest-invalid')).toBe(false);
  expect(await exists(DAILY)).toBe(true);
  expect(await exists(WEEKLY)).toBe(true);
  expect((await client.schedule.getHandle(DAILY).describe()).action.memo).toEqual(before.action.memo);
});
