import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { Staging } from '../../activities/staging';
import { definePipeline, postgres } from '../../index';
import { copyQueryRows, queryRows } from '../../activities/postgres/steps';
import { PostgresQueryStep, type Row } from '../../core/pipeline-spec';
import type { StepData } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import { catalogOf } from '../helpers/catalog';
import {
  activityHarness,
  expectPermanent,
  failureOf,
  newRun,
  stagedChunks,
  type ActivityHarness,
} from './activity-harness';

/*
 * A `postgres.query` extract runs as COPY: PostgreSQL's text output is staged as it comes, read back as rows only by
 * a step that needs rows, and passed into a load's COPY as it is when the columns match.
 */

const window = parseWindow('2026-11-20');
const INLINE_LIMIT = 2 * 1024;

/** Every common type, awkward values included; `n` rows. */
const TYPED_SQL = (n: number) => `
  SELECT g AS id, g::int2 AS small, (g * 1000000000000)::int8 AS big, (g / 3.0)::numeric(12, 4) AS amount,
         CASE g % 4 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN 'Infinity'::float8 ELSE g / 7.0 END AS ratio,
         g % 2 = 0 AS even, 'line ' || g || E'\\ttab\\nnewline \\\\ backslash ''quote'' é 漢' AS label,
         CASE WHEN g % 5 = 0 THEN NULL ELSE 'x' END AS maybe,
         jsonb_build_object('g', g, 'nested', jsonb_build_array(g, 'a\\b', NULL)) AS doc,
         json_build_object('k', g) AS doc_json,
         $windowStart::timestamptz + g * interval '1 second 1 microsecond' AS at,
         ('2026-11-20 10:00'::timestamp + g * interval '1 minute') AS local_at, DATE '2026-11-20' + g AS day,
         ARRAY[g, g + 1] AS ints, ARRAY['a', NULL, 'b"c'] AS texts, md5(g::text)::uuid AS uid,
         decode('00ff', 'hex') AS bytes
    FROM generate_series(1, ${n}) g ORDER BY g`;

const query = (name: string, sql: string, load?: ReturnType<typeof postgres.replace>) =>
  definePipeline({
    name,
    extract: postgres.query({ connection: 'warehouse', sql }),
    load: load ?? (() => 0),
  });

const pipelines = [
  query('typed_small', TYPED_SQL(3)),
  query('typed_large', TYPED_SQL(300)),
  query('semicolon', 'SELECT g AS n FROM generate_series(1, 3) g ORDER BY g;  '),
  query('last_line_comment', 'SELECT g AS n FROM generate_series(1, 3) g ORDER BY g -- the end'),
  query('quoted_param', "SELECT $windowStart::text AS ws, 'it''s' AS s"),
  query(
    'to_target',
    `SELECT g AS id, $windowStart::timestamptz + g * interval '1.000001 second' AS at,
            CASE WHEN g = 2 THEN 'NaN'::float8 ELSE g END AS score, jsonb_build_object('g', g) AS doc
       FROM generate_series(1, 400) g`,
    postgres.replace({ connection: 'warehouse', table: 'public.copy_target', windowColumn: 'at' }),
  ),
  query(
    'null_window',
    `SELECT g AS id, CASE WHEN g = 7 THEN NULL ELSE $windowStart::timestamptz END AS at, 0 AS score, NULL::jsonb AS doc
       FROM generate_series(1, 400) g`,
    postgres.replace({ connection: 'warehouse', table: 'public.copy_target_nullable', windowColumn: 'at' }),
  ),
  query(
    'subset',
    `SELECT g AS id, $windowStart::timestamptz AS at, g * 2 AS score, 'dropped' AS extra
       FROM generate_series(1, 400) g`,
    postgres.replace({
      connection: 'warehouse',
      table: 'public.copy_target',
      windowColumn: 'at',
      columns: ['id', 'at', 'score'],
    }),
  ),
];

/** Rows the row transforms below saw, in order. */
const seen: number[] = [];

const rowTransforms = [
  definePipeline({
    name: 'each_row',
    extract: () => [],
    // Odd ids twice, ids divisible by 10 dropped, the rest once; async for every third row.
    transformRow: (row) => {
      const id = Number(row.id);
      seen.push(id);
      if (id % 10 === 0) return null;
      const out = { id, label: `#${id}`, at: new Date(Date.UTC(2026, 10, 20, 0, 0, id)) };
      if (id % 3 === 0) return Promise.resolve(out);
      return id % 2 === 1 ? [out, { ...out, id: -id }] : out;
    },
    load: () => 0,
  }),
  definePipeline({
    name: 'bad_row',
    extract: () => [],
    transformRow: (row) => (row.id === 5 ? (42 as unknown as null) : row),
    load: () => 0,
  }),
];

