import { definePipeline, postgres } from '../../index';
import { pipelineWorkflowId } from '../../core/run-input';
import type { Row } from '../../core/pipeline-spec';
import { parseWindow } from '../../core/window';
import {
  activityHarness,
  expectPermanent,
  failureOf,
  inline,
  newRun,
  stagedChunks,
  type ActivityHarness,
} from './activity-harness';

const window = parseWindow('2026-11-20');
const noExtract = () => [];

const upsert = definePipeline({
  name: 'orders_upsert',
  extract: noExtract,
  load: postgres.upsert({ connection: 'warehouse', table: 'public.orders_u', key: ['id'] }),
});
const replace = definePipeline({
  name: 'orders_replace',
  extract: noExtract,
  load: postgres.replace({ connection: 'warehouse', table: 'public.orders_r', windowColumn: 'placed_at' }),
});
const missingTable = definePipeline({
  name: 'missing_table',
  extract: noExtract,
  load: postgres.upsert({ connection: 'warehouse', table: 'public.no_such_table', key: ['id'] }),
});

let h: ActivityHarness;

beforeAll(async () => {
  h = await activityHarness('load', [upsert, replace, missingTable]);
  for (const table of ['public.orders_u', 'public.orders_r']) {
    await h.db.query(
      `CREATE TABLE ${table} (id int PRIMARY KEY, placed_at timestamptz NOT NULL, amount int NOT NULL, note text)`,
    );
  }
});

afterAll(async () => {
  await h?.close();
});

beforeEach(async () => {
  await h.db.query('TRUNCATE public.orders_u, public.orders_r');
  const ledger = await h.db.query<{ t: string | null }>("SELECT to_regclass('pipectl.load_ledger')::text AS t");
  if (ledger.rows[0]?.t) await h.db.query('TRUNCATE pipectl.load_ledger');
});

/** The window's workflow: every run of it (first run, retry, rerun) shares this ID. */
const workflowId = pipelineWorkflowId('orders', window);

function order(id: number, at: string, amount: number, note: string | null = null): Row {
  return { id, placed_at: at, amount, note };
}

async function tableRows(table: 'public.orders_u' | 'public.orders_r'): Promise<Row[]> {
  const res = await h.db.query(`SELECT id, placed_at, amount, note FROM ${table} ORDER BY id`);
  return res.rows;
}

async function ledgerRows(): Promise<Row[]> {
  const res = await h.db.query(
    'SELECT workflow_id, run_id, pipeline, window_start, window_end, target, rows::int AS rows FROM pipectl.load_ledger ORDER BY loaded_at',
  );
  return res.rows;
}

async function seed(table: 'public.orders_u' | 'public.orders_r', rows: Row[]): Promise<void> {
  for (const r of rows) {
    await h.db.query(`INSERT INTO ${table} (id, placed_at, amount, note) VALUES ($1, $2, $3, $4)`, [
      r.id,
      r.placed_at,
      r.amount,
      r.note,
    ]);
  }
}

const dayRows = [
  order(1, '2026-11-20T00:00:00.000Z', 10, 'first, at the window start'),
  order(2, '2026-11-20T12:30:00.000Z', 20, 'tab\there, newline\nthere, back\\slash'),
  order(3, '2026-11-20T23:59:59.999Z', 30),
];
/** Rows of the neighbouring windows, which no load of 2026-11-20 may touch. */
const otherWindows = [
  order(100, '2026-11-19T23:59:59.999Z', 1, 'day before'),
  order(101, '2026-11-21T00:00:00.000Z', 2, 'day after'),
];

/** Rows as `tableRows` reads them back: timestamps as dates, ordered by id. */
function asStored(rows: Row[]): Row[] {
  return rows
    .map((r): Row => ({ ...r, placed_at: new Date(r.placed_at as string) }))
    .sort((a, b) => (a.id as number) - (b.id as number));
}

