/**
 * The hand-written baseline of the ETL benchmark, with no orchestration: COPY the window's orders out of the source,
 * transform each row in Node as it streams past, COPY the result into the target, replacing the window's rows in one
 * transaction — what a careful engineer would write by hand for one window.
 */
import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { Row } from '../../../core/pipeline-spec';
import { SOURCE_COLUMNS, SOURCE_TABLE, TARGET_COLUMNS, transformOrder } from './orders';

const UNESCAPE: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** One field of COPY text: `\N` is NULL, backslash escapes undone. */
function readField(text: string): string | null {
  if (text === '\\N') return null;
  if (!text.includes('\\')) return text;
  return text.replace(/\\(.)/g, (_, c: string) => UNESCAPE[c] ?? c);
}

/** One value as COPY text. */
function writeField(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  const text = String(value);
  return /[\\\t\n\r]/.test(text)
    ? text.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!)
    : text;
}

/** COPY text lines in, transformed COPY text lines out. */
class TransformLines extends Transform {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  rows = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const text = this.rest + this.decoder.write(chunk);
    const end = text.lastIndexOf('\n');
    this.rest = text.slice(end + 1);
    done(null, end < 0 ? undefined : this.lines(text.slice(0, end)));
  }

  override _flush(done: TransformCallback): void {
    const text = this.rest + this.decoder.end();
    done(null, text ? this.lines(text) : undefined);
  }

  private lines(text: string): string {
    let out = '';
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const fields = line.split('\t');
      const row: Row = {};
      SOURCE_COLUMNS.forEach((c, i) => (row[c] = readField(fields[i] ?? '\\N')));
      const t = transformOrder(row);
      out += `${TARGET_COLUMNS.map((c) => writeField(t[c])).join('\t')}\n`;
      this.rows++;
    }
    return out;
  }
}

/** Moves the window's rows from the source into `target`; returns the number of rows written. */
export async function copyScript(pool: Pool, target: string, window: { start: string; end: string }): Promise<number> {
  const reader = await pool.connect();
  const writer = await pool.connect();
  try {
    await reader.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL TimeZone = 'UTC'");
    await writer.query('BEGIN');
    await writer.query(`DELETE FROM ${target} WHERE ts >= $1 AND ts < $2`, [window.start, window.end]);
    const lines = new TransformLines();
    // COPY takes no parameters: the window is two ISO instants produced here, not user input.
    await pipeline(
      reader.query(
        copyTo(
          `COPY (SELECT ${SOURCE_COLUMNS.join(', ')} FROM ${SOURCE_TABLE} ` +
            `WHERE ts >= '${window.start}' AND ts < '${window.end}') TO STDOUT`,
        ),
      ),
      lines,
      writer.query(copyFrom(`COPY ${target} (${TARGET_COLUMNS.join(', ')}) FROM STDIN`)),
    );
    await writer.query('COMMIT');
    await reader.query('COMMIT');
    return lines.rows;
  } catch (err) {
    await writer.query('ROLLBACK').catch(() => undefined);
    await reader.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    reader.release();
    writer.release();
  }
}
