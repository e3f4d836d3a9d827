import { definePipeline, postgres } from '../../index';
import { loadRows as loadPostgresRows } from '../../activities/postgres/steps';
import { quoteIdentifier, quoteTable } from '../../core/identifiers';
import { PipelineSpec, type PostgresLoadStep } from '../../core/pipeline-spec';
import { parseWindow } from '../../core/window';
import { activityHarness, expectPermanent, failureOf, inline, newRun, type ActivityHarness } from './activity-harness';

const window = parseWindow('2026-11-20');
const DROP = 'x"; DROP TABLE public.victim; --';

/** Names that must never reach SQL as identifiers. */
const badTables = [
  'victim; DROP TABLE public.victim',
  'public.victim"--',
  '"victim"',
  'a.b.c',
  'victim ',
  '1victim',
  'public.',
  `t${'x'.repeat(63)}`,
];
const badColumns = [DROP, 'a b', 'day) OR (1=1', '', 'é', `c${'x'.repeat(63)}`];

let h: ActivityHarness;

beforeAll(async () => {
  h = await activityHarness('ident', [
    definePipeline({
      name: 'rows_named_freely',
      extract: () => [],
      load: postgres.upsert({ connection: 'warehouse', table: 'public.target', key: ['id'] }),
    }),
  ]);
  await h.db.query('CREATE TABLE public.victim (id int)');
  await h.db.query('CREATE TABLE public.target (id int PRIMARY KEY, "Mixed$Case_1" text)');
});

afterAll(async () => {
  await h?.close();
});

async function victimExists(): Promise<boolean> {
  const res = await h.db.query<{ t: string | null }>("SELECT to_regclass('public.victim')::text AS t");
  return res.rows[0]?.t === 'victim';
}

function issuesOf(load: unknown): { path: string; message: string }[] {
  const parsed = PipelineSpec.safeParse({ name: 'p', extract: () => [], load });
  if (parsed.success) return [];
  return parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('validation rejects names that are not plain identifiers', () => {
  test.each(badTables)('table %j', (table) => {
    expect(issuesOf(postgres.upsert({ connection: 'warehouse', table, key: ['id'] }))).toEqual([
      { path: 'load.table', message: expect.stringContaining('schema.table') },
    ]);
  });

  /** Distinct paths of the issues: an empty name may be reported twice (not an identifier, and missing). */
  const paths = (load: unknown) => [...new Set(issuesOf(load).map((i) => i.path))];

  test.each(badColumns)('column %j as key, windowColumn and columns', (column) => {
    expect(paths(postgres.upsert({ connection: 'warehouse', table: 't', key: [column] }))).toEqual(['load.key.0']);
    expect(paths(postgres.replace({ connection: 'warehouse', table: 't', windowColumn: column }))).toEqual([
      'load.windowColumn',
    ]);
    expect(
      paths(postgres.upsert({ connection: 'warehouse', table: 't', key: ['id'], columns: ['id', column] })),
    ).toEqual(['load.columns.1']);
  });

  test('plain identifiers pass, with schema, mixed case, _ and $', () => {
    expect(
      issuesOf(
        postgres.upsert({
          connection: 'warehouse',
          table: 'public.target',
          key: ['id'],
          columns: ['id', 'Mixed$Case_1'],
        }),
      ),
    ).toEqual([]);
    expect(
      issuesOf(postgres.replace({ connection: 'warehouse', table: '_t$1', windowColumn: `c${'x'.repeat(62)}` })),
    ).toEqual([]);
  });
});

describe('quoting refuses what validation would have refused', () => {
  test.each(badTables)('quoteTable(%j) throws', (table) => {
    expect(() => quoteTable(table)).toThrow(/invalid (table name|SQL identifier)/);
  });

  test.each(badColumns)('quoteIdentifier(%j) throws', (column) => {
    expect(() => quoteIdentifier(column)).toThrow(/invalid SQL identifier/);
  });

  test('valid names are double-quoted part by part', () => {
    expect(quoteTable('public.target')).toBe('"public"."target"');
    expect(quoteTable('target')).toBe('"target"');
    expect(quoteIdentifier('Mixed$Case_1')).toBe('"Mixed$Case_1"');
  });

  test('a load step that skipped validation fails before it touches the database', async () => {
    const pool = await h.pools.get('warehouse');
    const step = {
      kind: 'postgres.load',
      connection: 'warehouse',
      table: `public.victim; DROP TABLE public.victim`,
      mode: 'upsert',
      key: ['id'],
    };
    await expect(
      loadPostgresRows(
        pool,
        step as PostgresLoadStep,
        { pipeline: 'p', ...newRun(), window },
        (async function* () {
          yield [{ id: 1 }];
        })(),
      ),
    ).rejects.toThrow(/invalid table name/);
    expect(await victimExists()).toBe(true);
  });
});

describe('row fields become column names only when they are plain identifiers', () => {
  test('a row field that is not an identifier is InvalidData, and nothing is written', async () => {
    const err = await failureOf(
      h.run(h.activities.loadRows, { pipeline: 'rows_named_freely', window, data: inline([{ id: 1, [DROP]: 'v' }]) }),
    );
    expect(expectPermanent(err, 'InvalidData').message).toContain(JSON.stringify(DROP));
    expect(await victimExists()).toBe(true);
    const target = await h.db.query('SELECT count(*)::int AS n FROM public.target');
    expect(target.rows[0]).toEqual({ n: 0 });
  });

  test('a field with capitals and $ is quoted, so it reaches exactly the column of that name', async () => {
    const result = await h.run(h.activities.loadRows, {
      pipeline: 'rows_named_freely',
      window,
      data: inline([{ id: 1, Mixed$Case_1: 'exact' }]),
    });
    expect(result).toEqual({ rows: 1, replayed: false });
    const target = await h.db.query('SELECT id, "Mixed$Case_1" AS v FROM public.target');
    expect(target.rows).toEqual([{ id: 1, v: 'exact' }]);
  });
});
