import { ScheduleSpec } from '../../core/pipeline-spec';
import { cronCalendars, nextFirings, previousFiring, resolveSchedule, windowEndingAt } from '../../core/schedule';

const resolve = (s: Record<string, unknown>) => resolveSchedule(ScheduleSpec.parse(s));
const iso = (ts: number[]) => ts.map((t) => new Date(t).toISOString().replace(':00.000Z', 'Z'));
const after = (s: Record<string, unknown>, from: string, n = 4) => iso(nextFirings(resolve(s), Date.parse(from), n));

test.each([
  [
    { every: 'daily', at: '04:00', timezone: 'Europe/Paris' },
    '2026-03-27T00:00:00Z',
    ['2026-03-27T03:00Z', '2026-03-28T03:00Z', '2026-03-29T02:00Z', '2026-03-30T02:00Z'],
  ],
  [
    { every: 'daily', at: '04:00', timezone: 'Europe/Paris' },
    '2026-10-24T00:00:00Z',
    ['2026-10-24T02:00Z', '2026-10-25T03:00Z', '2026-10-26T03:00Z', '2026-10-27T03:00Z'],
  ],
  [
    { every: '15 minutes', at: ':05' },
    '2026-03-27T00:00:00Z',
    ['2026-03-27T00:05Z', '2026-03-27T00:20Z', '2026-03-27T00:35Z', '2026-03-27T00:50Z'],
  ],
  [
    { every: 'weekly', at: 'Mon 09:00', timezone: 'America/New_York' },
    '2026-03-01T00:00:00Z',
    ['2026-03-02T14:00Z', '2026-03-09T13:00Z', '2026-03-16T13:00Z', '2026-03-23T13:00Z'],
  ],
  [
    { every: 'monthly', at: '31 04:00' },
    '2026-01-01T00:00:00Z',
    ['2026-01-31T04:00Z', '2026-03-31T04:00Z', '2026-05-31T04:00Z', '2026-07-31T04:00Z'],
  ],
  [
    { every: 'monthly', at: '29 00:00', months: [2] },
    '2026-01-01T00:00:00Z',
    ['2028-02-29T00:00Z', '2032-02-29T00:00Z'],
  ],
  [
    { every: 'hourly', hours: [9, 17], weekdays: [1, 2, 3, 4, 5] },
    '2026-03-27T00:00:00Z',
    ['2026-03-27T09:00Z', '2026-03-27T17:00Z', '2026-03-30T09:00Z', '2026-03-30T17:00Z'],
  ],
  [
    { cron: '0 0 13 * 5' },
    '2026-03-28T00:00:00Z',
    ['2026-04-03T00:00Z', '2026-04-10T00:00Z', '2026-04-13T00:00Z', '2026-04-17T00:00Z'],
  ],
  [
    { cron: '*/20 8-9 * JAN,JUL MON-FRI' },
    '2026-07-01T00:00:00Z',
    ['2026-07-01T08:00Z', '2026-07-01T08:20Z', '2026-07-01T08:40Z', '2026-07-01T09:00Z'],
  ],
  [{ every: 'quarterly', at: '2026-02-15T06:30' }, '2026-03-01T00:00:00Z', ['2026-05-15T06:30Z', '2026-08-15T06:30Z']],
  [{ every: '2 days', at: '2026-01-01T00:00' }, '2026-03-27T00:00:00Z', ['2026-03-28T00:00Z', '2026-03-30T00:00Z']],
  [{ every: '45 minutes' }, '2026-03-27T00:00:00Z', ['2026-03-27T00:45Z', '2026-03-27T01:30Z']],
  [
    { every: 'daily', at: '12:00', start: '2026-05-02', end: '2026-05-03T23:00' },
    '2026-01-01T00:00:00Z',
    ['2026-05-02T12:00Z', '2026-05-03T12:00Z'],
  ],
])('%j fires after %s at %j', (schedule, from, expected) => {
  expect(after(schedule, from, expected.length + 1).slice(0, expected.length)).toEqual(expected);
});

test('a firing skipped by a DST change does not happen that day', () => {
  // 02:30 does not exist in Paris on 2026-03-29.
  expect(after({ every: 'daily', at: '02:30', timezone: 'Europe/Paris' }, '2026-03-28T00:00:00Z', 2)).toEqual([
    '2026-03-28T01:30Z',
    '2026-03-30T00:30Z',
  ]);
});

