import { isValidTimeZone, zonedParts, zonedTimeToEpoch, addDays } from './time';

/**
 * The logical interval `[start, end)` one run processes, as ISO-8601 UTC instants. Extracts filter on it and loads
 * replace or upsert by it, so rerunning a window gives the same result.
 */
export interface Window {
  /** Inclusive start, ISO-8601 UTC (`2026-11-20T00:00:00.000Z`). */
  start: string;
  /** Exclusive end, ISO-8601 UTC. */
  end: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Why a window option could not be read; the CLI prints it and exits 1. */
export class WindowError extends Error {
  override name = 'WindowError';
}

function parseInstant(text: string, timeZone: string, what: string): number {
  if (DATE.test(text)) {
    const [y, m, d] = text.split('-').map(Number) as [number, number, number];
    const probe = new Date(Date.UTC(y, m - 1, d));
    if (probe.getUTCMonth() !== m - 1 || probe.getUTCDate() !== d)
      throw new WindowError(`${what} ${text} is not a calendar date`);
    return zonedTimeToEpoch(timeZone, y, m, d);
  }
  const local = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(text);
  if (local) {
    const n = (i: number) => Number(local[i] ?? 0);
    const [y, mo, d, h, mi, sec] = [n(1), n(2), n(3), n(4), n(5), n(6)];
    const probe = new Date(Date.UTC(y, mo - 1, d));
    if (probe.getUTCMonth() !== mo - 1 || probe.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59) {
      throw new WindowError(`${what} ${text} is not a valid date and time`);
    }
    return zonedTimeToEpoch(timeZone, y, mo, d, h, mi, sec);
  }
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(ms)) {
    throw new WindowError(
      `${what} ${JSON.stringify(text)} is neither a date (2026-11-20) nor a datetime (2026-11-20T04:00:00Z)`,
    );
  }
  return ms;
}

/**
 * Reads a window as the CLI takes it: a date (`2026-11-20`: that calendar day in `timeZone`), or `start/end` where each
 * side is a date, a local datetime (`2026-11-20T04:00`, read in `timeZone`) or an ISO instant with offset.
 */
export function parseWindow(text: string, timeZone = 'UTC'): Window {
  if (!isValidTimeZone(timeZone)) throw new WindowError(`unknown time zone ${JSON.stringify(timeZone)}`);
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  let start: number;
  let end: number;
  if (slash === -1) {
    if (!DATE.test(trimmed)) {
      throw new WindowError(
        `window ${JSON.stringify(text)}: give a date (2026-11-20) or start/end (2026-11-20/2026-11-22)`,
      );
    }
    start = parseInstant(trimmed, timeZone, 'window');
    end = parseInstant(addDays(trimmed, 1), timeZone, 'window');
  } else {
    start = parseInstant(trimmed.slice(0, slash), timeZone, 'window start');
    end = parseInstant(trimmed.slice(slash + 1), timeZone, 'window end');
  }
  if (!(end > start)) throw new WindowError(`window ${JSON.stringify(text)}: the end must be after the start`);
  return { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
}

/** The previous full calendar day in `timeZone` relative to `nowMs`: the default window of a manual run. */
export function previousDay(nowMs: number, timeZone = 'UTC'): Window {
  const p = zonedParts(nowMs, timeZone);
  const today = `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
  return parseWindow(addDays(today, -1), timeZone);
}

/** `2026-11-20 → 2026-11-21` when both ends are midnights in UTC, full instants otherwise. For summaries and logs. */
export function describeWindow(window: Window): string {
  const short = (iso: string) => (iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace('.000Z', 'Z'));
  return `${short(window.start)} → ${short(window.end)}`;
}
