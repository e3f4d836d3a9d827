import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import { ApplicationFailure } from '@temporalio/common';
import type { FileReadStep, FileWriteStep, Row } from '../core/pipeline-spec';
import type { Window } from '../core/window';

/** Stable error types of the file steps. */
export const FILE_ERROR_TYPES = {
  /** The file to read does not exist. */
  fileNotFound: 'FileNotFound',
  /** A line or record could not be parsed. */
  invalidFile: 'InvalidFile',
} as const;

const BATCH = 5_000;

/** Replaces `{start}`, `{end}`, `{startDate}`, `{endDate}` in a path with the window's values. */
export function windowPath(template: string, window: Window, baseDir = process.cwd()): string {
  const compact = (iso: string) => iso.replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  const path = template
    .replaceAll('{startDate}', window.start.slice(0, 10))
    .replaceAll('{endDate}', window.end.slice(0, 10))
    .replaceAll('{start}', compact(window.start))
    .replaceAll('{end}', compact(window.end));
  return resolve(baseDir, path);
}

/** Reads a CSV (header row) or NDJSON file in batches. */
export async function* readFileRows(step: FileReadStep, window: Window, baseDir?: string): AsyncGenerator<Row[]> {
  const path = windowPath(step.path, window, baseDir);
  if (!existsSync(path)) {
    throw ApplicationFailure.create({
      type: FILE_ERROR_TYPES.fileNotFound,
      nonRetryable: true,
      message: `no file at ${path}`,
    });
  }
  let batch: Row[] = [];
  if (step.format === 'csv') {
    const parser = createReadStream(path).pipe(
      parse({ columns: true, delimiter: step.delimiter, bom: true, skip_empty_lines: true }),
    );
    try {
      for await (const record of parser) {
        batch.push(record as Row);
        if (batch.length >= BATCH) {
          yield batch;
          batch = [];
        }
      }
    } catch (err) {
      throw ApplicationFailure.create({
        type: FILE_ERROR_TYPES.invalidFile,
        nonRetryable: true,
        message: `${path}: ${(err as Error).message}`,
      });
    }
  } else {
    const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
    let n = 0;
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        throw ApplicationFailure.create({
          type: FILE_ERROR_TYPES.invalidFile,
          nonRetryable: true,
          message: `${path}:${n}: ${(err as Error).message}`,
        });
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw ApplicationFailure.create({
          type: FILE_ERROR_TYPES.invalidFile,
          nonRetryable: true,
          message: `${path}:${n}: each line must be a JSON object`,
        });
      }
      batch.push(value as Row);
      if (batch.length >= BATCH) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * Writes the rows to the window's file atomically: into a temporary file beside it, renamed over the target at the
 * end, so readers see the old file or the new one, never a half-written one — and a rerun replaces, never appends.
 */
export async function writeFileRows(
  step: FileWriteStep,
  window: Window,
  chunks: AsyncIterable<Row[]>,
  baseDir?: string,
): Promise<number> {
  const path = windowPath(step.path, window, baseDir);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const out = createWriteStream(tmp);
  // A stream error must reject the write, never escape as an uncaught exception that takes the worker down.
  let streamError: Error | undefined;
  out.on('error', (err) => (streamError ??= err));
  const write = (text: string) =>
    new Promise<void>((resolve, reject) => {
      if (streamError) return reject(streamError);
      const onError = (err: Error) => reject(err);
      out.once('error', onError);
      const ok = out.write(text, () => undefined);
      const settle = () => {
        out.off('error', onError);
        resolve();
      };
      if (ok) settle();
      else out.once('drain', settle);
    });
  let columns = step.columns;
  let headerWritten = false;
  let total = 0;
  try {
    for await (const rows of chunks) {
      if (rows.length === 0) continue;
      columns ??= Object.keys(rows[0]!);
      const cols = columns;
      if (step.format === 'csv') {
        const records = rows.map((r) => cols.map((c) => cell(r[c])));
        await write(stringify(headerWritten ? records : [cols, ...records], { delimiter: step.delimiter }));
        headerWritten = true;
      } else {
        const project = step.columns
          ? (r: Row) => Object.fromEntries(cols.map((c) => [c, r[c] ?? null]))
          : (r: Row) => r;
        await write(rows.map((r) => JSON.stringify(project(r))).join('\n') + '\n');
      }
      total += rows.length;
    }
    if (step.format === 'csv' && !headerWritten && columns)
      await write(stringify([columns], { delimiter: step.delimiter }));
    out.end();
    await finished(out);
    await rename(tmp, path);
    return total;
  } catch (err) {
    out.destroy();
    // Wait until the stream has closed (and so created or released the file) before removing it.
    await finished(out).catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
