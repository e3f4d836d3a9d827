/**
 * Schedules as firing rules: a definition's `schedule` becomes calendars (wall-clock fields in its time zone, so daily
 * 04:00 stays 04:00 across DST changes) or a fixed interval, which map one to one onto a Temporal Schedule spec and
 * which pipectl evaluates itself for windows (a run's window starts at the previous firing). Pure and deterministic:
 * safe to import from workflow code.
 */
import type { ScheduleSpec } from './pipeline-spec';
import { zonedParts, zonedTimeToEpoch } from './time';

/** Wall-clock fields a calendar fires on; every listed field must match. Values are sorted and distinct. */
export interface CalendarRule {
  minute: number[];
  hour: number[];
  /** Day of month, 1–31. */
  day: number[];
  /** 1–12. */
  month: number[];
  /** 0 = Sunday … 6 = Saturday. */
  weekday: number[];
}

/** When a schedule fires: any of its calendars, or a fixed interval since the Unix epoch plus an offset. */
export type FiringRule =
  | { kind: 'calendar'; calendars: CalendarRule[]; timezone: string }
  | { kind: 'interval'; everyMs: number; offsetMs: number };

/** A schedule resolved for evaluation and for Temporal. */
export interface ResolvedSchedule {
  rule: FiringRule;
  timezone: string;
  /** First instant the schedule may fire (ms), if bounded. */
  startMs?: number;
  /** Last instant the schedule may fire (ms), if bounded. */
  endMs?: number;
}

/** A schedule that cannot be resolved; `field` is the path inside `schedule`. */
export class ScheduleError extends Error {
  override name = 'ScheduleError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEKDAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const range = (from: number, to: number, step = 1) => {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
};
const ALL = {
  minute: range(0, 59),
  hour: range(0, 23),
  day: range(1, 31),
  month: range(1, 12),
  weekday: range(0, 6),
};

type Unit = 'minute' | 'hour' | 'day' | 'week' | 'month';

/** `every` as a count and unit: `'15 minutes'` → 15 minute, `quarterly` → 3 month. */
export function parseEvery(every: string): { n: number; unit: Unit } {
  const named: Record<string, { n: number; unit: Unit }> = {
    hourly: { n: 1, unit: 'hour' },
    daily: { n: 1, unit: 'day' },
    weekly: { n: 1, unit: 'week' },
    monthly: { n: 1, unit: 'month' },
    quarterly: { n: 3, unit: 'month' },
    yearly: { n: 12, unit: 'month' },
  };
  const known = named[every];
  if (known) return known;
  const m = /^([1-9]\d*)\s*(minute|hour|day|week|month)s?$/.exec(every);
  if (!m) throw new ScheduleError('every', `every '${every}' is not 'N minutes|hours|days|weeks|months' with N ≥ 1`);
  return { n: Number(m[1]), unit: m[2] as Unit };
}

/** The anchor `at`, as the fields it fixes. */
interface Anchor {
  minute?: number;
  hour?: number;
  weekday?: number;
  day?: number;
  month?: number;
  /** A full start datetime's year. */
  year?: number;
}

function parseTime(text: string, at: string): { hour: number; minute: number } {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  const hour = m ? Number(m[1]) : NaN;
  const minute = m ? Number(m[2]) : NaN;
  if (!m || hour > 23 || minute > 59)
    throw new ScheduleError('at', `at '${at}': '${text}' is not a time of day (HH:MM, 00:00 to 23:59)`);
  return { hour, minute };
}

