/**
 * The two forms of a staged chunk.
 *
 * - JSON: an array of row objects, the form any rows can take.
 * - COPY text: a header line naming the columns and how to read each, then one line per row in PostgreSQL's COPY text
 *   format. An extract's COPY output is staged as it comes from PostgreSQL, without being parsed here, and a load
 *   whose columns match pipes it back into COPY without parsing either. Rows that share their keys and the kind of
 *   each value (a transform's usual output) are written in this form too.
 *
 * Both forms read back as exactly the same rows: what `JSON.parse(JSON.stringify(rows))` gives, so a step never sees
 * a difference between inline and staged data (dates as ISO strings, non-finite numbers as null).
 */
import { types } from 'pg';
import type { Row } from '../core/pipeline-spec';
import { copyValue, escapeCopyText } from './postgres/copy-text';

/**
 * How a COPY column reads back: `text`, `number`, `boolean` and `json` were written from JavaScript values; a
 * PostgreSQL type OID is a column of a query's own COPY output, read as the driver reads that type.
 */
export type ColumnType = 'text' | 'number' | 'boolean' | 'json' | number;

/** A column of a COPY chunk. */
export interface CopyColumn {
  name: string;
  type: ColumnType;
}

/** A chunk in COPY form: `text` is its lines, each ending in a newline. */
export interface CopyChunk {
  columns: CopyColumn[];
  text: string;
  rowCount: number;
}

const COPY_HEADER = '#pipectl-copy ';

/** The stored body of a COPY chunk. */
export function copyBody(chunk: CopyChunk): string {
  return `${COPY_HEADER}${JSON.stringify({ columns: chunk.columns, rows: chunk.rowCount })}\n${chunk.text}`;
}

/** A stored body, parsed only as far as its form: COPY chunks keep their text, JSON chunks become rows. */
export function parseBody(body: string): CopyChunk | Row[] {
  if (!body.startsWith(COPY_HEADER)) return JSON.parse(body) as Row[];
  const end = body.indexOf('\n');
  const header = JSON.parse(body.slice(COPY_HEADER.length, end)) as { columns: CopyColumn[]; rows: number };
  return { columns: header.columns, text: body.slice(end + 1), rowCount: header.rows };
}

/** Number of lines (newline bytes) in a COPY text. */
export function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

const UNESCAPED: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** One field of COPY text as a string: backslash escapes undone (`\N`, NULL, is handled by the caller). */
export function unescapeCopy(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e.length > 1 && e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return UNESCAPED[e] ?? e;
  });
}

/** A JSON-safe copy of what a type parser returned: objects, arrays and dates as `JSON.stringify` leaves them. */
function jsonSafe(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (value === null || typeof value !== 'object') return value;
  return JSON.parse(JSON.stringify(value)) as unknown;
}

const TIMESTAMPTZ = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/;

/** Milliseconds of a fraction of a second (`123456` → `123`), truncated as the driver's `Date` does. */
function millis(fraction: string | undefined): string {
  return fraction ? fraction.slice(0, 3).padEnd(3, '0') : '000';
}

/**
 * A `timestamptz` as PostgreSQL prints it (ISO DateStyle, any zone offset) to the ISO string of the `Date` the
 * driver would make (milliseconds truncated). Anything else — other DateStyles, BC, infinity — goes to the driver.
 */
function timestamptzToIso(text: string, fallback: (text: string) => unknown): unknown {
  // The common case, a server in UTC: `2026-11-20 01:02:03.456789+00` needs no date arithmetic.
  if (text.length >= 22 && text.endsWith('+00') && text.charCodeAt(10) === 32 && text.charCodeAt(0) !== 48) {
    const dot = text.charCodeAt(19) === 46;
    if (dot ? text.length <= 29 : text.length === 22) {
      return `${text.slice(0, 10)}T${text.slice(11, 19)}.${millis(dot ? text.slice(20, -3) : undefined)}Z`;
    }
  }
  const m = TIMESTAMPTZ.exec(text);
  // Years 0–999 print with leading zeros; Date.UTC would read 0–99 as 1900–1999. The driver handles those.
  if (!m || m[1]!.startsWith('0')) return jsonSafe(fallback(text));
  const offset = (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) * (m[8] === '-' ? -1 : 1);
  const time = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, Number(millis(m[7])));
  return new Date(time - offset * 1000).toISOString();
}

const OID = { bool: 16, int8: 20, int2: 21, int4: 23, text: 25, oid: 26, json: 114, float4: 700, float8: 701 } as const;
const OID_MORE = { bpchar: 1042, varchar: 1043, timestamptz: 1184, numeric: 1700, uuid: 2950, jsonb: 3802 } as const;

