import { types } from 'pg';
import type { Row } from '../../core/pipeline-spec';
import {
  copyBody,
  copyRows,
  CopyLineEncoder,
  countLines,
  parseBody,
  rowReader,
  unescapeCopy,
  type CopyChunk,
} from '../../activities/staged-chunk';

const viaJson = (rows: Row[]) => JSON.parse(JSON.stringify(rows)) as Row[];

/** Encodes rows as one COPY chunk, or undefined when a row does not fit the form. */
function encode(rows: Row[]): CopyChunk | undefined {
  const encoder = new CopyLineEncoder(rows[0]!);
  const lines: string[] = [];
  for (const row of rows) {
    const line = encoder.line(row);
    if (line === undefined) return undefined;
    lines.push(line);
  }
  return { columns: encoder.columns(), text: `${lines.join('\n')}\n`, rowCount: rows.length };
}

test('rows sharing keys and kinds read back from COPY form exactly as from JSON', () => {
  const rows: Row[] = [
    {
      id: 1,
      at: new Date('2026-11-20T01:02:03.004Z'),
      label: 'tab\there, newline\nthere, backslash \\ and \\N, é 漢字',
      amount: 12.5,
      big: 1e21,
      ok: true,
      doc: { nested: ['a', 1, null], quote: '"' },
      list: [1, 2, 3],
      nothing: null,
    },
    {
      id: 2,
      at: 'already a string',
      label: '',
      amount: Number.NaN,
      big: -0,
      ok: false,
      doc: null,
      list: [],
      nothing: null,
    },
    {
      id: 3,
      at: new Date(Number.NaN),
      label: '\\N',
      amount: Number.POSITIVE_INFINITY,
      big: 0.1 + 0.2,
      ok: null,
      doc: {},
      list: [{ a: 1 }],
      nothing: null,
    },
  ];
  const chunk = encode(rows)!;
  expect(chunk).toBeDefined();
  const back = parseBody(copyBody(chunk));
  expect(Array.isArray(back)).toBe(false);
  expect(copyRows(back as CopyChunk)).toEqual(viaJson(rows));
  expect(countLines(chunk.text)).toBe(3);
});

test.each([
  ['a missing key', [{ a: 1, b: 2 }, { a: 1 }]],
  ['an extra key', [{ a: 1 }, { a: 1, b: 2 }]],
  ['another key of the same count', [{ a: 1 }, { b: 1 }]],
  ['a kind that changes', [{ a: 1 }, { a: '1' }]],
  [
    'an undefined value',
    [
      { a: 1, b: 2 },
      { a: 1, b: undefined },
    ],
  ],
  ['a class instance', [{ a: new Map() }]],
  ['a bigint', [{ a: 1n }]],
])('%s keeps the chunk in JSON form', (_, rows) => {
  expect(encode(rows as Row[])).toBeUndefined();
});

test('a column that is null in the first rows takes the kind of its first value', () => {
  const rows: Row[] = [{ a: null }, { a: null }, { a: 5 }, { a: null }];
  const chunk = encode(rows)!;
  expect(chunk.columns).toEqual([{ name: 'a', type: 'number' }]);
  expect(copyRows(chunk)).toEqual(rows);
});

test('a row reader gives the rows of either form one at a time, then undefined', () => {
  const rows: Row[] = [
    { id: 1, label: 'a\tb', at: new Date('2026-11-20T00:00:00.000Z'), n: null },
    { id: 2, label: '', at: new Date('2026-11-21T00:00:00.000Z'), n: 2.5 },
    { id: 3, label: '\\N', at: new Date('2026-11-22T00:00:00.000Z'), n: null },
  ];
  const readAll = (next: () => Row | undefined) => {
    const out: Row[] = [];
    for (let row = next(); row; row = next()) out.push(row);
    expect(next()).toBeUndefined();
    return out;
  };
  const chunk = encode(rows)!;
  expect(readAll(rowReader(chunk))).toEqual(copyRows(chunk));
  expect(readAll(rowReader(chunk))).toEqual(viaJson(rows));
  expect(readAll(rowReader(viaJson(rows)))).toEqual(viaJson(rows));
  expect(readAll(rowReader({ columns: chunk.columns, text: '', rowCount: 0 }))).toEqual([]);
});