/** Parses `at`: `HH:MM`, `:MM`, `Mon 09:00`, `31 04:00`, `Jan 31 04:00`, or a full local datetime `2026-01-15T04:00`. */
export function parseAnchor(at: string): Anchor {
  const text = at.trim();
  let m = /^:(\d{2})$/.exec(text);
  if (m) {
    const minute = Number(m[1]);
    if (minute > 59) throw new ScheduleError('at', `at '${at}': minute ${minute} is not 00 to 59`);
    return { minute };
  }
  m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{1,2}:\d{2}))?$/.exec(text);
  if (m) {
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const probe = new Date(Date.UTC(year, month - 1, day));
    if (probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day)
      throw new ScheduleError('at', `at '${at}': ${m[1]}-${m[2]}-${m[3]} is not a date`);
    return { year, month, day, ...(m[4] ? parseTime(m[4], at) : { hour: 0, minute: 0 }) };
  }
  const parts = text.split(/\s+/);
  const time = parts.length > 1 ? parseTime(parts.pop()!, at) : undefined;
  if (parts.length === 1 && !time) return parseTime(parts[0]!, at);
  const weekday = WEEKDAY_NAMES.indexOf(parts[0]!.slice(0, 3).toLowerCase());
  if (parts.length === 1 && weekday >= 0 && /^[a-z]+$/i.test(parts[0]!)) return { weekday, ...time };
  let month: number | undefined;
  if (parts.length === 2) {
    month = MONTH_NAMES.indexOf(parts[0]!.slice(0, 3).toLowerCase()) + 1;
    if (month === 0) throw new ScheduleError('at', `at '${at}': '${parts[0]}' is not a month (Jan … Dec)`);
    parts.shift();
  }
  if (parts.length === 1 && /^\d{1,2}$/.test(parts[0]!)) {
    const day = Number(parts[0]);
    if (day < 1 || day > 31) throw new ScheduleError('at', `at '${at}': day ${day} is not 1 to 31`);
    return { day, ...(month ? { month } : {}), ...time };
  }
  throw new ScheduleError(
    'at',
    `at '${at}' is not an anchor: use '04:00', ':05', 'Mon 09:00', '31 04:00', 'Jan 31 04:00' or '2026-01-15T04:00'`,
  );
}

/** Parses one cron field into sorted values. Names (`MON`, `JAN`) and `*`, `a-b`, `*\/n`, `a-b/n`, lists work. */
function cronField(text: string, min: number, max: number, names: string[], what: string, cron: string): number[] {
  const values = new Set<number>();
  const value = (v: string) => {
    const byName = names.indexOf(v.toLowerCase());
    const n = byName >= 0 ? byName + (what === 'month' ? 1 : 0) : Number(v);
    if (!Number.isInteger(n) || n < min || n > max + (what === 'weekday' ? 1 : 0))
      throw new ScheduleError('cron', `cron '${cron}': ${what} '${v}' is not ${min} to ${max}`);
    return what === 'weekday' && n === 7 ? 0 : n;
  };
  for (const part of text.split(',')) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new ScheduleError('cron', `cron '${cron}': '${part}' is not a ${what} field`);
    const step = m[2] ? Number(m[2]) : 1;
    if (step < 1) throw new ScheduleError('cron', `cron '${cron}': step 0 in '${part}'`);
    let from = min;
    let to = max;
    if (m[1] !== '*') {
      const [a, b] = m[1]!.split('-');
      from = value(a!);
      to = b !== undefined ? value(b) : m[2] ? max : from;
      if (b !== undefined && what === 'weekday' && to === 0) to = 7;
    }
    if (to < from) throw new ScheduleError('cron', `cron '${cron}': range '${part}' runs backwards`);
    for (let v = from; v <= to; v += step) values.add(what === 'weekday' ? v % 7 : v);
  }
  return [...values].sort((a, b) => a - b);
}

/** A 5-field cron as calendars: with both day of month and weekday restricted, either one matches (as in cron). */
export function cronCalendars(cron: string): CalendarRule[] {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5)
    throw new ScheduleError(
      'cron',
      `cron '${cron}' has ${fields.length} fields; it needs 5: minute hour day month weekday`,
    );
  const [mi, h, d, mo, w] = fields as [string, string, string, string, string];
  const base = {
    minute: cronField(mi, 0, 59, [], 'minute', cron),
    hour: cronField(h, 0, 23, [], 'hour', cron),
    month: cronField(mo, 1, 12, MONTH_NAMES, 'month', cron),
  };
  const day = cronField(d, 1, 31, [], 'day', cron);
  const weekday = cronField(w, 0, 6, WEEKDAY_NAMES, 'weekday', cron);
  const dayAny = d === '*' || d === '?';
  const weekdayAny = w === '*' || w === '?';
  if (!dayAny && !weekdayAny) {
    return [
      { ...base, day, weekday: ALL.weekday },
      { ...base, day: ALL.day, weekday },
    ];
  }
  return [{ ...base, day, weekday }];
}

