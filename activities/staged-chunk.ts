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
import { copyValue } from './postgres/copy-text';

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

/**
 * Reads a COPY chunk one row at a time, so a step that handles each row and lets it go (a row transform) never holds a
 * whole chunk of row objects: they die young, where collecting them is cheap.
 */
export class CopyRowCursor {
  private readonly names: string[];
  private readonly decoders: ((field: string) => unknown)[];
  private start = 0;

  constructor(private readonly chunk: CopyChunk) {
    this.names = chunk.columns.map((c) => c.name);
    this.decoders = chunk.columns.map((c) => decoderOf(c.type));
  }

  /** The next row, undefined after the last. */
  next(): Row | undefined {
    const { text } = this.chunk;
    const { names, decoders, start } = this;
    if (start >= text.length) return undefined;
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const row: Row = {};
    let fieldStart = start;
    for (let c = 0; c < names.length; c++) {
      let fieldEnd = c === names.length - 1 ? end : text.indexOf('\t', fieldStart);
      if (fieldEnd === -1 || fieldEnd > end) fieldEnd = end;
      const field = text.slice(fieldStart, fieldEnd);
      row[names[c]!] = field === '\\N' ? null : decoders[c]!(field);
      fieldStart = fieldEnd + 1;
    }
    this.start = end + 1;
    return row;
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

/** Rows that hold `\N` in column `index` of a COPY text. */
export function countNullFields(text: string, index: number): number {
  let nulls = 0;
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    let fieldStart = start;
    for (let c = 0; c < index && fieldStart <= end; c++) {
      const tab = text.indexOf('\t', fieldStart);
      fieldStart = tab === -1 || tab > end ? end + 1 : tab + 1;
    }
    if (fieldStart <= end) {
      const tab = text.indexOf('\t', fieldStart);
      const fieldEnd = tab === -1 || tab > end ? end : tab;
      if (fieldEnd - fieldStart === 2 && text.startsWith('\\N', fieldStart)) nulls++;
    }
    start = end + 1;
  }
  return nulls;
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
 * Writes rows that share their keys, and a kind per column, as COPY lines; `line` returns undefined for the first
 * row that does not fit (the chunk is then written as JSON).
 */
export class CopyLineEncoder {
  private readonly names: string[];
  private readonly kinds: (ValueKind | undefined)[];
  /** The fields of the line being written, reused from line to line. */
  private readonly fields: string[];

  constructor(first: Row) {
    this.names = Object.keys(first);
    this.kinds = this.names.map(() => undefined);
    this.fields = this.names.map(() => '');
  }

  line(row: Row): string | undefined {
    const { names, kinds } = this;
    if (Object.keys(row).length !== names.length) return undefined;
    const { fields } = this;
    for (let i = 0; i < names.length; i++) {
      const value = row[names[i]!];
      if (value === undefined && !Object.hasOwn(row, names[i]!)) return undefined;
      const kind = kindOf(value);
      if (kind === undefined) return undefined;
      if (kind !== null) {
        if (kinds[i] === undefined) kinds[i] = kind;
        else if (kinds[i] !== kind) return undefined;
      }
      // As JSON would: non-finite numbers and invalid dates become null.
      if (kind === 'number' && !Number.isFinite(value)) fields[i] = '\\N';
      else if (value instanceof Date) fields[i] = Number.isNaN(value.getTime()) ? '\\N' : value.toISOString();
      else fields[i] = copyValue(value);
    }
    // One flat string per line: appending field by field would leave a tree of string pieces per line, alive until
    // the chunk is written, and every young-generation collection would copy it.
    return fields.join('\t');
  }

  columns(): CopyColumn[] {
    return this.names.map((name, i) => ({ name, type: this.kinds[i] ?? 'text' }));
  }
}