/** How one column's field (never `\N`) becomes a value. */
function decoderOf(type: ColumnType): (field: string) => unknown {
  switch (type) {
    case 'text':
      return unescapeCopy;
    case 'number':
      return Number;
    case 'boolean':
      return (f) => f === 't';
    case 'json':
      return (f) => JSON.parse(unescapeCopy(f)) as unknown;
    default:
      break;
  }
  // The driver's default parsers for the common types have faster equivalents here, with the same results.
  const parse = types.getTypeParser(type, 'text') as (text: string) => unknown;
  switch (type) {
    case OID.int2:
    case OID.int4:
    case OID.oid:
      return Number;
    case OID.float4:
    case OID.float8:
      return (f) => jsonSafe(Number(f));
    case OID.int8:
    case OID.text:
    case OID_MORE.bpchar:
    case OID_MORE.varchar:
    case OID_MORE.numeric:
    case OID_MORE.uuid:
      return unescapeCopy;
    case OID.bool:
      return (f) => f === 't';
    case OID.json:
    case OID_MORE.jsonb:
      return (f) => JSON.parse(unescapeCopy(f)) as unknown;
    case OID_MORE.timestamptz:
      return (f) => timestamptzToIso(f, parse);
    default:
      return (f) => jsonSafe(parse(unescapeCopy(f)));
  }
}

type FieldDecoder = (field: string) => unknown;
/** Reads one line, `text` from `start` to `end` (its newline), as a row, with the decoders given. */
type LineReader = (text: string, start: number, end: number, decoders: readonly FieldDecoder[]) => Row;

/**
 * Compiles the reader of a line of `names`: property names written out in the code, so each row is built as one
 * object literal of a fixed shape, rather than key by key through lookups by a variable name (about twice the work
 * for a row of ten columns). Names are written as JSON strings, so no name can change the code.
 *
 * `plain` lines hold no backslash: no field is NULL or escaped, and the columns in `asIs` are their field as it is.
 */
function compileLineReader(names: readonly string[], plain: boolean, asIs: readonly boolean[]): LineReader {
  const body: string[] = ['let s = start, e;'];
  names.forEach((_, c) => {
    if (c < names.length - 1) body.push(`e = text.indexOf('\\t', s); if (e === -1 || e > end) e = end;`);
    else body.push('e = end;');
    body.push(`const f${c} = text.slice(s, e); s = e + 1;`);
  });
  const value = (c: number) =>
    plain ? (asIs[c] ? `f${c}` : `d[${c}](f${c})`) : `f${c} === '\\\\N' ? null : d[${c}](f${c})`;
  body.push(`return { ${names.map((n, c) => `${JSON.stringify(n)}: ${value(c)}`).join(', ')} };`);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- compiled from column names quoted as JSON strings
  return new Function('text', 'start', 'end', 'd', body.join('\n')) as LineReader;
}

/** A line reader that sets each key as an own property (as `JSON.parse` does), whatever its name. */
function lineReaderByKey(names: readonly string[]): LineReader {
  return (text, start, end, decoders) => {
    const row: Row = {};
    let s = start;
    names.forEach((name, c) => {
      let e = c === names.length - 1 ? end : text.indexOf('\t', s);
      if (e === -1 || e > end) e = end;
      const field = text.slice(s, e);
      const value = field === '\\N' ? null : decoders[c]!(field);
      Object.defineProperty(row, name, { value, enumerable: true, writable: true, configurable: true });
      s = e + 1;
    });
    return row;
  };
}

/** The compiled readers of a chunk's columns, by their names and types; one set per kind of chunk a worker reads. */
const lineReaders = new Map<string, { plain: LineReader; full: LineReader }>();

function lineReadersOf(
  columns: readonly CopyColumn[],
  asIs: readonly boolean[],
): { plain: LineReader; full: LineReader } {
  const key = JSON.stringify(columns);
  let readers = lineReaders.get(key);
  if (!readers && columns.some((c) => c.name === '__proto__')) {
    // A literal `__proto__` key would set the row's prototype: such rows are built key by key.
    const read = lineReaderByKey(columns.map((c) => c.name));
    readers = { plain: read, full: read };
  }
  if (!readers) {
    const names = columns.map((c) => c.name);
    readers = { plain: compileLineReader(names, true, asIs), full: compileLineReader(names, false, asIs) };
    // Bounded: a worker that meets ever new column sets keeps compiling rather than growing.
    if (lineReaders.size >= 1_000) lineReaders.clear();
    lineReaders.set(key, readers);
  }
  return readers;
}

/**
 * Reads a COPY chunk one row at a time, so a step that handles each row and lets it go (a row transform) never holds a
 * whole chunk of row objects: they die young, where collecting them is cheap.
 */
export class CopyRowCursor {
  private readonly decoders: FieldDecoder[];
  private readonly readers: { plain: LineReader; full: LineReader };
  private start = 0;
  /** Where the next backslash at or after `start` is (the text's length when there is none). */
  private backslash = -1;

  constructor(private readonly chunk: CopyChunk) {
    this.decoders = chunk.columns.map((c) => decoderOf(c.type));
    this.readers = lineReadersOf(
      chunk.columns,
      this.decoders.map((d) => d === unescapeCopy),
    );
  }