describe('upsert load', () => {
  test('loading a window twice, the second time in a rerun with a new run ID, leaves the same rows', async () => {
    const first = await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_upsert', window, data: inline(dayRows) },
      newRun(workflowId),
    );
    expect(first).toEqual({ rows: 3, replayed: false });
    const afterFirst = await tableRows('public.orders_u');
    expect(afterFirst).toEqual(asStored(dayRows));

    const second = await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_upsert', window, data: inline(dayRows) },
      newRun(workflowId),
    );
    expect(second).toEqual({ rows: 3, replayed: false });
    expect(await tableRows('public.orders_u')).toEqual(afterFirst);
    expect(await ledgerRows()).toHaveLength(2);
  });

  test('a rerun with changed values updates rows by key, adds new keys and keeps keys it no longer sees', async () => {
    await seed('public.orders_u', otherWindows);
    await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_upsert', window, data: inline(dayRows) },
      newRun(workflowId),
    );
    const changed = [order(2, '2026-11-20T12:30:00.000Z', 25, 'corrected'), order(4, '2026-11-20T18:00:00.000Z', 40)];
    const result = await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_upsert', window, data: inline(changed) },
      newRun(workflowId),
    );
    expect(result).toEqual({ rows: 2, replayed: false });
    expect(await tableRows('public.orders_u')).toEqual(
      asStored([dayRows[0]!, changed[0]!, dayRows[2]!, changed[1]!, ...otherWindows]),
    );
  });

  test('an update can clear a value to NULL', async () => {
    await h.run(h.activities.loadRows, {
      pipeline: 'orders_upsert',
      window,
      data: inline([order(7, '2026-11-20T01:00:00.000Z', 1, 'note')]),
    });
    await h.run(h.activities.loadRows, {
      pipeline: 'orders_upsert',
      window,
      data: inline([order(7, '2026-11-20T01:00:00.000Z', 1, null)]),
    });
    expect(await tableRows('public.orders_u')).toEqual(asStored([order(7, '2026-11-20T01:00:00.000Z', 1, null)]));
  });

  test('the same key twice in one load is a ConstraintViolation and writes nothing', async () => {
    const dup = [order(1, '2026-11-20T01:00:00.000Z', 1), order(1, '2026-11-20T02:00:00.000Z', 2)];
    const err = await failureOf(h.run(h.activities.loadRows, { pipeline: 'orders_upsert', window, data: inline(dup) }));
    expectPermanent(err, 'ConstraintViolation');
    expect(await tableRows('public.orders_u')).toEqual([]);
    expect(await ledgerRows()).toEqual([]);
  });
});

describe('replace load', () => {
  test('loading a window twice, in a rerun with a new run ID, leaves the same rows and keeps other windows', async () => {
    await seed('public.orders_r', otherWindows);
    const first = await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_replace', window, data: inline(dayRows) },
      newRun(workflowId),
    );
    expect(first).toEqual({ rows: 3, replayed: false });
    const afterFirst = await tableRows('public.orders_r');
    expect(afterFirst).toEqual(asStored([...dayRows, ...otherWindows]));

    await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_replace', window, data: inline(dayRows) },
      newRun(workflowId),
    );
    expect(await tableRows('public.orders_r')).toEqual(afterFirst);
  });

  test('a rerun with changed rows deletes the window rows it no longer produces, and only those', async () => {
    await seed('public.orders_r', otherWindows);
    await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_replace', window, data: inline(dayRows) },
      newRun(workflowId),
    );
    const changed = [order(2, '2026-11-20T12:30:00.000Z', 25, 'corrected'), order(5, '2026-11-20T13:00:00.000Z', 50)];
    const result = await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_replace', window, data: inline(changed) },
      newRun(workflowId),
    );
    expect(result).toEqual({ rows: 2, replayed: false });
    expect(await tableRows('public.orders_r')).toEqual(asStored([...changed, ...otherWindows]));
  });

  test('a rerun that produces no rows empties the window and nothing else', async () => {
    await seed('public.orders_r', [...dayRows, ...otherWindows]);
    const result = await h.run(h.activities.loadRows, { pipeline: 'orders_replace', window, data: inline([]) });
    expect(result).toEqual({ rows: 0, replayed: false });
    expect(await tableRows('public.orders_r')).toEqual(asStored(otherWindows));
  });

  test.each([
    ['at the window end (the end is exclusive)', '2026-11-21T00:00:00.000Z'],
    ['just before the window start', '2026-11-19T23:59:59.999Z'],
    ['with no window value', null],
  ])('a row %s is rejected with RowOutsideWindow and nothing changes', async (_, at) => {
    await seed('public.orders_r', [...dayRows, ...otherWindows]);
    const before = await tableRows('public.orders_r');
    const rows = [order(10, '2026-11-20T05:00:00.000Z', 1), { id: 11, placed_at: at, amount: 2, note: null }];
    const err = await failureOf(
      h.run(h.activities.loadRows, { pipeline: 'orders_replace', window, data: inline(rows) }),
    );
    const failure = expectPermanent(err, 'RowOutsideWindow');
    expect(failure.message).toContain(
      '1 row(s) have placed_at outside the window [2026-11-20T00:00:00.000Z, 2026-11-21T00:00:00.000Z)',
    );
    expect(await tableRows('public.orders_r')).toEqual(before);
    expect(await ledgerRows()).toEqual([]);
  });
});