let h: ActivityHarness;

beforeAll(async () => {
  h = await activityHarness('copy', [...pipelines, ...rowTransforms], { inlineLimitBytes: INLINE_LIMIT });
  await h.db.query(
    `CREATE TABLE public.copy_target (id int PRIMARY KEY, at timestamptz NOT NULL, score float8, doc jsonb);
     CREATE TABLE public.copy_target_nullable (id int PRIMARY KEY, at timestamptz, score float8, doc jsonb)`,
  );
});

afterAll(async () => {
  await h?.close();
});

/** What the cursor path (the driver's typed rows) gives, carried as JSON: the rows steps have always seen. */
async function cursorRows(sql: string): Promise<Row[]> {
  const step = PostgresQueryStep.parse(postgres.query({ connection: 'warehouse', sql }));
  const pool = await h.pools.get('warehouse');
  const rows: Row[] = [];
  for await (const batch of queryRows(pool, step, window)) rows.push(...batch);
  return JSON.parse(JSON.stringify(rows)) as Row[];
}

const rowsOf = (data: StepData) => h.staging.readAll(data);

test.each([
  ['typed_small', 3, 'inline'],
  ['typed_large', 300, 'staged'],
])('%s: rows read back from COPY text equal the driver’s typed rows carried as JSON', async (name, n, kind) => {
  const data = await h.run(h.activities.extractRows, { pipeline: name, window });
  expect(data.kind).toBe(kind);
  expect(data.rowCount).toBe(n);
  expect(await rowsOf(data)).toEqual(await cursorRows(TYPED_SQL(n)));
});

test('the COPY output is cut into chunks at line ends', async () => {
  const step = PostgresQueryStep.parse(postgres.query({ connection: 'warehouse', sql: TYPED_SQL(50) }));
  const pool = await h.pools.get('warehouse');
  const chunks = [];
  for await (const chunk of copyQueryRows(pool, step, window, 1024)) chunks.push(chunk);
  expect(chunks.length).toBeGreaterThan(3);
  let rows = 0;
  for (const chunk of chunks) {
    if (Array.isArray(chunk)) throw new Error('expected COPY chunks');
    expect(chunk.text.endsWith('\n')).toBe(true);
    expect(chunk.columns.map((c) => c.name)).toContain('doc');
    rows += chunk.rowCount;
  }
  expect(rows).toBe(50);
});

test('a reader that stops after the first chunk of a large COPY ends it at once and frees the connection', async () => {
  // About 60 MB of COPY text: far more than the socket buffers hold while nobody reads.
  const sql = `SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 300000) g`;
  const step = PostgresQueryStep.parse(postgres.query({ connection: 'warehouse', sql }));
  const pool = await h.pools.get('warehouse');
  const before = pool.totalCount;
  let chunks = 0;
  for await (const chunk of copyQueryRows(pool, step, window, 64 * 1024)) {
    expect(Array.isArray(chunk)).toBe(false);
    // Let the server fill the socket while this reader holds the chunk, as a slow staging write does.
    await new Promise((r) => setTimeout(r, 300));
    if (++chunks === 1) break;
  }
  // The connection that ran the COPY is closed, not returned mid-COPY; the pool serves the next query.
  expect(pool.totalCount).toBeLessThanOrEqual(before);
  expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  const copies = await h.db.query(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'COPY (%' AND state = 'active' AND pid <> pg_backend_pid()",
  );
  expect(copies.rows[0].n).toBe(0);
});

