import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { ScheduleSpec } from '../../core/pipeline-spec';
import { resolveSchedule } from '../../core/schedule';
import { toTemporalSpec } from '../../temporal-config/schedules';
import { testClient } from '../helpers/temporal';

/**
 * Every case becomes a real, paused Temporal Schedule; the firing times Temporal reports must equal the times worked
 * out here by brute force — walking minute by minute and reading the wall clock in the zone with Intl — without
 * core/schedule.ts. Starts are in 2027 and later, so "next" does not depend on today.
 */

/** Wall-clock fields of an instant in a zone. */
interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** 0 = Sunday. */
  weekday: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const formats = new Map<string, Intl.DateTimeFormat>();
const hourCache = new Map<string, Fields>();
const WEEKDAY = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/**
 * Wall-clock fields via Intl, computed once per UTC hour: every zone used here is a whole number of hours from UTC,
 * so the local minute is the UTC minute (checked).
 */
function fieldsAt(ms: number, timeZone: string): Fields {
  const hourStart = Math.floor(ms / HOUR) * HOUR;
  const key = `${timeZone}|${hourStart}`;
  let f = hourCache.get(key);
  if (!f) {
    let fmt = formats.get(timeZone);
    if (!fmt) {
      fmt = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        weekday: 'short',
      });
      formats.set(timeZone, fmt);
    }
    const parts = Object.fromEntries(fmt.formatToParts(new Date(hourStart)).map((p) => [p.type, p.value]));
    f = {
      year: Number(parts.year),
      month: Number(parts.month),
      day: Number(parts.day),
      hour: Number(parts.hour),
      minute: Number(parts.minute),
      weekday: WEEKDAY.indexOf(parts.weekday!),
    };
    if (f.minute !== 0) throw new Error(`${timeZone} is not a whole number of hours from UTC`);
    hourCache.set(key, f);
  }
  return { ...f, minute: (ms - hourStart) / MINUTE };
}

/** The first instant a zone's wall clock reads `YYYY-MM-DD 00:00`, by walking minutes. */
function localMidnight(date: string, timeZone: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  for (let t = Date.UTC(y, m - 1, d) - 15 * HOUR; t < Date.UTC(y, m - 1, d) + 15 * HOUR; t += MINUTE) {
    const f = fieldsAt(t, timeZone);
    if (f.year === y && f.month === m && f.day === d && f.hour === 0 && f.minute === 0) return t;
  }
  throw new Error(`no midnight on ${date} in ${timeZone}`);
}

/** The first `n` minutes from `fromMs` (inclusive) up to `endMs` (inclusive) that match. */
function bruteForce(c: Case, timeZone: string, fromMs: number, n: number, endMs = Infinity) {
  const out: string[] = [];
  const limit = fromMs + 60 * 366 * 24 * HOUR;
  for (let t = fromMs; out.length < n && t <= endMs && t < limit; t += c.hourly ? HOUR : MINUTE) {
    if (c.match(fieldsAt(t, timeZone), t)) out.push(new Date(t).toISOString());
  }
  return out;
}

interface Case {
  name: string;
  schedule: Record<string, unknown>;
  match: (f: Fields, ms: number) => boolean;
  /** Walk whole hours instead of minutes: only for cases that fire on the hour and span decades. */
  hourly?: boolean;
}

const on = (values: number[]) => (v: number) => values.includes(v);
const PARIS = 'Europe/Paris';
const NY = 'America/New_York';

