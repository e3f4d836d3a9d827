import { addDays, isValidTimeZone, zonedParts, zonedTimeToEpoch, zoneOffsetMs } from '../../core/time';

const iso = (ms: number) => new Date(ms).toISOString();

describe('isValidTimeZone', () => {
  it.each(['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata'])('accepts %s', (zone) => {
    expect(isValidTimeZone(zone)).toBe(true);
  });

  it.each(['Mars/Olympus', 'Europe/Pariss', '', 'GMT+25'])('rejects %j', (zone) => {
    expect(isValidTimeZone(zone)).toBe(false);
  });
});

describe('zonedParts', () => {
  it('gives the wall clock of an instant in a zone', () => {
    expect(zonedParts(Date.parse('2026-11-20T23:30:15Z'), 'Europe/Paris')).toEqual({
      year: 2026,
      month: 11,
      day: 21,
      hour: 0,
      minute: 30,
      second: 15,
    });
  });

  it('shows midnight as hour 0, not 24', () => {
    expect(zonedParts(Date.parse('2026-11-20T00:00:00Z'), 'UTC').hour).toBe(0);
  });
});

describe('zoneOffsetMs', () => {
  it('is +1h in a Paris winter and +2h in a Paris summer', () => {
    expect(zoneOffsetMs(Date.parse('2026-01-15T12:00:00Z'), 'Europe/Paris')).toBe(3_600_000);
    expect(zoneOffsetMs(Date.parse('2026-07-15T12:00:00Z'), 'Europe/Paris')).toBe(7_200_000);
  });

  it('changes at the instant of the DST change', () => {
    expect(zoneOffsetMs(Date.parse('2026-03-29T00:59:59Z'), 'Europe/Paris')).toBe(3_600_000);
    expect(zoneOffsetMs(Date.parse('2026-03-29T01:00:00Z'), 'Europe/Paris')).toBe(7_200_000);
  });

  it('handles negative and fractional-hour offsets', () => {
    expect(zoneOffsetMs(Date.parse('2026-11-20T12:00:00Z'), 'America/New_York')).toBe(-5 * 3_600_000);
    expect(zoneOffsetMs(Date.parse('2026-11-20T12:00:00Z'), 'Asia/Kolkata')).toBe(5.5 * 3_600_000);
  });

  it('ignores the milliseconds of the instant', () => {
    expect(zoneOffsetMs(Date.parse('2026-01-15T12:00:00.999Z'), 'Europe/Paris')).toBe(3_600_000);
  });
});

describe('zonedTimeToEpoch', () => {
  it('finds the instant of a local time', () => {
    expect(iso(zonedTimeToEpoch('Europe/Paris', 2026, 11, 20, 4, 0))).toBe('2026-11-20T03:00:00.000Z');
    expect(iso(zonedTimeToEpoch('America/New_York', 2026, 7, 4, 12, 30, 15))).toBe('2026-07-04T16:30:15.000Z');
  });

  it('moves a local time skipped by the spring change forward by the gap', () => {
    expect(iso(zonedTimeToEpoch('Europe/Paris', 2026, 3, 29, 2, 30))).toBe('2026-03-29T01:30:00.000Z');
  });

  it('resolves a repeated local midnight to its first occurrence (Havana, west of UTC)', () => {
    // Cuba leaves summer time at 01:00 → 00:00 on 2026-11-01: midnight happens at 04:00Z and again at 05:00Z.
    expect(iso(zonedTimeToEpoch('America/Havana', 2026, 11, 1))).toBe('2026-11-01T04:00:00.000Z');
  });

  // BUG (core/time.ts zonedTimeToEpoch): east of UTC the first guess already uses the offset after the change, and
  // both passes agree on it, so the second occurrence is returned, contrary to the function's documentation.
  // Flip to `it` once fixed.
  it('resolves a repeated local time to its first occurrence (Paris, east of UTC)', () => {
    // 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET).
    expect(iso(zonedTimeToEpoch('Europe/Paris', 2026, 10, 25, 2, 30))).toBe('2026-10-25T00:30:00.000Z');
  });
});

describe('addDays', () => {
  it.each([
    ['2026-11-20', 1, '2026-11-21'],
    ['2026-11-30', 1, '2026-12-01'],
    ['2026-12-31', 1, '2027-01-01'],
    ['2026-03-01', -1, '2026-02-28'],
    ['2028-03-01', -1, '2028-02-29'],
    ['2026-11-20', 0, '2026-11-20'],
    ['2026-11-20', 30, '2026-12-20'],
  ])('%s plus %i days is %s', (date, days, expected) => {
    expect(addDays(date, days)).toBe(expected);
  });
});

test('UTC wall-clock fields (read from Date, not Intl) equal what Intl says, across years, leap days and midnights', () => {
  const intl = new Intl.DateTimeFormat('en-US', {
    timeZone: 'UTC',
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const start = Date.parse('2023-12-31T22:00:00Z');
  for (let t = start; t < start + 3 * 366 * 86_400_000; t += 7_777_777) {
    const parts = Object.fromEntries(
      intl
        .formatToParts(new Date(t))
        .filter((p) => p.type !== 'literal')
        .map((p) => [p.type, Number(p.value)]),
    );
    for (const zone of ['UTC', 'Etc/UTC', 'GMT']) expect(zonedParts(t, zone)).toEqual(parts);
  }
  expect(zonedParts(Date.parse('2024-02-29T00:00:00Z'), 'UTC')).toEqual({
    year: 2024,
    month: 2,
    day: 29,
    hour: 0,
    minute: 0,
    second: 0,
  });
});
