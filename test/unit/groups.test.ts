import { buildGraph } from '../../core/graph';
import { buildGroups, defaultGroupName, groupMembers, scheduleKey } from '../../core/groups';
import { PipelineSpec, ScheduleSpec, type PipelineInput } from '../../core/pipeline-spec';

const schedule = (s: Record<string, unknown>) => ScheduleSpec.parse(s);

function groupsOf(defs: Array<Partial<PipelineInput> & { name: string }>) {
  const specs = new Map(
    defs.map((d) => [d.name, { spec: PipelineSpec.parse({ extract: () => [], load: () => 0, ...d }) }]),
  );
  return buildGroups(specs, buildGraph([...specs.values()].map((e) => e.spec)));
}

test('default group names read like the schedule', () => {
  expect(defaultGroupName(schedule({ every: 'daily', at: '04:00', timezone: 'Europe/Paris' }))).toBe(
    'daily-0400-europe-paris',
  );
  expect(defaultGroupName(schedule({ every: '15 minutes', at: ':05' }))).toBe('every-15-minutes-05-utc');
  expect(defaultGroupName(schedule({ cron: '0 5 * * 1-5' }))).toBe('cron-0-5-x-x-1-5-utc');
  expect(defaultGroupName(schedule({ every: 'hourly', hours: [9, 10], weekdays: [1] }))).toBe('hourly-h9-10-d1-utc');
  expect(defaultGroupName(schedule({ every: 'daily', at: '04:00', timezone: 'Europe/Paris' })).length).toBeLessThan(
    101,
  );
});

test('the group name and maxParallel are not part of when a schedule fires', () => {
  expect(scheduleKey(schedule({ every: 'daily', group: 'a', maxParallel: 3 }))).toBe(
    scheduleKey(schedule({ every: 'daily' })),
  );
  expect(scheduleKey(schedule({ every: 'daily', at: '01:00' }))).not.toBe(scheduleKey(schedule({ every: 'daily' })));
});

test('identical schedules share a group; unscheduled downstream pipelines join it', () => {
  const { groups, issues } = groupsOf([
    { name: 'a', schedule: { every: 'daily', at: '04:00' }, outputs: ['x.a'] },
    { name: 'b', schedule: { at: '04:00', every: 'daily' }, outputs: ['x.b'] },
    { name: 'c', inputs: ['x.a', 'x.b'], outputs: ['x.c'] },
    { name: 'd', inputs: ['x.c'] },
    { name: 'h', schedule: { every: 'hourly' } },
    { name: 'loose' },
  ]);
  expect(issues).toEqual([]);
  expect([...groups.keys()].sort()).toEqual(['daily-0400-utc', 'hourly-utc']);
  const daily = groups.get('daily-0400-utc')!;
  expect(daily.scheduled).toEqual(['a', 'b']);
  expect(daily.downstream).toEqual(['c', 'd']);
  expect(groupMembers(daily)).toEqual(['a', 'b', 'c', 'd']);
  expect(groups.get('hourly-utc')!.scheduled).toEqual(['h']);
});

test('a named group takes maxParallel from any member; conflicting values are an issue', () => {
  const ok = groupsOf([
    { name: 'a', schedule: { every: 'daily', group: 'nightly', maxParallel: 4 } },
    { name: 'b', schedule: { every: 'daily', group: 'nightly' } },
  ]);
  expect(ok.issues).toEqual([]);
  expect(ok.groups.get('nightly')).toMatchObject({ maxParallel: 4, scheduled: ['a', 'b'] });

  const clash = groupsOf([
    { name: 'a', schedule: { every: 'daily', group: 'nightly', maxParallel: 4 } },
    { name: 'b', schedule: { every: 'daily', group: 'nightly', maxParallel: 2 } },
  ]);
  expect(clash.issues).toEqual([
    {
      pipeline: 'b',
      field: 'schedule.maxParallel',
      message: "group 'nightly' has maxParallel 4 in 'a': set one value",
    },
  ]);
});

test('a group named like a pipeline is an issue', () => {
  const { issues } = groupsOf([{ name: 'nightly', schedule: { every: 'daily', group: 'nightly' } }]);
  expect(issues).toEqual([
    {
      pipeline: 'nightly',
      field: 'name',
      message: "'nightly' names both a pipeline and a group: rename the group (schedule.group)",
    },
  ]);
});

test("'manual' cannot name a group and maxParallel has bounds", () => {
  expect(ScheduleSpec.safeParse({ every: 'daily', group: 'manual' }).success).toBe(false);
  expect(ScheduleSpec.safeParse({ every: 'daily', maxParallel: 0 }).success).toBe(false);
  expect(ScheduleSpec.safeParse({ every: 'daily', maxParallel: 1001 }).success).toBe(false);
});

test('an inline pipeline that a pipeline of another group waits for is an issue; one inside its group is not', () => {
  const { issues } = groupsOf([
    { name: 'a', schedule: { every: 'daily' }, outputs: ['x.a'], inline: true },
    { name: 'b', inputs: ['x.a'], outputs: ['x.b'], inline: true },
    { name: 'c', schedule: { every: 'hourly' }, inputs: ['x.b'] },
    { name: 'd', schedule: { every: 'hourly' }, dependsOn: ['a'] },
    { name: 'e', schedule: { every: 'weekly' }, outputs: ['x.e'], inline: true },
    { name: 'f', inputs: ['x.e'] },
  ]);
  expect(issues).toEqual([
    {
      pipeline: 'a',
      field: 'inline',
      message:
        'pipelines of other groups wait for its runs (d, group hourly-utc), but an inline run, inside the DAG run of group daily-utc, is not one they can find: leave inline off',
    },
    {
      pipeline: 'b',
      field: 'inline',
      message:
        'pipelines of other groups wait for its runs (c, group hourly-utc), but an inline run, inside the DAG run of group daily-utc, is not one they can find: leave inline off',
    },
  ]);
});