  /** The next row, undefined after the last. */
  next(): Row | undefined {
    const { text } = this.chunk;
    const { start } = this;
    if (start >= text.length) return undefined;
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (this.backslash < start) {
      this.backslash = text.indexOf('\\', start);
      if (this.backslash === -1) this.backslash = text.length;
    }
    this.start = end + 1;
    // Most lines hold no backslash: no field is NULL or escaped, and text fields are read as they are.
    const read = this.backslash > end ? this.readers.plain : this.readers.full;
    return read(text, start, end, this.decoders);
  }
}

/** Reads a stored chunk of either form one row at a time: each call gives the next row, undefined after the last. */
export function rowReader(chunk: CopyChunk | Row[]): () => Row | undefined {
  if (Array.isArray(chunk)) {
    let i = 0;
    return () => (i < chunk.length ? chunk[i++] : undefined);
  }
  const cursor = new CopyRowCursor(chunk);
  return () => cursor.next();
}

/** The rows of a COPY chunk. */
export function copyRows(chunk: CopyChunk): Row[] {
  const rows: Row[] = new Array<Row>(chunk.rowCount);
  const cursor = new CopyRowCursor(chunk);
  let n = 0;
  for (let row = cursor.next(); row; row = cursor.next()) rows[n++] = row;
  rows.length = n;
  return rows;
}

type ValueKind = 'text' | 'number' | 'boolean' | 'json';

/** The kind a value is written as in a COPY chunk, undefined when only JSON can hold it as it is. */
function kindOf(value: unknown): ValueKind | null | undefined {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
      return 'text';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'object':
      if (value instanceof Date) return 'text';
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined;
      return Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype ? 'json' : undefined;
    default:
      return undefined;
  }
}

/**
 * Writes one row's values into `fields` (COPY text) and checks each kind against `kinds`; false when the row does not
 * fit. Strings, numbers and NULL are written in the compiled code; `other` takes any other value of column `i`.
 */
type FieldWriter = (
  row: Row,
  fields: string[],
  kinds: (ValueKind | undefined)[],
  escape: (text: string) => string,
  other: (value: unknown, i: number) => boolean,
) => boolean;

/**
 * Compiles the field writer of rows with keys `names`, with each property name written out in the code (see
 * {@link compileLineReader}: reading ten properties by a variable name costs about as much as writing the line).
 */
function compileFieldWriter(names: readonly string[]): FieldWriter {
  const body = names.map((n, i) =>
    [
      `v = row[${JSON.stringify(n)}];`,
      `if (typeof v === 'string') {`,
      `  if (kinds[${i}] !== 'text') { if (kinds[${i}] !== undefined) return false; kinds[${i}] = 'text'; }`,
      `  fields[${i}] = escape(v);`,
      `} else if (typeof v === 'number') {`,
      `  if (kinds[${i}] !== 'number') { if (kinds[${i}] !== undefined) return false; kinds[${i}] = 'number'; }`,
      // As JSON would: non-finite numbers become null.
      `  fields[${i}] = Number.isFinite(v) ? String(v) : '\\\\N';`,
      `} else if (v === null) fields[${i}] = '\\\\N';`,
      `else if (!other(v, ${i})) return false;`,
    ].join('\n'),
  );
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- compiled from keys quoted as JSON strings
  return new Function(
    'row',
    'fields',
    'kinds',
    'escape',
    'other',
    `let v;\n${body.join('\n')}\nreturn true;`,
  ) as FieldWriter;
}

/**
 * Writes rows that share their keys, and a kind per column, as COPY lines; `line` returns undefined for the first
 * row that does not fit (the chunk is then written as JSON).
 */
export class CopyLineEncoder {
  private readonly names: string[];
  private readonly kinds: (ValueKind | undefined)[];
  /** The fields of the line being written, reused from line to line. */
  private readonly fields: string[];
  private readonly write: FieldWriter;
  /** Writes a value other than a string, a number or null (a missing key reads as undefined and does not fit). */
  private readonly other = (value: unknown, i: number): boolean => {
    const kind = kindOf(value);
    if (!kind) return false;
    if (this.kinds[i] !== kind) {
      if (this.kinds[i] !== undefined) return false;
      this.kinds[i] = kind;
    }
    // As JSON would: invalid dates become null.
    if (value instanceof Date) this.fields[i] = Number.isNaN(value.getTime()) ? '\\N' : value.toISOString();
    else this.fields[i] = copyValue(value);
    return true;
  };

  constructor(first: Row) {
    this.names = Object.keys(first);
    this.kinds = this.names.map(() => undefined);
    this.fields = this.names.map(() => '');
    this.write = compileFieldWriter(this.names);
  }

  line(row: Row): string | undefined {
    if (Object.keys(row).length !== this.names.length) return undefined;
    if (!this.write(row, this.fields, this.kinds, escapeCopyText, this.other)) return undefined;
    // One flat string per line: appending field by field would leave a tree of string pieces per line, alive until
    // the chunk is written, and every young-generation collection would copy it.
    return this.fields.join('\t');
  }

  columns(): CopyColumn[] {
    return this.names.map((name, i) => ({ name, type: this.kinds[i] ?? 'text' }));
  }
}
