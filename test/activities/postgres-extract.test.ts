import { definePipeline, postgres } from '../../index';
import { queryRows } from '../../activities/postgres/steps';
import { PostgresQueryStep, type Row } from '../../core/pipeline-spec';
import type { StepData } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import { activityHarness, expectPermanent, failureOf, type ActivityHarness } from './activity-harness';

const window = parseWindow('2026-11-20');
const noLoad = () => 0;

function queryPipeline(
  name: string,
  sql: string,
  options: { params?: Record<string, string | number | boolean | null>; batchSize?: number } = {},
) {
  return definePipeline({ name, extract: postgres.query({ connection: 'warehouse', sql, ...options }), load: noLoad });
}

const INJECTION = "x' OR '1'='1'; DROP TABLE public.events; --";

const pipelines = [
  queryPipeline(
    'windowed',
    'SELECT id, kind FROM public.events WHERE at >= $windowStart AND at < $windowEnd ORDER BY id',
  ),
  queryPipeline('by_kind', 'SELECT id FROM public.events WHERE kind = $kind ORDER BY id', {
    params: { kind: INJECTION },
  }),
  queryPipeline('echo', 'SELECT $kind::text AS kind, $limit::int AS lim, $windowStart::timestamptz AS ws', {
    params: { kind: INJECTION, limit: 3 },
  }),
  queryPipeline('literal', "SELECT '$windowStart' AS text, $$ $windowEnd $$ AS dollar -- $notAParam\n"),
  queryPipeline('batched', 'SELECT g AS n FROM generate_series(1, 25) g ORDER BY g', { batchSize: 4 }),
  queryPipeline('syntax', 'SELEC id FROM public.events'),
  queryPipeline('no_table', 'SELECT id FROM public.no_such_table'),
  queryPipeline('no_column', 'SELECT no_such_column FROM public.events'),
  queryPipeline('unknown_param', 'SELECT id FROM public.events WHERE kind = $kindd'),
  queryPipeline('positional', 'SELECT id FROM public.events WHERE kind = $1'),
  queryPipeline('writes', 'SELECT public.add_event(99) AS id'),
  queryPipeline('divides_by_zero', 'SELECT 10 / (g - 3) AS v FROM generate_series(1, 5) g'),
  queryPipeline('object_key_param', 'SELECT $constructor AS v'),
];

let h: ActivityHarness;

beforeAll(async () => {
  h = await activityHarness('extract', pipelines);
  await h.db.query('CREATE TABLE public.events (id int PRIMARY KEY, at timestamptz NOT NULL, kind text NOT NULL)');
  await h.db.query(
    `INSERT INTO public.events (id, at, kind) VALUES
       (1, '2026-11-19T23:59:59.999Z', 'before'),
       (2, '2026-11-20T00:00:00.000Z', 'start'),
       (3, '2026-11-20T13:00:00.000Z', 'x'),
       (4, '2026-11-20T23:59:59.999Z', 'last'),
       (5, '2026-11-21T00:00:00.000Z', 'end')`,
  );
  await h.db.query(
    `CREATE FUNCTION public.add_event(n int) RETURNS int LANGUAGE sql AS
       $$ INSERT INTO public.events (id, at, kind) VALUES (n, now(), 'written') RETURNING id $$`,
  );
});

afterAll(async () => {
  await h?.close();
});

function rowsOf(data: StepData): Row[] {
  if (data.kind !== 'inline') throw new Error(`expected inline data, got ${data.kind}`);
  return data.rows;
}

test('the window is bound as parameters: rows at the start are in, rows at the end and outside are out', async () => {
  const data = await h.run(h.activities.extractRows, { pipeline: 'windowed', window });
  expect(rowsOf(data)).toEqual([
    { id: 2, kind: 'start' },
    { id: 3, kind: 'x' },
    { id: 4, kind: 'last' },
  ]);
  expect(data.rowCount).toBe(3);
});

test('another window reads other rows with the same definition', async () => {
  const data = await h.run(h.activities.extractRows, { pipeline: 'windowed', window: parseWindow('2026-11-21') });
  expect(rowsOf(data)).toEqual([{ id: 5, kind: 'end' }]);
});

test('a param that looks like SQL injection stays a value', async () => {
  const data = await h.run(h.activities.extractRows, { pipeline: 'by_kind', window });
  expect(rowsOf(data)).toEqual([]);
  const echoed = await h.run(h.activities.extractRows, { pipeline: 'echo', window });
  expect(rowsOf(echoed)).toEqual([{ kind: INJECTION, lim: 3, ws: window.start }]);
  const table = await h.db.query('SELECT count(*)::int AS n FROM public.events');
  expect(table.rows[0]).toEqual({ n: 5 });
});

