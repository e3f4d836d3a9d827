import { pipeline as pipeStreams } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ApplicationFailure } from '@temporalio/common';
import { quoteIdentifier, quoteTable, SQL_IDENTIFIER } from '../../core/identifiers';
import type { PostgresLoadStep, PostgresQueryStep, Row } from '../../core/pipeline-spec';
import { bindNamedParameters } from '../../core/sql-params';
import type { Window } from '../../core/window';
import { copyLines } from './copy-text';
import { classifyPgError, PG_ERROR_TYPES } from './errors';
import { ensurePipectlTable } from './schema';

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
  const client = await pool.connect();
  let done = false;
  try {
    await client.query('BEGIN READ ONLY');
    try {
      await client.query(`DECLARE pipectl_extract NO SCROLL CURSOR FOR ${bound.text}`, values);
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
    await client.query('COMMIT');
    done = true;
  } finally {
    // Reached without `done` on an error or when the consumer stopped early: the connection still holds the
    // transaction and cursor, so it is rolled back and discarded rather than returned to the pool.
    if (!done) await client.query('ROLLBACK').catch(() => undefined);
    client.release(done ? undefined : true);
  }
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
  chunks: AsyncIterable<Row[]>,
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
    let columns = step.columns;
    let staged = false;
    let total = 0;
    for await (const rows of chunks) {
      if (rows.length === 0) continue;
      if (!columns) columns = columnsOf(rows[0]!);
      if (!staged && !replace) await createTempTable(client, target, columns);
      staged = true;
      if (replace) {
        // A row without a window value is outside every window (and may not reach a NOT NULL column's check first).
        const missing = rows.filter((r) => r[step.windowColumn!] === null || r[step.windowColumn!] === undefined);
        if (missing.length > 0) throw outsideWindow(missing.length, step, identity);
      }
      const into = replace ? target : 'pg_temp.pipectl_load';
      try {
        await pipeStreams(
          Readable.from([copyLines(rows, columns)]),
          client.query(copyFrom(`COPY ${into} (${columns.map(quoteIdentifier).join(', ')}) FROM STDIN`)),
        );
      } catch (err) {
        classifyPgError(err, `load into ${step.table}`);
      }
      total += rows.length;
      onChunk();
    }
    try {
      if (replace) {
        if (staged) {
          // The window was emptied first, so it now holds exactly the loaded rows that lie inside it: any shortfall
          // is rows outside the window (or without a value), and the whole load rolls back.
          const inside = await client.query<{ n: string }>(
            `SELECT count(*) AS n FROM ${target} WHERE ${wc} >= $1 AND ${wc} < $2`,
            [identity.window.start, identity.window.end],
          );
          const outside = total - Number(inside.rows[0]!.n);
          if (outside > 0) throw outsideWindow(outside, step, identity);
        }
      } else if (staged) {
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

function columnsOf(row: Row): string[] {
  const columns = Object.keys(row);
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
