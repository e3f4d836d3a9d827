import { definePipeline, postgres } from '../../index';
import type { Row } from '../../core/pipeline-spec';
import { pipelineWorkflowId } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import { OutputRestarted, stagedTableOf } from '../../activities/staging';
import { copyBody, copyRows, type CopyChunk } from '../../activities/staged-chunk';
import { activityHarness, newRun, stagedChunks, type ActivityHarness } from './activity-harness';

const window = parseWindow('2026-11-20');
/** Small enough that the 2,000-row extract below is staged and the 3-row one is not. */
const INLINE_LIMIT = 16 * 1024;

let transformed: Row[] | undefined;

const generated = (n: number) =>
  definePipeline({
    name: `gen_${n}`,
    extract: postgres.query({
      connection: 'warehouse',
      sql: `SELECT g AS id, $windowStart::timestamptz AS at, 'row ' || g || E' \\t "quoted", \u00e9' AS label,
                   jsonb_build_object('n', g, 'odd', g % 2 = 1) AS doc, g * 1.5 AS ratio, NULL::text AS nothing
              FROM generate_series(1, ${n}) g ORDER BY g`,
      batchSize: 500,
    }),
    transform: (rows) => {
      transformed = rows;
      return rows.map((r) => ({ id: r.id, label: String(r.label).toUpperCase() }));
    },
    load: () => 0,
  });

const expected = (n: number): Row[] =>
  Array.from({ length: n }, (_, i) => {
    const g = i + 1;
    return {
      id: g,
      at: window.start,
      label: `row ${g} \t "quoted", \u00e9`,
      doc: { n: g, odd: g % 2 === 1 },
      ratio: (g * 1.5).toFixed(1),
      nothing: null,
    };
  });

let h: ActivityHarness;

beforeAll(async () => {
  h = await activityHarness('staging', [generated(2000), generated(3)], { inlineLimitBytes: INLINE_LIMIT });
});

afterAll(async () => {
  await h?.close();
});

beforeEach(async () => {
  transformed = undefined;
  await h.db.query(`DO $$ DECLARE t text; BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'pipectl' AND tablename LIKE 'staged\\_%' LOOP
      EXECUTE format('DROP TABLE pipectl.%I', t);
    END LOOP; END $$`);
});

