import { copyLines, copyValue } from '../../activities/postgres/copy-text';

describe('copyValue', () => {
  it('writes null and undefined as \\N', () => {
    expect(copyValue(null)).toBe('\\N');
    expect(copyValue(undefined)).toBe('\\N');
  });

  it('keeps the empty string distinct from NULL', () => {
    expect(copyValue('')).toBe('');
  });

  it('escapes backslash, tab, newline and carriage return', () => {
    expect(copyValue('a\tb')).toBe('a\\tb');
    expect(copyValue('line 1\nline 2')).toBe('line 1\\nline 2');
    expect(copyValue('crlf\r\n')).toBe('crlf\\r\\n');
    expect(copyValue('C:\\temp')).toBe('C:\\\\temp');
  });

  it('escapes a literal backslash-N so it is not read as NULL', () => {
    expect(copyValue('\\N')).toBe('\\\\N');
  });

  it('leaves other text, including non-ASCII, as it is', () => {
    expect(copyValue('Zoë — 東京 "quoted" \'single\' , ;')).toBe('Zoë — 東京 "quoted" \'single\' , ;');
  });

  it('writes numbers, including the non-finite ones PostgreSQL knows', () => {
    expect(copyValue(42)).toBe('42');
    expect(copyValue(-1.5)).toBe('-1.5');
    expect(copyValue(0)).toBe('0');
    expect(copyValue(Number.NaN)).toBe('NaN');
    expect(copyValue(Number.POSITIVE_INFINITY)).toBe('Infinity');
    expect(copyValue(Number.NEGATIVE_INFINITY)).toBe('-Infinity');
  });

  it('writes bigints exactly', () => {
    expect(copyValue(9_007_199_254_740_993n)).toBe('9007199254740993');
  });

  it('writes booleans as t and f', () => {
    expect(copyValue(true)).toBe('t');
    expect(copyValue(false)).toBe('f');
  });

  it('writes dates as ISO-8601 UTC instants', () => {
    expect(copyValue(new Date('2026-11-20T04:00:00+01:00'))).toBe('2026-11-20T03:00:00.000Z');
  });

  it('writes objects and arrays as JSON, escaped for COPY', () => {
    expect(copyValue({ a: 1, b: [true, null] })).toBe('{"a":1,"b":[true,null]}');
    expect(copyValue([1, 'b'])).toBe('[1,"b"]');
    // JSON turns the tab into \t; COPY then needs that backslash doubled, so PostgreSQL reads back {"s":"x\ty"}.
    expect(copyValue({ s: 'x\ty' })).toBe('{"s":"x\\\\ty"}');
  });
});

describe('copyLines', () => {
  it('writes one tab-separated line per row in the order of the columns', () => {
    const text = copyLines(
      [
        { id: 1, name: 'a\tb', note: null, extra: 'ignored' },
        { name: 'c', id: 2 },
      ],
      ['id', 'name', 'note'],
    );
    expect(text).toBe('1\ta\\tb\t\\N\n2\tc\t\\N\n');
  });

  it('keeps a row with an embedded newline on one line', () => {
    const text = copyLines([{ v: 'two\nlines' }], ['v']);
    expect(text.split('\n')).toEqual(['two\\nlines', '']);
  });

  it('writes nothing for no rows', () => {
    expect(copyLines([], ['id'])).toBe('');
  });
});
