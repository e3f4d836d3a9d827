/**
 * Encoding of values for PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash escapes.
 */

function escape(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92) out += '\\\\';
    else if (c === 9) out += '\\t';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else out += text[i];
  }
  return out;
}

/** One value as COPY text: objects and arrays become JSON (for json/jsonb columns), dates ISO-8601. */
export function copyValue(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  switch (typeof value) {
    case 'string':
      return escape(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : value > 0 ? 'Infinity' : value < 0 ? '-Infinity' : 'NaN';
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 't' : 'f';
    default:
      if (value instanceof Date) return value.toISOString();
      return escape(JSON.stringify(value));
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