const intersect = (a: number[], b: number[] | undefined) => (b ? a.filter((v) => b.includes(v)) : a);

/** The local midnight of a `YYYY-MM-DD` or ISO datetime in the zone, as ms. */
function boundMs(text: string, timezone: string, field: 'start' | 'end'): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?$/.exec(text.trim());
  if (m) {
    const n = (i: number) => Number(m[i] ?? 0);
    return zonedTimeToEpoch(timezone, n(1), n(2), n(3), n(4), n(5));
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new ScheduleError(field, `${field} '${text}' is not a date (YYYY-MM-DD) or datetime`);
  return t;
}

/**
 * Resolves a schedule into its firing rule. Throws `ScheduleError` naming the field when the parts do not fit
 * together (an anchor of the wrong kind, a filter the rule cannot honour, a schedule that can never fire).
 */
export function resolveSchedule(schedule: ScheduleSpec): ResolvedSchedule {
  const timezone = schedule.timezone;
  const bounds: Pick<ResolvedSchedule, 'startMs' | 'endMs'> = {};
  if (schedule.start) bounds.startMs = boundMs(schedule.start, timezone, 'start');
  if (schedule.end) bounds.endMs = boundMs(schedule.end, timezone, 'end');
  if (bounds.startMs !== undefined && bounds.endMs !== undefined && bounds.endMs <= bounds.startMs)
    throw new ScheduleError('end', `end '${schedule.end}' is not after start '${schedule.start}'`);
  const filters = { hour: schedule.hours, weekday: schedule.weekdays, month: schedule.months };
  const hasFilter = Object.values(filters).some((f) => f !== undefined);

  if (schedule.cron !== undefined) {
    if (hasFilter)
      throw new ScheduleError('cron', 'a cron expression carries its own filters: drop hours, weekdays and months');
    if (schedule.at !== undefined) throw new ScheduleError('at', 'a cron expression carries its own time: drop at');
    const calendars = cronCalendars(schedule.cron);
    return finish({ rule: { kind: 'calendar', calendars, timezone }, timezone, ...bounds }, schedule);
  }
  const { n, unit } = parseEvery(schedule.every ?? '');
  const anchor = schedule.at !== undefined ? parseAnchor(schedule.at) : {};
  const every = schedule.every!;
  const misfit = (what: string) => new ScheduleError('at', `at '${schedule.at}' ${what} does not fit every '${every}'`);

  const calendar = (c: Partial<CalendarRule>): ResolvedSchedule => {
    const cal: CalendarRule = {
      minute: c.minute ?? [0],
      hour: intersect(c.hour ?? ALL.hour, filters.hour),
      day: c.day ?? ALL.day,
      month: intersect(c.month ?? ALL.month, filters.month),
      weekday: intersect(c.weekday ?? ALL.weekday, filters.weekday),
    };
    return finish({ rule: { kind: 'calendar', calendars: [cal], timezone }, timezone, ...bounds }, schedule);
  };
  const interval = (everyMs: number): ResolvedSchedule => {
    if (hasFilter)
      throw new ScheduleError(
        'every',
        `every '${every}' does not divide a ${unit === 'minute' ? 'hour' : unit === 'hour' ? 'day' : 'calendar period'} evenly, so it cannot take hours, weekdays or months filters`,
      );
    // A full start datetime anchors the interval; otherwise it counts from midnight UTC.
    const anchorMs =
      anchor.year !== undefined
        ? zonedTimeToEpoch(timezone, anchor.year, anchor.month!, anchor.day!, anchor.hour, anchor.minute)
        : ((anchor.hour ?? 0) * HOUR + (anchor.minute ?? 0) * MINUTE) % everyMs;
    const offsetMs = ((anchorMs % everyMs) + everyMs) % everyMs;
    return finish({ rule: { kind: 'interval', everyMs, offsetMs }, timezone, ...bounds }, schedule);
  };

  switch (unit) {
    case 'minute': {
      if (anchor.weekday !== undefined) throw misfit('(a weekday)');
      if (anchor.day !== undefined && anchor.year === undefined) throw misfit('(a day of the month)');
      if (anchor.hour !== undefined && anchor.year === undefined) throw misfit('(a time of day)');
      if (60 % n !== 0) return interval(n * MINUTE);
      const first = (anchor.minute ?? 0) % n;
      return calendar({ minute: range(first, 59, n) });
    }
    case 'hour': {
      if (anchor.weekday !== undefined) throw misfit('(a weekday)');
      if (anchor.day !== undefined && anchor.year === undefined) throw misfit('(a day of the month)');
      if (24 % n !== 0) return interval(n * HOUR);
      const first = (anchor.hour ?? 0) % n;
      return calendar({ minute: [anchor.minute ?? 0], hour: range(first, 23, n) });
    }
    case 'day': {
      if (anchor.weekday !== undefined) throw misfit('(a weekday)');
      if (anchor.day !== undefined && anchor.year === undefined) throw misfit('(a day of the month)');
      if (schedule.hours) throw new ScheduleError('hours', `an hours filter needs a schedule that fires within a day`);
      if (n > 1) return interval(n * DAY);
      return calendar({ minute: [anchor.minute ?? 0], hour: [anchor.hour ?? 0] });
    }
    case 'week': {
      if (anchor.day !== undefined && anchor.year === undefined) throw misfit('(a day of the month)');
      if (schedule.hours) throw new ScheduleError('hours', `an hours filter needs a schedule that fires within a day`);
      if (n > 1) return interval(n * 7 * DAY);
      const weekday =
        anchor.year !== undefined
          ? new Date(Date.UTC(anchor.year, anchor.month! - 1, anchor.day)).getUTCDay()
          : (anchor.weekday ?? 1);
      if (schedule.weekdays) throw new ScheduleError('weekdays', 'a weekly schedule names its weekday in at');
      return calendar({ minute: [anchor.minute ?? 0], hour: [anchor.hour ?? 0], weekday: [weekday] });
    }
    case 'month': {
      if (anchor.weekday !== undefined) throw misfit('(a weekday)');
      if (schedule.hours) throw new ScheduleError('hours', `an hours filter needs a schedule that fires within a day`);
      if (12 % n !== 0)
        throw new ScheduleError('every', `every '${every}' does not divide a year: use 1, 2, 3, 4, 6 or 12 months`);
      const first = ((anchor.month ?? 1) - 1) % n;
      return calendar({
        minute: [anchor.minute ?? 0],
        hour: [anchor.hour ?? 0],
        day: [anchor.day ?? 1],
        month: range(first + 1, 12, n),
      });
    }
  }
}

