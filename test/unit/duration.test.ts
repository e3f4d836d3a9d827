import { formatDuration, parseDuration } from '../../core/duration';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5 minutes', 300_000],
    ['1h30m', 5_400_000],
    ['1h 30m', 5_400_000],
    ['1 hour 30 minutes', 5_400_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['2 weeks', 1_209_600_000],
    ['1d', 86_400_000],
    ['3 days', 259_200_000],
    ['10 sec', 10_000],
    ['2 hrs', 7_200_000],
    ['30S', 30_000],
    ['  30s  ', 30_000],
  ])('reads %j as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('reads a bare number string as milliseconds', () => {
    expect(parseDuration('1500')).toBe(1500);
  });

  it('passes a non-negative number of milliseconds through', () => {
    expect(parseDuration(2_500)).toBe(2_500);
    expect(parseDuration(0)).toBe(0);
  });

  it('reads zero as zero, leaving "must be longer than zero" to the caller', () => {
    expect(parseDuration('0s')).toBe(0);
  });

  it.each(['', '   ', 'soon', '-5s', '1h30', '5 minutes ago', '1 h,30m', '.5s', '1e3s', '1x', '5 fortnights', 'h'])(
    'returns undefined for %j',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('returns undefined for the number %p', (n) => {
    expect(parseDuration(n)).toBeUndefined();
  });

  it('gives the same answer when called again after a failure (no regex state leaks between calls)', () => {
    expect(parseDuration('1h oops')).toBeUndefined();
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [250, '250ms'],
    [1_500, '1.5s'],
    [45_000, '45s'],
    [60_000, '1m'],
    [5_400_000, '1h30m'],
    [86_400_000, '1d'],
    [90_061_000, '1d1h1m1s'],
  ])('formats %i ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each(['30s', '5 minutes', '1h30m', '2 days'])('round-trips %j through parseDuration', (text) => {
    const ms = parseDuration(text)!;
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