test('placeholders inside string literals, dollar quotes and comments are left alone', async () => {
  const data = await h.run(h.activities.extractRows, { pipeline: 'literal', window });
  expect(rowsOf(data)).toEqual([{ text: '$windowStart', dollar: ' $windowEnd ' }]);
});

test('a result larger than batchSize arrives whole, fetched in batchSize batches', async () => {
  const data = await h.run(h.activities.extractRows, { pipeline: 'batched', window });
  expect(rowsOf(data).map((r) => r.n)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));

  const step = PostgresQueryStep.parse(
    postgres.query({
      connection: 'warehouse',
      sql: 'SELECT g AS n FROM generate_series(1, $last::int) g',
      batchSize: 4,
    }),
  );
  const pool = await h.pools.get('warehouse');
  const sizes = async (last: number) => {
    const out: number[] = [];
    for await (const batch of queryRows(pool, { ...step, params: { last } }, window)) out.push(batch.length);
    return out;
  };
  expect(await sizes(10)).toEqual([4, 4, 2]);
  expect(await sizes(8)).toEqual([4, 4]);
  expect(await sizes(0)).toEqual([]);
});

test.each([
  ['syntax', 'InvalidSql', /syntax error/],
  ['no_table', 'TableNotFound', /no_such_table/],
  ['no_column', 'ColumnNotFound', /no_such_column/],
  ['unknown_param', 'InvalidSql', /\$kindd/],
  ['positional', 'InvalidSql', /positional parameters/],
])('the %s query fails permanently with %s', async (pipeline, type, message) => {
  const err = await failureOf(h.run(h.activities.extractRows, { pipeline, window }));
  expect(expectPermanent(err, type).message).toMatch(message);
});

test('an extract runs read-only: a query that writes fails and its write is not there', async () => {
  const err = await failureOf(h.run(h.activities.extractRows, { pipeline: 'writes', window }));
  expect((err as Error).message).toMatch(/read-only transaction/);
  const res = await h.db.query('SELECT count(*)::int AS n FROM public.events WHERE id = 99');
  expect(res.rows[0]).toEqual({ n: 0 });
});

test('an unknown pipeline is PipelineNotFound', async () => {
  const err = await failureOf(h.run(h.activities.extractRows, { pipeline: 'nope', window }));
  expect(expectPermanent(err, 'PipelineNotFound').message).toContain("'nope'");
});

/*
 * Known bugs in activities/postgres/steps.ts (queryRows), reported rather than fixed here. Each test states the
 * intended behaviour and is marked `failing` so the suite stays green; when the bug is fixed jest reports the test as
 * unexpectedly passing: turn it into a plain `test`.
 */
describe('known bugs', () => {
  test('a data error raised while fetching (division by zero) is InvalidData, like one raised while planning', async () => {
    const err = await failureOf(h.run(h.activities.extractRows, { pipeline: 'divides_by_zero', window }));
    expectPermanent(err, 'InvalidData');
  });

  test('a query that tries to write fails permanently instead of being retried', async () => {
    const err = await failureOf(h.run(h.activities.extractRows, { pipeline: 'writes', window }));
    expectPermanent(err, 'InvalidSql');
  });

  test('$constructor, which params lack, is an unknown parameter rather than Object.prototype.constructor', async () => {
    const err = await failureOf(h.run(h.activities.extractRows, { pipeline: 'object_key_param', window }));
    expectPermanent(err, 'InvalidSql');
  });

  test('a reader that stops early does not leave its pooled connection inside the extract transaction', async () => {
    const step = PostgresQueryStep.parse(
      postgres.query({ connection: 'warehouse', sql: 'SELECT g FROM generate_series(1, 10) g', batchSize: 2 }),
    );
    const pool = await h.pools.get('warehouse');
    // What collect() does when staging a batch throws: for-await calls return() on the generator.
    for await (const batch of queryRows(pool, step, window)) {
      expect(batch).toHaveLength(2);
      break;
    }
    // The next extract on the pool gets the same idle connection, still in the open transaction with its cursor.
    const data = await h.run(h.activities.extractRows, { pipeline: 'windowed', window });
    expect(data.rowCount).toBe(3);
  });
});
