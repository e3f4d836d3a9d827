/**
 * Encoding of values for PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash escapes.
 */

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A string as a COPY text field: backslash, tab, newline and carriage return escaped. */
export function escapeCopyText(text: string): string {
  // Most values hold none of the four characters and go out as they are.
  return SPECIAL.test(text) ? text.replace(SPECIAL_ALL, (c) => ESCAPED[c]!) : text;
}

/** One value as COPY text: objects and arrays become JSON (for json/jsonb columns), dates ISO-8601. */
export function copyValue(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  switch (typeof value) {
    case 'string':
      return escapeCopyText(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : value > 0 ? 'Infinity' : value < 0 ? '-Infinity' : 'NaN';
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 't' : 'f';
    default:
      if (value instanceof Date) return value.toISOString();
      return escapeCopyText(JSON.stringify(value));
  }
}

/** Rows as COPY text lines for the given columns. */
export function copyLines(rows: readonly Record<string, unknown>[], columns: readonly string[]): string {
  let out = '';
  for (const row of rows) {
    for (let i = 0; i < columns.length; i++) {
      if (i > 0) out += '\t';
      out += copyValue(row[columns[i]!]);
    }
    out += '\n';
  }
  return out;
}