const cases: Case[] = [
  {
    name: 'daily 04:00 Paris across the spring DST change (2027-03-28)',
    schedule: { every: 'daily', at: '04:00', timezone: PARIS, start: '2027-03-25' },
    match: (f) => f.hour === 4 && f.minute === 0,
  },
  {
    name: 'daily 04:00 Paris across the autumn DST change (2027-10-31)',
    schedule: { every: '1 day', at: '04:00', timezone: PARIS, start: '2027-10-27' },
    match: (f) => f.hour === 4 && f.minute === 0,
  },
  {
    name: 'daily 04:00 New York across the spring DST change (2027-03-14)',
    schedule: { every: 'daily', at: '04:00', timezone: NY, start: '2027-03-10' },
    match: (f) => f.hour === 4 && f.minute === 0,
  },
  {
    name: 'daily 04:00 New York across the autumn DST change (2027-11-07)',
    schedule: { every: 'daily', at: '04:00', timezone: NY, start: '2027-11-03' },
    match: (f) => f.hour === 4 && f.minute === 0,
  },
  {
    name: 'every 15 minutes anchored at :05',
    schedule: { every: '15 minutes', at: ':05', start: '2027-01-01' },
    match: (f) => f.minute % 15 === 5,
  },
  {
    name: 'weekly Monday 09:00 Paris',
    schedule: { every: 'weekly', at: 'Mon 09:00', timezone: PARIS, start: '2027-01-01' },
    match: (f) => f.weekday === 1 && f.hour === 9 && f.minute === 0,
  },
  {
    name: 'monthly on day 31 (months without one are skipped)',
    schedule: { every: 'monthly', at: '31 04:00', start: '2027-01-01' },
    match: (f) => f.day === 31 && f.hour === 4 && f.minute === 0,
  },
  {
    name: 'leap day: yearly on Feb 29',
    schedule: { every: 'yearly', at: 'Feb 29 12:00', start: '2027-01-01' },
    match: (f) => f.month === 2 && f.day === 29 && f.hour === 12 && f.minute === 0,
    hourly: true,
  },
  {
    name: 'hourly within an hours filter, Paris',
    schedule: { every: 'hourly', at: ':00', hours: [9, 12, 17], timezone: PARIS, start: '2027-03-26' },
    match: (f) => on([9, 12, 17])(f.hour) && f.minute === 0,
  },
  {
    name: 'hourly at :30 on a weekdays filter',
    schedule: { every: 'hourly', at: ':30', weekdays: [1, 3, 5], start: '2027-01-01' },
    match: (f) => on([1, 3, 5])(f.weekday) && f.minute === 30,
  },
  {
    name: 'daily 06:00 in January and July only',
    schedule: { every: 'daily', at: '06:00', months: [1, 7], timezone: NY, start: '2027-01-25' },
    match: (f) => on([1, 7])(f.month) && f.hour === 6 && f.minute === 0,
  },
  {
    name: 'daily 07:45 on weekends in Sydney (southern DST)',
    schedule: { every: 'daily', at: '07:45', weekdays: [0, 6], timezone: 'Australia/Sydney', start: '2027-03-27' },
    match: (f) => (f.weekday === 0 || f.weekday === 6) && f.hour === 7 && f.minute === 45,
  },
  {
    name: 'quarterly on the 15th at 08:00',
    schedule: { every: 'quarterly', at: '15 08:00', timezone: PARIS, start: '2027-01-01' },
    match: (f) => on([1, 4, 7, 10])(f.month) && f.day === 15 && f.hour === 8 && f.minute === 0,
  },
  {
    name: 'every 6 hours from 02:00 in Tokyo',
    schedule: { every: '6 hours', at: '02:00', timezone: 'Asia/Tokyo', start: '2027-01-01' },
    match: (f) => f.hour % 6 === 2 && f.minute === 0,
  },
  {
    name: 'cron with a step and ranges: */20 9-17 * * MON-FRI',
    schedule: { cron: '*/20 9-17 * * MON-FRI', start: '2027-01-01' },
    match: (f) => f.minute % 20 === 0 && f.hour >= 9 && f.hour <= 17 && f.weekday >= 1 && f.weekday <= 5,
  },
  {
    name: 'cron with an hour list in New York: 0 6,18 * * *',
    schedule: { cron: '0 6,18 * * *', timezone: NY, start: '2027-03-12' },
    match: (f) => f.minute === 0 && (f.hour === 6 || f.hour === 18),
  },
  {
    name: 'cron with a day list: 30 2 1,15 * *',
    schedule: { cron: '30 2 1,15 * *', start: '2027-01-01' },
    match: (f) => f.minute === 30 && f.hour === 2 && (f.day === 1 || f.day === 15),
  },
  {
    name: 'cron with day of month plus weekday (either matches): 0 12 13 * FRI',
    schedule: { cron: '0 12 13 * FRI', start: '2027-01-01' },
    match: (f) => f.minute === 0 && f.hour === 12 && (f.day === 13 || f.weekday === 5),
  },
  {
    name: 'cron with month and weekday names: 0 0 * JAN,JUL SUN',
    schedule: { cron: '0 0 * JAN,JUL SUN', timezone: PARIS, start: '2027-01-01' },
    match: (f) => f.minute === 0 && f.hour === 0 && (f.month === 1 || f.month === 7) && f.weekday === 0,
  },
  {
    name: 'cron with a stepped weekday range: 15 10 * * 1-5/2',
    schedule: { cron: '15 10 * * 1-5/2', start: '2027-01-01' },
    match: (f) => f.minute === 15 && f.hour === 10 && on([1, 3, 5])(f.weekday),
  },
  {
    name: 'start and end bounds: daily 04:00 from 2027-05-01 to 2027-05-05 (end exclusive day)',
    schedule: { every: 'daily', at: '04:00', timezone: PARIS, start: '2027-05-01', end: '2027-05-05' },
    match: (f) => f.hour === 4 && f.minute === 0,
  },
  {
    name: 'an interval that does not divide a day: every 90 minutes',
    schedule: { every: '90 minutes', start: '2027-01-01' },
    match: (_f, ms) => ms % (90 * MINUTE) === 0,
  },
  {
    name: 'an interval anchored at a start datetime: every 2 days from 2027-01-01T03:00 Paris',
    schedule: { every: '2 days', at: '2027-01-01T03:00', timezone: PARIS, start: '2027-01-01' },
    // 03:00 in Paris on 2027-01-01 is 02:00 UTC; intervals are absolute, so DST moves the wall-clock time.
    match: (_f, ms) => (ms - Date.UTC(2027, 0, 1, 2, 0)) % (2 * 24 * HOUR) === 0,
  },
];