test('a window runs from the previous firing to the firing', () => {
  const s = resolve({ every: 'hourly', hours: [9, 17] });
  expect(windowEndingAt(s, Date.parse('2026-03-27T09:00:00Z'))).toEqual({
    start: '2026-03-26T17:00:00.000Z',
    end: '2026-03-27T09:00:00.000Z',
  });
  const paris = resolve({ every: 'daily', at: '04:00', timezone: 'Europe/Paris' });
  expect(iso([previousFiring(paris, Date.parse('2026-03-30T02:00:00Z'))!])).toEqual(['2026-03-29T02:00Z']);
  expect(iso([previousFiring(paris, Date.parse('2026-03-29T02:00:00Z'))!])).toEqual(['2026-03-28T03:00Z']);
});

test('cron with both a day of month and a weekday fires on either, as cron does', () => {
  expect(cronCalendars('0 0 13 * 5')).toHaveLength(2);
  expect(cronCalendars('0 0 * * SUN')[0]!.weekday).toEqual([0]);
  expect(cronCalendars('0 0 * * 7')[0]!.weekday).toEqual([0]);
});

test.each([
  [
    { every: '0 days' },
    'every',
    "every is 'N minutes|hours|days|weeks|months' with N ≥ 1, or hourly, daily, weekly, monthly, quarterly, yearly",
  ],
  [{ every: 'daily', at: '25:00' }, 'at', "at '25:00': '25:00' is not a time of day (HH:MM, 00:00 to 23:59)"],
  [{ cron: '0 5 * *' }, 'cron', 'a cron expression has 5 fields: minute hour day month weekday'],
  [{ cron: '61 * * * *' }, 'cron', "cron '61 * * * *': minute '61' is not 0 to 59"],
  [{ every: 'daily', at: 'Mon 09:00' }, 'at', "at 'Mon 09:00' (a weekday) does not fit every 'daily'"],
  [{ every: 'monthly', at: '31 04:00', months: [2] }, 'at', 'the schedule can never fire: no month in it has day 31'],
  [{ every: '5 months' }, 'every', "every '5 months' does not divide a year: use 1, 2, 3, 4, 6 or 12 months"],
  [{ every: 'daily', start: '2026-02-01', end: '2026-01-01' }, 'end', 'end must be after start'],
  [
    { every: 'hourly', timezone: 'Mars/Base' },
    'timezone',
    'unknown time zone: use an IANA name such as Europe/Paris or UTC',
  ],
  [{ every: 'daily', hours: [3] }, 'hours', 'an hours filter needs a schedule that fires within a day'],
  [{ every: 'hourly', hours: [24] }, 'hours.0', 'hours run from 0 to 23'],
  [{ every: 'hourly', weekdays: [7] }, 'weekdays.0', 'weekdays run from 0 (Sunday) to 6'],
  [
    { every: '7 minutes', hours: [9] },
    'every',
    "every '7 minutes' does not divide a hour evenly, so it cannot take hours, weekdays or months filters",
  ],
  [
    { cron: '0 5 * * *', hours: [5] },
    'cron',
    'a cron expression carries its own filters: drop hours, weekdays and months',
  ],
  [{ every: 'daily', at: '04:00', end: '1999-01-01' }, 'end', 'the schedule can never fire between its start and end'],
  [
    { every: 'weekly', at: 'Funday 10:00' },
    'at',
    "at 'Funday 10:00' is not an anchor: use '04:00', ':05', 'Mon 09:00', '31 04:00', 'Jan 31 04:00' or '2026-01-15T04:00'",
  ],
  [{ every: 'daily', overlap: 'sometimes' }, 'overlap', expect.stringContaining('skip')],
  [{ every: 'daily', jitter: '0s' }, 'jitter', 'jitter must be longer than zero'],
])('bad schedule %j is refused at %s', (schedule, field, message) => {
  const r = ScheduleSpec.safeParse(schedule);
  expect(r.success).toBe(false);
  expect(r.error!.issues.map((i) => ({ field: i.path.join('.'), message: i.message }))).toContainEqual({
    field,
    message,
  });
  expect(r.error!.issues).toHaveLength(1);
});