/** Chunks staged for `workflowId` under references that start with `prefix` (all of them by default). */
async function stagedChunkCount(workflowId: string, prefix = `${workflowId}/`): Promise<number> {
  const table = stagedTableOf(workflowId);
  const exists = await h.db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
  if (!exists.rows[0]?.t) return 0;
  const res = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE starts_with(ref, $1)`, [
    prefix,
  ]);
  return res.rows[0]!.n;
}

test('an extract bigger than the inline limit is staged in chunks under the run, and the transform reads it back exactly', async () => {
  const run = newRun(pipelineWorkflowId('gen_2000', window));
  const data = await h.run(h.activities.extractRows, { pipeline: 'gen_2000', window }, run);
  expect(data).toMatchObject({ kind: 'staged', ref: `${run.workflowId}/${run.runId}/extract/1`, rowCount: 2000 });
  if (data.kind !== 'staged') throw new Error('unreachable');
  expect(data.chunks).toBeGreaterThanOrEqual(1);
  expect(data.bytes).toBeGreaterThan(INLINE_LIMIT);
  expect(await stagedChunkCount(run.workflowId, data.ref)).toBe(data.chunks);

  const out = await h.run(h.activities.transformRows, { pipeline: 'gen_2000', window, data }, run);
  expect(transformed).toEqual(expected(2000));
  expect(out).toMatchObject({ kind: 'staged', ref: `${run.workflowId}/${run.runId}/transform/1`, rowCount: 2000 });
  const rows = await h.staging.readAll(out);
  expect(rows).toHaveLength(2000);
  expect(rows[1999]).toEqual({ id: 2000, label: 'ROW 2000 \t "QUOTED", \u00c9' });
});

test('a small extract stays inline, exactly as a staged read would return it, and stages nothing', async () => {
  const run = newRun(pipelineWorkflowId('gen_3', window));
  const data = await h.run(h.activities.extractRows, { pipeline: 'gen_3', window }, run);
  expect(data).toEqual({ kind: 'inline', rows: expected(3), rowCount: 3 });
  expect(await stagedChunkCount(run.workflowId)).toBe(0);
  const out = await h.run(h.activities.transformRows, { pipeline: 'gen_3', window, data }, run);
  expect(transformed).toEqual(expected(3));
  expect(out.kind).toBe('inline');
});

test('a retried attempt stages under its own reference and never mixes rows with the earlier attempt', async () => {
  const run = newRun(pipelineWorkflowId('gen_2000', window));
  const first = await h.run(h.activities.extractRows, { pipeline: 'gen_2000', window }, run);
  const second = await h.run(h.activities.extractRows, { pipeline: 'gen_2000', window }, { ...run, attempt: 2 });
  if (first.kind !== 'staged' || second.kind !== 'staged') throw new Error('expected staged data');
  expect(second.ref).toBe(`${run.workflowId}/${run.runId}/extract/2`);
  expect(second.ref).not.toBe(first.ref);
  expect(await h.staging.readAll(second)).toEqual(expected(2000));
  expect(await h.staging.readAll(first)).toEqual(expected(2000));
});

test("dropStaged removes every staged chunk of the workflow ID, and only that workflow's", async () => {
  const mine = newRun(pipelineWorkflowId('gen_2000', window));
  const rerun = newRun(mine.workflowId);
  // A workflow ID that extends this one: only the '/' after the ID keeps its chunks apart.
  const other = newRun(`${mine.workflowId}x`);
  const a = await h.run(h.activities.extractRows, { pipeline: 'gen_2000', window }, mine);
  const b = await h.run(h.activities.transformRows, { pipeline: 'gen_2000', window, data: a }, rerun);
  const c = await h.run(h.activities.extractRows, { pipeline: 'gen_2000', window }, other);
  if (a.kind !== 'staged' || b.kind !== 'staged' || c.kind !== 'staged') throw new Error('expected staged data');

  const dropped = await h.run(h.activities.dropStaged, { workflowId: mine.workflowId });
  expect(dropped).toBe(a.chunks + b.chunks);
  expect(await stagedChunkCount(mine.workflowId)).toBe(0);
  await expect(h.staging.readAll(a)).rejects.toThrow(/chunk 0 is missing/);
  expect(await stagedChunkCount(other.workflowId)).toBe(c.chunks);
  expect(await h.run(h.activities.dropStaged, { workflowId: mine.workflowId })).toBe(0);
});

test('dropStaged drops the table of the workflow ID, so its space goes back at once', async () => {
  const run = newRun(pipelineWorkflowId('gen_2000', window));
  const a = await h.run(h.activities.extractRows, { pipeline: 'gen_2000', window }, run);
  if (a.kind !== 'staged') throw new Error('expected staged data');
  const table = stagedTableOf(run.workflowId);
  const exists = async () => (await h.db.query('SELECT to_regclass($1)::text AS t', [table])).rows[0].t as unknown;
  expect(await exists()).toBe(table);
  expect(await h.run(h.activities.dropStaged, { workflowId: run.workflowId })).toBe(a.chunks);
  expect(await exists()).toBeNull();
});

test('chunks an earlier version staged in its one shared table are still read, and dropped with the workflow', async () => {
  await h.db.query(`CREATE TABLE pipectl.staged_chunks (
    ref text NOT NULL, seq integer NOT NULL, row_count integer NOT NULL, body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (ref, seq))`);
  const ref = 'pipeline/legacy/2026-11-20/run-1/extract/1';
  const chunk = { columns: [{ name: 'id', type: 'number' as const }], text: '1\n2\n', rowCount: 2 };
  await h.db.query('INSERT INTO pipectl.staged_chunks (ref, seq, row_count, body) VALUES ($1, 0, 2, $2)', [
    ref,
    copyBody(chunk),
  ]);
  await h.db.query(
    "INSERT INTO pipectl.staged_chunks (ref, seq, row_count, body) VALUES ('pipeline/other/x/1/a/1', 0, 0, '[]')",
  );
  const data = { kind: 'staged' as const, ref, chunks: 1, rowCount: 2, bytes: 4 };
  expect(await h.staging.readAll(data)).toEqual([{ id: 1 }, { id: 2 }]);
  expect(await h.run(h.activities.dropStaged, { workflowId: 'pipeline/legacy/2026-11-20' })).toBe(1);
  await expect(h.staging.readAll(data)).rejects.toThrow(/chunk 0 is missing/);
  const left = await h.db.query('SELECT ref FROM pipectl.staged_chunks');
  expect(left.rows).toEqual([{ ref: 'pipeline/other/x/1/a/1' }]);
});

test('LIKE wildcards in a workflow ID are matched literally by dropStaged', async () => {
  const wild = newRun('pipeline/gen_%/_');
  const victim = newRun('pipeline/gen_2000/x');
  const a = await h.run(h.activities.extractRows, { pipeline: 'gen_2000', window }, wild);
  const v = await h.run(h.activities.extractRows, { pipeline: 'gen_2000', window }, victim);
  if (a.kind !== 'staged' || v.kind !== 'staged') throw new Error('expected staged data');
  expect(await h.run(h.activities.dropStaged, { workflowId: wild.workflowId })).toBe(a.chunks);
  expect(await stagedChunkCount(victim.workflowId)).toBe(v.chunks);
});

test('staged chunks are stored uncompressed: PostgreSQL does not compress and decompress every chunk', async () => {
  await h.run(h.activities.extractRows, { pipeline: 'gen_2000', window }, newRun('storage'));
  const res = await h.db.query<{ storage: string }>(
    `SELECT attstorage AS storage FROM pg_attribute
      WHERE attrelid = $1::regclass AND attname = 'body'`,
    [stagedTableOf('storage')],
  );
  expect(res.rows[0]?.storage).toBe('e');
});

test('rows that stop fitting the COPY form once the result is staged read back exactly as their JSON', async () => {
  const writer = h.staging.writer('mixed/run/transform/1', 1024);
  const rows: Row[] = [];
  for (let i = 0; i < 300; i++) {
    rows.push({ id: i, label: `row ${i}\t\\`, at: new Date(Date.UTC(2026, 10, 20, 0, 0, i)), n: i % 3 ? i / 2 : null });
  }
  // Staged after about 1 KiB; then, in the chunk being filled, a value of another kind and a row of other keys.
  rows.push({ id: 'three hundred', label: 'x', at: null, n: NaN });
  rows.push({ other: true });
  for (let i = 0; i < 50; i++) rows.push({ id: i, label: 'again', at: null, n: 1 });
  for (const row of rows) if (writer.add(row)) await writer.flush();
  const data = await writer.finish();
  expect(data).toMatchObject({ kind: 'staged', rowCount: rows.length });
  expect(await h.staging.readAll(data)).toEqual(JSON.parse(JSON.stringify(rows)));
});

test('a chunk that cannot be written fails the step, even while the next chunk was being filled', async () => {
  const failing = Object.create(h.staging) as typeof h.staging;
  failing.putChunk = async (ref, seq, rowCount, body) => {
    if (seq === 1) throw new Error('disk full');
    return h.staging.putChunk(ref, seq, rowCount, body);
  };
  const writer = failing.writer('failing/run/extract/1', 1024);
  const row = { id: 1, label: 'x'.repeat(1024 * 1024) };
  // Four chunks of about 4 MiB each: the write of the second fails while the third fills.
  const push = async () => {
    for (let i = 0; i < 16; i++) await writer.push([{ ...row, id: i }]);
    return writer.finish();
  };
  await expect(push()).rejects.toThrow('disk full');
});

describe('following an output while it is written (overlapLoad)', () => {
  const prefix = (workflowId: string) => `${workflowId}/run-1/transform/`;
  const chunkOf = (ids: number[]) =>
    copyBody({
      columns: [{ name: 'id', type: 'number' }],
      text: ids.map((i) => `${i}\n`).join(''),
      rowCount: ids.length,
    });
  const ids = (chunk: unknown) => (Array.isArray(chunk) ? chunk : copyRows(chunk as CopyChunk)).map((r) => r.id);
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Reads everything `follow` gives, noting each chunk's ids as it comes. */
  function reader(from: string, signal = new AbortController().signal) {
    const seen: unknown[][] = [];
    const done = (async () => {
      for await (const chunk of h.staging.follow(from, signal)) seen.push(ids(chunk));
    })();
    return { seen, done };
  }

  test('gives each chunk once it has committed, and ends when the attempt publishes its result', async () => {
    const p = prefix('follow-1');
    const r = reader(p);
    await pause(300);
    expect(r.seen).toEqual([]);
    await h.staging.putChunk(`${p}1`, 0, 2, chunkOf([1, 2]));
    for (let i = 0; i < 50 && r.seen.length < 1; i++) await pause(20);
    expect(r.seen).toEqual([[1, 2]]);
    await h.staging.putChunk(`${p}1`, 1, 1, chunkOf([3]));
    await h.staging.publish(`${p}1`, { kind: 'staged', ref: `${p}1`, chunks: 2, rowCount: 3, bytes: 6 });
    await r.done;
    expect(r.seen).toEqual([[1, 2], [3]]);
    // Dropping counts the two chunks, not the published end.
    expect(await h.run(h.activities.dropStaged, { workflowId: 'follow-1' })).toBe(2);
  });

  test('an attempt whose result is inline, or is its input passed on, is read from that result', async () => {
    const p = prefix('follow-2');
    await h.staging.publish(`${p}1`, { kind: 'inline', rows: [{ id: 7 }], rowCount: 1 });
    const r = reader(p);
    await r.done;
    expect(r.seen).toEqual([[7]]);
    const q = prefix('follow-2b');
    const input = await stagedChunks(h.staging, [[{ id: 8 }], [{ id: 9 }]]);
    await h.staging.publish(`${q}1`, input);
    const s = reader(q);
    await s.done;
    expect(s.seen).toEqual([[8], [9]]);
  });

  test('a newer attempt after chunks were given restarts the reader; before any, it is simply followed', async () => {
    const p = prefix('follow-3');
    await h.staging.putChunk(`${p}1`, 0, 1, chunkOf([1]));
    const r = reader(p);
    for (let i = 0; i < 50 && r.seen.length < 1; i++) await pause(20);
    expect(r.seen).toEqual([[1]]);
    await h.staging.putChunk(`${p}2`, 0, 1, chunkOf([10]));
    await expect(r.done).rejects.toBeInstanceOf(OutputRestarted);
    await expect(r.done).rejects.toThrow(`staged data ${p}1 was replaced by a newer attempt, ${p}2`);

    // The first attempt finishes late (a zombie): it is not used, the newest attempt is.
    await h.staging.publish(`${p}1`, { kind: 'staged', ref: `${p}1`, chunks: 1, rowCount: 1, bytes: 2 });
    const again = reader(p);
    await pause(300);
    expect(again.seen).toEqual([[10]]);
    await h.staging.publish(`${p}2`, { kind: 'staged', ref: `${p}2`, chunks: 1, rowCount: 1, bytes: 3 });
    await again.done;
    expect(again.seen).toEqual([[10]]);
  });

  test('stops with the reason of its signal while it waits', async () => {
    const abort = new AbortController();
    const r = reader(prefix('follow-4'), abort.signal);
    await pause(100);
    abort.abort(new Error('the load was cancelled'));
    await expect(r.done).rejects.toThrow('the load was cancelled');
  });
});