let client: Client;
const prefix = `spec-test-${randomBytes(3).toString('hex')}`;
const created: string[] = [];

beforeAll(async () => {
  client = await testClient();
});

afterAll(async () => {
  for (const id of created) await client.schedule.getHandle(id).delete();
  await client?.connection.close();
});

test('there are at least 20 cases', () => {
  expect(cases.length).toBeGreaterThanOrEqual(20);
});

test.each(cases.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
  const schedule = ScheduleSpec.parse(c.schedule);
  const spec = toTemporalSpec(resolveSchedule(schedule));
  const scheduleId = `${prefix}-${i}`;
  await client.schedule.create({
    scheduleId,
    spec,
    action: { type: 'startWorkflow', workflowType: 'dagRun', taskQueue: `${prefix}-never`, args: [] },
    state: { paused: true, note: 'test: never runs' },
  });
  created.push(scheduleId);
  const { info } = await client.schedule.getHandle(scheduleId).describe();
  const actual = info.nextActionTimes.map((d) => d.toISOString());

  hourCache.clear();
  const from = localMidnight(schedule.start!, schedule.timezone);
  // Temporal's end bound is inclusive; ours is the local midnight that starts the end day.
  const end = schedule.end ? localMidnight(schedule.end, schedule.timezone) : Infinity;
  const expected = bruteForce(c, schedule.timezone, from, 10, end);
  expect(expected.length).toBeGreaterThan(0);
  expect(actual).toEqual(expected);
});