describe('an extract that stops part-way through a large COPY', () => {
  const big = query('big', `SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 300000) g`);
  /** COPY queries the server still runs, once their closed connections have had a moment to end. */
  const activeCopies = async () => {
    let n = 0;
    for (let i = 0; i < 50; i++) {
      n = (
        await h.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE query LIKE 'COPY (%' AND state = 'active' AND pid <> pg_backend_pid()`,
        )
      ).rows[0]!.n;
      if (n === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return n;
  };

  test('fails with the staging error when staging fails, and leaves no COPY running', async () => {
    const catalog = catalogOf([big]);
    const acts = createActivities({
      pipeline: (name) => catalog.pipelines.get(name)?.spec,
      pools: h.pools,
      staging: new Staging(() => Promise.reject(new Error('staging database is down'))),
      inlineLimitBytes: INLINE_LIMIT,
    });
    await expect(h.run(acts.extractRows, { pipeline: 'big', window })).rejects.toThrow('staging database is down');
    expect(await activeCopies()).toBe(0);
  });

  test('a cancelled extract stops at the end of a chunk with a CancelledFailure', async () => {
    const catalog = catalogOf([big]);
    const acts = createActivities({
      pipeline: (name) => catalog.pipelines.get(name)?.spec,
      pools: h.pools,
      staging: h.staging,
      inlineLimitBytes: INLINE_LIMIT,
    });
    const { workflowId, runId } = newRun();
    const env = new MockActivityEnvironment(
      { workflowExecution: { workflowId, runId }, attempt: 1, heartbeatTimeoutMs: 30_000 },
      { logger: new DefaultLogger('ERROR') },
    );
    const running = env.run(acts.extractRows, { pipeline: 'big', window });
    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    expect(await activeCopies()).toBe(0);
  });
});

test.each(['semicolon', 'last_line_comment'])(
  'a query COPY cannot wrap as it is (%s) is read through the cursor',
  async (name) => {
    const data = await h.run(h.activities.extractRows, { pipeline: name, window });
    expect(await rowsOf(data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  },
);

test('parameters reach the COPY as quoted literals of the same values', async () => {
  const data = await h.run(h.activities.extractRows, { pipeline: 'quoted_param', window });
  expect(await rowsOf(data)).toEqual([{ ws: window.start, s: "it's" }]);
});

test('extract → replace load without a transform keeps every value exactly (microseconds, NaN, JSON)', async () => {
  const run = newRun();
  const data = await h.run(h.activities.extractRows, { pipeline: 'to_target', window }, run);
  expect(data.kind).toBe('staged');
  const loaded = await h.run(h.activities.loadRows, { pipeline: 'to_target', window, data }, run);
  expect(loaded).toEqual({ rows: 400, replayed: false });
  const diff = await h.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (
       (SELECT id, at, score, doc FROM public.copy_target
        EXCEPT ALL
        SELECT g, $1::timestamptz + g * interval '1.000001 second', CASE WHEN g = 2 THEN 'NaN'::float8 ELSE g END,
               jsonb_build_object('g', g) FROM generate_series(1, 400) g)) d`,
    [window.start],
  );
  expect(diff.rows[0]).toEqual({ n: 0 });
  const nan = await h.db.query<{ score: number }>('SELECT score FROM public.copy_target WHERE id = 2');
  expect(nan.rows[0]!.score).toBeNaN();
});

test('a load with its own columns reads the COPY chunks as rows and writes only those columns', async () => {
  const run = newRun();
  const data = await h.run(h.activities.extractRows, { pipeline: 'subset', window }, run);
  const loaded = await h.run(h.activities.loadRows, { pipeline: 'subset', window, data }, run);
  expect(loaded.rows).toBe(400);
  const res = await h.db.query<{ n: number; s: number }>(
    'SELECT count(*)::int AS n, sum(score)::int AS s FROM public.copy_target WHERE doc IS NULL',
  );
  expect(res.rows[0]).toEqual({ n: 400, s: 400 * 401 });
});

test('a row without a window value fails a replace load fed COPY text, and nothing is written', async () => {
  const run = newRun();
  const data = await h.run(h.activities.extractRows, { pipeline: 'null_window', window }, run);
  const err = await failureOf(h.run(h.activities.loadRows, { pipeline: 'null_window', window, data }, run));
  expect(expectPermanent(err, 'RowOutsideWindow').message).toMatch(/^1 row\(s\) have at outside the window/);
  const res = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM public.copy_target_nullable');
  expect(res.rows[0]).toEqual({ n: 0 });
});

test('transformRow reads the staged rows chunk by chunk and writes zero, one or several rows for each', async () => {
  const ids = Array.from({ length: 600 }, (_, i) => i + 1);
  const input = await stagedChunks(
    h.staging,
    [ids.slice(0, 200), ids.slice(200, 400), ids.slice(400)].map((c) => c.map((id) => ({ id }))),
  );
  seen.length = 0;
  const out = await h.run(h.activities.transformRows, { pipeline: 'each_row', window, data: input });
  expect(seen).toEqual(ids);
  const expected = ids.flatMap((id) => {
    if (id % 10 === 0) return [];
    const row = { id, label: `#${id}`, at: new Date(Date.UTC(2026, 10, 20, 0, 0, id)).toISOString() };
    return id % 3 !== 0 && id % 2 === 1 ? [row, { ...row, id: -id }] : [row];
  });
  expect(out).toMatchObject({ kind: 'staged', rowCount: expected.length });
  expect(await rowsOf(out)).toEqual(expected);
});

test('transformRow returning something other than rows or null fails the step permanently', async () => {
  const err = await failureOf(
    h.run(h.activities.transformRows, {
      pipeline: 'bad_row',
      window,
      data: { kind: 'inline', rows: [{ id: 4 }, { id: 5 }], rowCount: 2 },
    }),
  );
  expect(expectPermanent(err, 'InvalidRows').message).toMatch(/transformRow must return a row/);
});