describe('a load that fails halfway leaves nothing behind', () => {
  const chunk = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) =>
      order(from + i, '2026-11-20T06:00:00.000Z', (from + i) * 10, `chunk row ${from + i}`),
    );

  test('a value of the wrong type in the last chunk fails with InvalidData; earlier chunks are not written', async () => {
    await seed('public.orders_u', [order(1, '2026-11-20T01:00:00.000Z', 999, 'before the load')]);
    const before = await tableRows('public.orders_u');
    const bad = { ...order(250, '2026-11-20T06:00:00.000Z', 0), amount: 'not a number' };
    const data = await stagedChunks(h.staging, [chunk(1, 100), chunk(101, 100), [...chunk(201, 49), bad]]);
    const err = await failureOf(h.run(h.activities.loadRows, { pipeline: 'orders_upsert', window, data }));
    const failure = expectPermanent(err, 'InvalidData');
    expect(failure.message).toMatch(/public\.orders_u.*not a number/s);
    expect(await tableRows('public.orders_u')).toEqual(before);
    expect(await ledgerRows()).toEqual([]);
  });

  test('a NULL in a NOT NULL column of the last chunk fails with ConstraintViolation; a replace keeps the old window rows', async () => {
    await seed('public.orders_r', [...dayRows, ...otherWindows]);
    const before = await tableRows('public.orders_r');
    const bad = { ...order(300, '2026-11-20T06:00:00.000Z', 0), amount: null };
    const data = await stagedChunks(h.staging, [chunk(200, 50), chunk(250, 50), [bad]]);
    const err = await failureOf(h.run(h.activities.loadRows, { pipeline: 'orders_replace', window, data }));
    const failure = expectPermanent(err, 'ConstraintViolation');
    expect(failure.message).toMatch(/amount/);
    expect(await tableRows('public.orders_r')).toEqual(before);
    expect(await ledgerRows()).toEqual([]);
  });

  test('the next attempt of the same run, with good rows, then loads them all', async () => {
    const run = newRun(workflowId);
    const bad = { ...order(150, '2026-11-20T06:00:00.000Z', 0), amount: 'NaN-ish' };
    const failing = await stagedChunks(h.staging, [chunk(1, 100), [bad]]);
    expectPermanent(
      await failureOf(h.run(h.activities.loadRows, { pipeline: 'orders_upsert', window, data: failing }, run)),
      'InvalidData',
    );

    const good = await stagedChunks(h.staging, [chunk(1, 100), chunk(101, 100), chunk(201, 50)]);
    const result = await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_upsert', window, data: good },
      { ...run, attempt: 2 },
    );
    expect(result).toEqual({ rows: 250, replayed: false });
    const count = await h.db.query('SELECT count(*)::int AS n, sum(amount)::int AS total FROM public.orders_u');
    expect(count.rows[0]).toEqual({ n: 250, total: 10 * ((250 * 251) / 2) });
  });

  test('staged data that breaks off mid-load (a chunk is missing) fails retryably and writes nothing', async () => {
    await seed('public.orders_r', dayRows);
    const data = await stagedChunks(h.staging, [chunk(200, 50), chunk(250, 50)]);
    const truncated = { ...data, chunks: 3 } as typeof data;
    const err = await failureOf(h.run(h.activities.loadRows, { pipeline: 'orders_replace', window, data: truncated }));
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/chunk 2 is missing/);
    expect((err as { nonRetryable?: boolean }).nonRetryable).toBeFalsy();
    expect(await tableRows('public.orders_r')).toEqual(asStored(dayRows));
    expect(await ledgerRows()).toEqual([]);
  });

  test('a missing table is TableNotFound and a field the table lacks is ColumnNotFound', async () => {
    const missing = await failureOf(
      h.run(h.activities.loadRows, { pipeline: 'missing_table', window, data: inline([{ id: 1 }]) }),
    );
    expect(expectPermanent(missing, 'TableNotFound').message).toContain('no_such_table');

    const extra = [{ ...order(1, '2026-11-20T01:00:00.000Z', 1), discount: 5 }];
    const unknownColumn = await failureOf(
      h.run(h.activities.loadRows, { pipeline: 'orders_upsert', window, data: inline(extra) }),
    );
    expect(expectPermanent(unknownColumn, 'ColumnNotFound').message).toContain('discount');
    expect(await tableRows('public.orders_u')).toEqual([]);
  });
});