/** Checks a resolved schedule can fire at all; returns it. */
function finish(resolved: ResolvedSchedule, schedule: ScheduleSpec): ResolvedSchedule {
  if (resolved.rule.kind === 'calendar') {
    for (const [i, c] of resolved.rule.calendars.entries()) {
      const empty = (Object.keys(c) as (keyof CalendarRule)[]).find((k) => c[k].length === 0);
      if (empty) {
        const field = { hour: 'hours', weekday: 'weekdays', month: 'months' }[empty as string] ?? 'at';
        throw new ScheduleError(field, `the schedule can never fire: no ${empty} is left after the filters`);
      }
      const longest = Math.max(...c.month.map((m) => [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!));
      if (Math.min(...c.day) > longest && i === 0)
        throw new ScheduleError('at', `the schedule can never fire: no month in it has day ${Math.min(...c.day)}`);
    }
  }
  const first = nextFirings(resolved, (resolved.startMs ?? Date.UTC(2000, 0, 1)) - 1, 1);
  if (first.length === 0)
    throw new ScheduleError(schedule.end ? 'end' : 'at', 'the schedule can never fire between its start and end');
  return resolved;
}

const matchesDay = (c: CalendarRule, y: number, m: number, d: number) =>
  c.month.includes(m) && c.day.includes(d) && c.weekday.includes(new Date(Date.UTC(y, m - 1, d)).getUTCDay());

/** Calendar firings on one local date, ascending. */
/**
 * Firings of recent dates per rule: a day of a minute schedule is 1,440 firings, each a few `Intl` calls, and a
 * backfill asks for the same day again for every window in it. The arrays are shared: callers never change them.
 */
const dayCache = new WeakMap<object, Map<string, readonly number[]>>();
const DAYS_CACHED = 8;

function firingsOnDate(
  rule: { calendars: CalendarRule[]; timezone: string },
  y: number,
  m: number,
  d: number,
): readonly number[] {
  let days = dayCache.get(rule);
  if (!days) dayCache.set(rule, (days = new Map()));
  const key = `${y}-${m}-${d}`;
  let firings = days.get(key);
  if (!firings) {
    firings = computeFiringsOnDate(rule, y, m, d);
    if (days.size >= DAYS_CACHED) days.delete(days.keys().next().value!);
    days.set(key, firings);
  }
  return firings;
}

function computeFiringsOnDate(rule: { calendars: CalendarRule[]; timezone: string }, y: number, m: number, d: number) {
  const out = new Set<number>();
  for (const c of rule.calendars) {
    if (!matchesDay(c, y, m, d)) continue;
    for (const h of c.hour)
      for (const mi of c.minute) {
        const t = zonedTimeToEpoch(rule.timezone, y, m, d, h, mi);
        // A wall time skipped by a DST change does not exist that day.
        const p = zonedParts(t, rule.timezone);
        if (p.hour === h && p.minute === mi) out.add(t);
      }
  }
  return [...out].sort((a, b) => a - b);
}

/** Up to 8 years of local dates, starting at the date of `fromMs` and going `dir`. */
function* localDates(fromMs: number, timezone: string, dir: 1 | -1): Generator<[number, number, number]> {
  const p = zonedParts(fromMs, timezone);
  for (let k = 0; k < 366 * 8; k++) {
    const d = new Date(Date.UTC(p.year, p.month - 1, p.day + dir * k));
    yield [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
  }
}

/** The next `count` firing times strictly after `afterMs`, within the schedule's start and end. */
export function nextFirings(s: ResolvedSchedule, afterMs: number, count: number): number[] {
  const from = Math.max(afterMs, (s.startMs ?? -Infinity) - 1);
  const out: number[] = [];
  const inBounds = (t: number) => t > from && (s.endMs === undefined || t <= s.endMs);
  if (s.rule.kind === 'interval') {
    const { everyMs, offsetMs } = s.rule;
    let t = Math.floor((from - offsetMs) / everyMs) * everyMs + offsetMs;
    while (out.length < count) {
      t += everyMs;
      if (t <= from) continue;
      if (!inBounds(t)) break;
      out.push(t);
    }
    return out;
  }
  for (const [y, m, d] of localDates(from, s.timezone, 1)) {
    for (const t of firingsOnDate(s.rule, y, m, d)) {
      if (s.endMs !== undefined && t > s.endMs) return out;
      if (t > from) out.push(t);
      if (out.length === count) return out;
    }
  }
  return out;
}

/** The latest firing strictly before `atMs` (ignoring the start bound), or undefined if none in 8 years. */
export function previousFiring(s: ResolvedSchedule, atMs: number): number | undefined {
  if (s.rule.kind === 'interval') {
    const { everyMs, offsetMs } = s.rule;
    return Math.ceil((atMs - offsetMs) / everyMs) * everyMs + offsetMs - everyMs;
  }
  for (const [y, m, d] of localDates(atMs, s.timezone, -1)) {
    const day = firingsOnDate(s.rule, y, m, d).filter((t) => t < atMs);
    if (day.length > 0) return day[day.length - 1];
  }
  return undefined;
}

/** The window a firing at `atMs` processes: from the previous firing up to the firing itself. */
export function windowEndingAt(s: ResolvedSchedule, atMs: number): { start: string; end: string } {
  const start = previousFiring(s, atMs) ?? atMs - DAY;
  return { start: new Date(start).toISOString(), end: new Date(atMs).toISOString() };
}