test('any key reads back as an own property of its name, whatever characters it holds', () => {
  const keys = ['a"b', "c'd", 'e\\f', 'g\nh', '`${i}`', '"]; throw new Error("x"); //', 'constructor', '', '__proto__'];
  const rows: Row[] = [0, 1, 2].map((n) => {
    const row: Row = {};
    for (const [i, key] of keys.entries()) Object.defineProperty(row, key, { value: `${n}:${i}`, enumerable: true });
    return row;
  });
  const chunk = encode(rows)!;
  expect(chunk.columns.map((c) => c.name)).toEqual(keys);
  const back = copyRows(chunk);
  expect(back).toEqual(viaJson(rows));
  expect(Object.getPrototypeOf(back[0])).toBe(Object.prototype);
  expect(Object.keys(back[1]!)).toEqual(keys);
  // Without `__proto__` the rows take the compiled reader.
  const plain = keys.slice(0, -1);
  const text = `${plain.map((_, i) => `v${i}`).join('\t')}\n`;
  const row = copyRows({ columns: plain.map((name) => ({ name, type: 'text' })), text, rowCount: 1 })[0]!;
  expect(Object.entries(row)).toEqual(plain.map((k, i) => [k, `v${i}`]));
});

test('lines with and without backslashes read alike, in any order', () => {
  const rows: Row[] = [];
  for (let i = 0; i < 50; i++) {
    rows.push({
      id: i,
      note: i % 7 === 0 ? null : i % 5 === 0 ? `tab\there ${i}` : `plain ${i}`,
      n: i % 3 ? i / 4 : null,
    });
  }
  const chunk = encode(rows)!;
  expect(copyRows(chunk)).toEqual(viaJson(rows));
  // A missing trailing field reads as an empty string, as before.
  const short = copyRows({ columns: chunk.columns, text: '7\tx\n', rowCount: 1 });
  expect(short).toEqual([{ id: 7, note: 'x', n: 0 }]);
});

test('JSON bodies read back as rows', () => {
  expect(parseBody('[{"a":1}]')).toEqual([{ a: 1 }]);
});

test('COPY escapes are undone, octal and hex included', () => {
  expect(unescapeCopy('a\\tb\\nc\\\\d\\re\\b\\f\\v')).toBe('a\tb\nc\\d\re\b\f\v');
  expect(unescapeCopy('\\101\\x42')).toBe('AB');
  expect(unescapeCopy('plain')).toBe('plain');
});

test('columns of a query read as the driver reads their types, then as JSON would carry them', () => {
  const oids = { int4: 23, int8: 20, numeric: 1700, float8: 701, bool: 16, jsonb: 3802, ts: 1184, date: 1082 };
  const columns = Object.entries(oids).map(([name, type]) => ({ name, type }));
  const fields = [
    [
      '42',
      '9007199254740993',
      '12.50',
      'NaN',
      't',
      '{"a": [1, "x\\\\\\\\y"]}',
      '2026-11-20 01:02:03.456789+00',
      '2026-11-20',
    ],
    ['-7', '-1', '0', '-Infinity', 'f', '[]', '1999-12-31 23:59:59-05:30', 'infinity'],
    ['\\N', '\\N', '\\N', '1.5e300', '\\N', 'null', '0044-03-15 12:00:00+00:19:32', '\\N'],
  ];
  const chunk: CopyChunk = {
    columns,
    text: fields.map((f) => `${f.join('\t')}\n`).join(''),
    rowCount: fields.length,
  };
  const driver = fields.map((f) => {
    const row: Row = {};
    columns.forEach((c, i) => {
      const text = f[i]!.replace(/\\\\/g, '\\');
      row[c.name] = f[i] === '\\N' ? null : types.getTypeParser(c.type, 'text')(text);
    });
    return row;
  });
  expect(copyRows(chunk)).toEqual(viaJson(driver));
});

test('timestamps in any zone offset read as the ISO instant the driver would give', () => {
  const parse = types.getTypeParser(1184, 'text') as (t: string) => Date;
  const samples: string[] = [];
  for (let i = 0; i < 500; i++) {
    const ms = Date.UTC(1900, 0, 1) + Math.floor(Math.random() * 200 * 365 * 86_400_000);
    const d = new Date(ms);
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    const frac =
      i % 3 === 0
        ? ''
        : `.${String(Math.floor(Math.random() * 1e6))
            .padStart(6, '0')
            .slice(0, 1 + (i % 6))}`;
    const offsets = ['+00', '-05', '+05:30', '-09:30', '+14', '+00:19:32'];
    samples.push(
      `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:` +
        `${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}${offsets[Math.floor(i / 3) % offsets.length]}`,
    );
  }
  const chunk: CopyChunk = {
    columns: [{ name: 't', type: 1184 }],
    text: samples.map((s) => `${s}\n`).join(''),
    rowCount: samples.length,
  };
  expect(copyRows(chunk).map((r) => r.t)).toEqual(samples.map((s) => parse(s).toISOString()));
});