describe('exactly once per run', () => {
  test('a second attempt of a run whose load committed reports replayed and writes nothing', async () => {
    const run = newRun(workflowId);
    const first = await h.run(h.activities.loadRows, { pipeline: 'orders_upsert', window, data: inline(dayRows) }, run);
    expect(first).toEqual({ rows: 3, replayed: false });
    const afterFirst = await tableRows('public.orders_u');

    // The worker lost the first attempt's completion; Temporal retries with different (here: changed) input rows.
    const changed = [order(1, '2026-11-20T00:00:00.000Z', 1_000), order(9, '2026-11-20T09:00:00.000Z', 9)];
    const retry = await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_upsert', window, data: inline(changed) },
      { ...run, attempt: 2 },
    );
    expect(retry).toEqual({ rows: 3, replayed: true });
    expect(await tableRows('public.orders_u')).toEqual(afterFirst);
    expect(await ledgerRows()).toEqual([
      {
        workflow_id: workflowId,
        run_id: run.runId,
        pipeline: 'orders_upsert',
        window_start: new Date(window.start),
        window_end: new Date(window.end),
        target: 'public.orders_u',
        rows: 3,
      },
    ]);
  });

  test('two attempts of the same run racing each other load the rows once', async () => {
    const run = newRun(workflowId);
    const rows = Array.from({ length: 500 }, (_, i) => order(i + 1, '2026-11-20T07:00:00.000Z', i));
    const results = await Promise.all([
      h.run(h.activities.loadRows, { pipeline: 'orders_upsert', window, data: inline(rows) }, { ...run, attempt: 1 }),
      h.run(h.activities.loadRows, { pipeline: 'orders_upsert', window, data: inline(rows) }, { ...run, attempt: 2 }),
    ]);
    expect(results.map((r) => r.replayed).sort()).toEqual([false, true]);
    expect(await ledgerRows()).toHaveLength(1);
    const count = await h.db.query('SELECT count(*)::int AS n FROM public.orders_u');
    expect(count.rows[0]).toEqual({ n: 500 });
  });

  test('a replace load is replayed too: a retry after commit does not delete rows loaded since', async () => {
    const run = newRun(workflowId);
    await h.run(h.activities.loadRows, { pipeline: 'orders_replace', window, data: inline(dayRows) }, run);
    const retry = await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_replace', window, data: inline([]) },
      { ...run, attempt: 3 },
    );
    expect(retry).toEqual({ rows: 3, replayed: true });
    expect(await tableRows('public.orders_r')).toEqual(asStored(dayRows));
  });

  test('the ledger is per run: loading the next window is not mistaken for a replay', async () => {
    const other = parseWindow('2026-11-21');
    await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_replace', window, data: inline(dayRows) },
      newRun(workflowId),
    );
    const result = await h.run(
      h.activities.loadRows,
      { pipeline: 'orders_replace', window: other, data: inline([order(20, '2026-11-21T10:00:00.000Z', 5)]) },
      newRun(pipelineWorkflowId('orders', other)),
    );
    expect(result).toEqual({ rows: 1, replayed: false });
    expect((await tableRows('public.orders_r')).map((r) => r.id)).toEqual([1, 2, 3, 20]);
  });
});
