import { pipeline as pipeStreams } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Pool, PoolClient } from 'pg';
import { escapeLiteral } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { ApplicationFailure } from '@temporalio/common';
import { quoteIdentifier, quoteTable, SQL_IDENTIFIER } from '../../core/identifiers';
import type { PostgresLoadStep, PostgresQueryStep, Row } from '../../core/pipeline-spec';
import { bindNamedParameters } from '../../core/sql-params';
import type { Window } from '../../core/window';
import { copyLines } from './copy-text';
import { copyRows, countLines, type CopyChunk, type CopyColumn } from '../staged-chunk';
import { classifyPgError, PG_ERROR_TYPES } from './errors';
import { ensurePipectlTable } from './schema';

/** The query's parameters in positional order: the window's bounds and the step's params. */
function boundQuery(step: PostgresQueryStep, window: Window): { text: string; values: unknown[] } {
  let bound;
  try {
    bound = bindNamedParameters(step.sql);
  } catch (err) {
    throw ApplicationFailure.create({
      type: PG_ERROR_TYPES.invalidSql,
      nonRetryable: true,
      message: (err as Error).message,
    });
  }
  const values = bound.names.map((name) => {
    if (name === 'windowStart') return window.start;
    if (name === 'windowEnd') return window.end;
    if (Object.hasOwn(step.params, name)) return step.params[name];
    throw ApplicationFailure.create({
      type: PG_ERROR_TYPES.invalidSql,
      nonRetryable: true,
      message: `the query uses $${name}, which is neither $windowStart, $windowEnd nor a key of params`,
    });
  });
  return { text: bound.text, values };
}

/**
 * Runs a query extract with the window bound as parameters, reading through a server-side cursor in batches so a
 * large result never sits whole in one response.
 */
export async function* queryRows(
  pool: Pool,
  step: PostgresQueryStep,
  window: Window,
  onBatch: () => void = () => undefined,
): AsyncGenerator<Row[]> {
  const { text, values } = boundQuery(step, window);
  yield* readOnly(pool, 'BEGIN READ ONLY', (client) => fetchRows(client, step, text, values, onBatch));
}

/**
 * Runs `body` in a read-only transaction on a pooled connection. Left without committing (an error, or a consumer
 * that stopped early), the connection still holds the transaction, cursor or COPY, so it is closed (which rolls the
 * transaction back) rather than returned to the pool.
 */
async function* readOnly<T>(
  pool: Pool,
  begin: string,
  body: (client: PoolClient) => AsyncGenerator<T>,
): AsyncGenerator<T> {
  const client = await pool.connect();
  let done = false;
  try {
    await client.query(begin);
    yield* body(client);
    await client.query('COMMIT');
    done = true;
  } finally {
    // A read that stopped early (a failed staging write, a cancelled step) may leave a COPY streaming into a socket
    // nobody reads: a ROLLBACK would wait behind it for ever. Closing the connection ends the COPY and the
    // transaction on the server at once.
    client.release(done ? undefined : true);
  }
}

/** Declares the extract's cursor and fetches it in `batchSize` batches, inside the caller's transaction. */
async function* fetchRows(
  client: PoolClient,
  step: PostgresQueryStep,
  text: string,
  values: unknown[],
  onBatch: () => void,
): AsyncGenerator<Row[]> {
  try {
    await client.query(`DECLARE pipectl_extract NO SCROLL CURSOR FOR ${text}`, values);
  } catch (err) {
    classifyPgError(err, 'extract query');
  }
  for (;;) {
    let res;
    try {
      res = await client.query<Row>(`FETCH ${step.batchSize} FROM pipectl_extract`);
    } catch (err) {
      // Some errors (division by zero, a failed cast) surface only when rows are computed.
      classifyPgError(err, 'extract query');
    }
    onBatch();
    if (res.rows.length > 0) yield res.rows;
    if (res.rows.length < step.batchSize) break;
  }
}

/**
 * A parameter (a string, number, boolean or null) as an SQL literal, for COPY, which takes no parameters: the text
 * the driver would send, quoted by the driver. Like a bound parameter, a quoted literal has no type of its own and
 * takes the one its place in the query gives it.
 */
function literalOf(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  return escapeLiteral(String(value));
}

/**
 * Runs a query extract as `COPY (query) TO STDOUT`: PostgreSQL's own text output, cut into chunks of about
 * `chunkBytes` at line ends, with each column's type OID, so nothing is parsed on the way to staging. The columns come
 * from a cursor declared with the parameters bound (nothing is fetched); the COPY gets the same values as literals
 * quoted by the driver. A query COPY cannot wrap (a trailing semicolon, a comment on its last line) is read through
 * the cursor instead, as rows.
 */
export async function* copyQueryRows(
  pool: Pool,
  step: PostgresQueryStep,
  window: Window,
  chunkBytes: number,
  onChunk: () => void = () => undefined,
): AsyncGenerator<CopyChunk | Row[]> {
  const { text, values } = boundQuery(step, window);
  // The COPY text is UTF-8 whatever the database's client encoding default, as the driver decodes it.
  yield* readOnly(pool, "BEGIN READ ONLY; SET LOCAL client_encoding = 'UTF8'", async function* (client) {
    let columns: CopyColumn[];
    try {
      await client.query(`DECLARE pipectl_extract NO SCROLL CURSOR FOR ${text}`, values);
      const described = await client.query('FETCH 0 FROM pipectl_extract');
      columns = described.fields.map((f) => ({ name: f.name, type: f.dataTypeID }));
      await client.query('CLOSE pipectl_extract; SAVEPOINT pipectl_copy');
    } catch (err) {
      classifyPgError(err, 'extract query');
    }
    const literal = bindNamedParameters(step.sql, (position) => literalOf(values[position - 1]));
    const stream = client.query(copyTo(`COPY (\n${literal.text}\n) TO STDOUT`));
    let parts: Buffer[] = [];
    let size = 0;
    let copied = true;
    try {
      for await (const buffer of stream as AsyncIterable<Buffer>) {
        parts.push(buffer);
        size += buffer.length;
        // Each chunk ends at the first line end past `chunkBytes` (a longer line waits for its end).
        while (size >= chunkBytes) {
          const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
          const cut = all.indexOf(10, chunkBytes - 1) + 1;
          parts = [all];
          if (cut === 0) break;
          parts = [all.subarray(cut)];
          size = all.length - cut;
          onChunk();
          yield copyChunkOf(columns, all.subarray(0, cut));
        }
      }
    } catch (err) {
      if ((err as { code?: string }).code !== '42601' || size > 0 || parts.length > 0)
        classifyPgError(err, 'extract query');
      copied = false;
    }
    if (copied) {
      if (size > 0) yield copyChunkOf(columns, Buffer.concat(parts, size));
    } else {
      await client.query('ROLLBACK TO SAVEPOINT pipectl_copy');
      yield* fetchRows(client, step, text, values, onChunk);
    }
  });
}

function copyChunkOf(columns: CopyColumn[], bytes: Buffer): CopyChunk {
  let rowCount = 0;
  for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1)) rowCount++;
  return { columns, text: bytes.toString('utf8'), rowCount };
}

/** What one load did. */
export interface LoadOutcome {
  rows: number;
  /** The load had committed in an earlier attempt of this run; nothing was written again. */
  replayed: boolean;
}

/** Identity of the run doing a load, recorded in the ledger in the same transaction as the rows. */
export interface LoadIdentity {
  pipeline: string;
  workflowId: string;
  runId: string;
  window: Window;
}

function ensureLedger(pool: Pool): Promise<void> {
  return ensurePipectlTable(
    pool,
    'load_ledger',
    `CREATE TABLE IF NOT EXISTS pipectl.load_ledger (
       workflow_id text NOT NULL, run_id text NOT NULL, pipeline text NOT NULL,
       window_start timestamptz NOT NULL, window_end timestamptz NOT NULL, target text NOT NULL,
       rows bigint NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (workflow_id, run_id))`,
  );
}

/**
 * Loads rows in one transaction: replace empties the window and COPYs into the target; upsert COPYs into a temporary
 * table, then inserts by key. The
 * run is recorded in `pipectl.load_ledger` in the same transaction, so a retried attempt of a load that already
 * committed does nothing, and a load that fails halfway leaves nothing behind.
 */
export async function loadRows(
  pool: Pool,
  step: PostgresLoadStep,
  identity: LoadIdentity,
  chunks: AsyncIterable<Row[] | CopyChunk>,
  onChunk: () => void = () => undefined,
): Promise<LoadOutcome> {
  await ensureLedger(pool);
  const target = quoteTable(step.table);
  const client = await pool.connect();
  let healthy = true;
  try {
    await client.query('BEGIN');
    const done = await client.query<{ rows: string }>(
      'SELECT rows FROM pipectl.load_ledger WHERE workflow_id = $1 AND run_id = $2',
      [identity.workflowId, identity.runId],
    );
    if (done.rows[0]) {
      await client.query('ROLLBACK');
      return { rows: Number(done.rows[0].rows), replayed: true };
    }
    const replace = step.mode === 'replace';
    const wc = replace ? quoteIdentifier(step.windowColumn!) : '';
    if (replace) {
      // Replace: empty the window, then COPY straight into the target (one write of each row, no staging table).
      try {
        await client.query(`DELETE FROM ${target} WHERE ${wc} >= $1 AND ${wc} < $2`, [
          identity.window.start,
          identity.window.end,
        ]);
      } catch (err) {
        classifyPgError(err, `load into ${step.table}`);
      }
    }
    // COPY takes no parameters: the window's bounds go in as literals quoted by the driver, typed by the column as a
    // bound parameter would be.
    const windowFilter = replace
      ? ` WHERE ${wc} >= ${literalOf(identity.window.start)} AND ${wc} < ${literalOf(identity.window.end)}`
      : '';
    let columns = step.columns;
    let staged = false;
    let total = 0;
    for await (const chunk of chunks) {
      let rows: Row[] | undefined;
      let text: string | undefined;
      if (Array.isArray(chunk)) rows = chunk;
      else if (chunk.rowCount > 0) {
        // A COPY chunk whose columns are the load's goes into COPY as it is; other columns are read as rows.
        const names = chunk.columns.map((c) => c.name);
        if (!columns && new Set(names).size === names.length) columns = validColumns(names);
        if (columns && sameColumns(names, columns)) text = chunk.text;
        else rows = copyRows(chunk);
      }
      const count = rows ? rows.length : text ? countLines(text) : 0;
      if (count === 0) continue;
      if (!columns) columns = validColumns(Object.keys(rows![0]!));
      if (!staged && !replace) await createTempTable(client, target, columns);
      staged = true;
      const into = replace ? target : 'pg_temp.pipectl_load';
      const copy = client.query(
        copyFrom(`COPY ${into} (${columns.map(quoteIdentifier).join(', ')}) FROM STDIN${windowFilter}`),
      );
      try {
        await pipeStreams(Readable.from([text ?? copyLines(rows!, columns)]), copy);
      } catch (err) {
        classifyPgError(err, `load into ${step.table}`);
      }
      // A replace load's COPY skips the rows outside the window (and those without a window value, before a NOT NULL
      // check sees them): any it skipped fail the whole load.
      if (copy.rowCount < count) throw outsideWindow(count - copy.rowCount, step, identity);
      total += count;
      onChunk();
    }
    try {
      if (!replace && staged) {
        const cols = columns!.map(quoteIdentifier).join(', ');
        const key = step.key!.map(quoteIdentifier);
        const updates = columns!
          .filter((c) => !step.key!.includes(c))
          .map((c) => `${quoteIdentifier(c)} = EXCLUDED.${quoteIdentifier(c)}`);
        await client.query(
          `INSERT INTO ${target} (${cols}) SELECT ${cols} FROM pg_temp.pipectl_load ON CONFLICT (${key.join(', ')}) ` +
            (updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'),
        );
      }
      await client.query(
        `INSERT INTO pipectl.load_ledger (workflow_id, run_id, pipeline, window_start, window_end, target, rows)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          identity.workflowId,
          identity.runId,
          identity.pipeline,
          identity.window.start,
          identity.window.end,
          step.table,
          total,
        ],
      );
      await client.query('COMMIT');
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      if (
        (err as { code?: string }).code === '23505' &&
        /load_ledger/.test((err as Error).message + ((err as { constraint?: string }).constraint ?? ''))
      ) {
        // A concurrent attempt of the same run committed first: its load stands, this one rolls back.
        await client.query('ROLLBACK').catch(() => undefined);
        const winner = await client.query<{ rows: string }>(
          'SELECT rows FROM pipectl.load_ledger WHERE workflow_id = $1 AND run_id = $2',
          [identity.workflowId, identity.runId],
        );
        return { rows: Number(winner.rows[0]?.rows ?? total), replayed: true };
      }
      classifyPgError(err, `load into ${step.table}`);
    }
    return { rows: total, replayed: false };
  } catch (err) {
    healthy = false;
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release(healthy ? undefined : true);
  }
}

/** The permanent failure of a replace load given rows outside its window. */
function outsideWindow(count: number, step: PostgresLoadStep, identity: LoadIdentity): ApplicationFailure {
  return ApplicationFailure.create({
    type: PG_ERROR_TYPES.rowOutsideWindow,
    nonRetryable: true,
    message: `${count} row(s) have ${step.windowColumn} outside the window [${identity.window.start}, ${identity.window.end}): a replace load may only write its own window`,
  });
}

function sameColumns(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

function validColumns(columns: string[]): string[] {
  const bad = columns.find((c) => !SQL_IDENTIFIER.test(c));
  if (bad !== undefined) {
    throw ApplicationFailure.create({
      type: PG_ERROR_TYPES.invalidData,
      nonRetryable: true,
      message: `row field ${JSON.stringify(bad)} is not a valid column name; rename it in the transform or list columns in the load`,
    });
  }
  return columns;
}

async function createTempTable(client: PoolClient, target: string, columns: readonly string[]): Promise<void> {
  try {
    // The staging table takes the target's column types, so COPY converts values exactly as an INSERT would.
    await client.query(
      `CREATE TEMP TABLE pipectl_load ON COMMIT DROP AS SELECT ${columns.map(quoteIdentifier).join(', ')} FROM ${target} WITH NO DATA`,
    );
  } catch (err) {
    classifyPgError(err, `load into ${target}`);
  }
}
