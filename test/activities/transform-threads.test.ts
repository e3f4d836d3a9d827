import { utimesSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join, resolve } from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities, type Activities } from '../../activities';
import { TransformThreadPools } from '../../activities/transform-threads';
import { copyBody, type CopyChunk } from '../../activities/staged-chunk';
import { THREAD_NICE_OFFSET } from '../../activities/transform-thread';
import { readCatalog, type Catalog } from '../../catalog/load';
import type { Row } from '../../core/pipeline-spec';
import type { StepData } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import { removeTempDirs, tempDir } from '../helpers/temp-dir';
import { activityHarness, newRun, type ActivityHarness } from './activity-harness';

const window = parseWindow('2026-11-20');
const INLINE_LIMIT = 4 * 1024;

/**
 * Definitions in a file of their own, as users write them: the threads load this file. Each transform marks the
 * thread it ran on, so the tests see where the work happened.
 */
const DEFINITIONS = `
import { getPriority } from 'node:os';
import { isMainThread, threadId } from 'node:worker_threads';
import { definePipeline } from ${JSON.stringify(resolve(__dirname, '../../index'))};

const common = { extract: async () => [], load: async () => 0 };
let one: Promise<number> | undefined;

export const threaded = definePipeline({
  ...common,
  name: 'threaded',
  transformThreads: 3,
  transformRow: (row, ctx) => {
    const id = Number(row.id);
    if (id % 10 === 3) return null;
    const out = { id, label: String(row.label).toUpperCase(), window: ctx.window.start, main: isMainThread };
    // Rows of 7s fan out; a changing kind in chunk 2 makes that chunk's output JSON.
    if (id % 10 === 7) return [out, { ...out, id: id + 0.5 }];
    return id === 2_050 ? { ...out, label: 42 } : out;
  },
});

export const fails = definePipeline({
  ...common,
  name: 'fails',
  transformThreads: 2,
  transformRow: (row) => {
    if (Number(row.id) === 3_333) throw new RangeError('order 3333 has no price');
    return row;
  },
});

export const invalid = definePipeline({
  ...common,
  name: 'invalid',
  transformThreads: 2,
  transformRow: (row) => (Number(row.id) === 1_500 ? ('not a row' as never) : row),
});

export const marks = definePipeline({
  ...common,
  name: 'marks',
  transformThreads: 2,
  transformRow: (row, ctx) => ({
    id: row.id,
    thread: threadId,
    window: ctx.window.start,
    run: ctx.workflowId,
    nice: getPriority(0),
  }),
});

export const queries = definePipeline({
  ...common,
  name: 'queries',
  transformThreads: 2,
  transformRow: async (row, ctx) => {
    one ??= ctx.postgres('warehouse').then(async (pool) => (await pool.query('SELECT 1 AS one')).rows[0].one);
    return { id: row.id, one: await one, thread: threadId };
  },
});
`;

let h: ActivityHarness;
let activities: Activities;
let catalog: Catalog;

beforeAll(async () => {
  h = await activityHarness('threads', [], { inlineLimitBytes: INLINE_LIMIT });
  const dir = tempDir('pipectl-threads-');
  writeFileSync(join(dir, 'pipelines.ts'), DEFINITIONS);
  const report = readCatalog(dir);
  expect(report.issues).toEqual([]);
  catalog = report.catalog;
  activities = fileActivities();
});

/** Activities over the definition file, with the given transform threads (default: a set of their own). */
function fileActivities(transformThreads?: TransformThreadPools): Activities {
  return createActivities({
    pipeline: (name) => catalog.pipelines.get(name)?.spec,
    pipelineFile: (name) => {
      const file = catalog.pipelines.get(name)?.file;
      return file === undefined ? undefined : resolve(file);
    },
    pools: h.pools,
    staging: h.staging,
    inlineLimitBytes: INLINE_LIMIT,
    ...(transformThreads ? { transformThreads } : {}),
  });
}

afterAll(async () => {
  await h.close();
  removeTempDirs();
});

/** Stages `n` rows as chunks of 1,000: COPY chunks, and every third one as JSON, as an extract could leave them. */
async function stageInput(n: number): Promise<StepData> {
  const { workflowId, runId } = newRun();
  const ref = `${workflowId}/${runId}/extract/1`;
  let seq = 0;
  for (let start = 1; start <= n; start += 1_000) {
    const rows: Row[] = [];
    for (let id = start; id < Math.min(start + 1_000, n + 1); id++) rows.push({ id, label: `order ${id}\tnote` });
    const body =
      seq % 3 === 2
        ? JSON.stringify(rows)
        : copyBody({
            columns: [
              { name: 'id', type: 'number' },
              { name: 'label', type: 'text' },
            ],
            text: rows.map((r) => `${String(r.id)}\t${String(r.label).replace('\t', '\\t')}\n`).join(''),
            rowCount: rows.length,
          } satisfies CopyChunk);
    await h.staging.putChunk(ref, seq++, rows.length, body);
  }
  return { kind: 'staged', ref, chunks: seq, rowCount: n, bytes: 0 };
}

/** What the one-thread transform gives for the same input: the definition's function, row by row, in order. */
function expectedOf(name: string, input: Row[]): Row[] {
  const fn = catalog.pipelines.get(name)!.spec.transformRow!;
  const ctx = { window } as never;
  const out: Row[] = [];
  for (const row of input) {
    const r = fn(row, ctx) as Row | Row[] | null;
    if (r === null) continue;
    for (const x of Array.isArray(r) ? r : [r]) out.push({ ...x, main: false });
  }
  return JSON.parse(JSON.stringify(out)) as Row[];
}

test('a transformRow on threads gives the rows one thread gives, in order, and stages them', async () => {
  const data = await stageInput(5_000);
  const out = await h.run(activities.transformRows, { pipeline: 'threaded', window, data });
  expect(out.kind).toBe('staged');
  const rows = await h.staging.readAll(out);
  expect(rows).toEqual(expectedOf('threaded', await h.staging.readAll(data)));
  expect(out.rowCount).toBe(rows.length);
  // Every row was transformed off the worker's thread.
  expect(rows.every((r) => r.main === false)).toBe(true);
});

test("transform threads run 10 nice levels below the worker's thread, which keeps its own", async () => {
  const before = getPriority(0);
  const data = await stageInput(2_000);
  const out = await h.run(activities.transformRows, { pipeline: 'marks', window, data });
  const rows = await h.staging.readAll(out);
  expect(new Set(rows.map((r) => r.nice))).toEqual(new Set([Math.min(19, before + THREAD_NICE_OFFSET)]));
  expect(getPriority(0)).toBe(before);
});

test('a window that travels inline is transformed on the worker thread', async () => {
  const rows: Row[] = [{ id: 1, label: 'a' }];
  const out = await h.run(activities.transformRows, {
    pipeline: 'threaded',
    window,
    data: { kind: 'inline', rows, rowCount: 1 },
  });
  expect(out).toEqual({
    kind: 'inline',
    rows: [{ id: 1, label: 'A', window: window.start, main: true }],
    rowCount: 1,
  });
});

test("an error thrown by the transform in a thread fails the step with the transform's message", async () => {
  const data = await stageInput(5_000);
  await expect(h.run(activities.transformRows, { pipeline: 'fails', window, data })).rejects.toMatchObject({
    name: 'RangeError',
    message: 'order 3333 has no price',
  });
});

test('a transform returning something other than rows fails as InvalidRows, not retried', async () => {
  const data = await stageInput(3_000);
  const err = await h.run(activities.transformRows, { pipeline: 'invalid', window, data }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: 'InvalidRows', nonRetryable: true });
});

test("a transform in a thread reaches the worker's connections through ctx.postgres", async () => {
  const data = await stageInput(4_000);
  const out = await h.run(activities.transformRows, { pipeline: 'queries', window, data });
  const rows = await h.staging.readAll(out);
  expect(rows).toHaveLength(4_000);
  expect(rows.every((r) => r.one === 1)).toBe(true);
  // Both threads took chunks.
  expect(new Set(rows.map((r) => r.thread)).size).toBe(2);
});

test('a definition file that no longer defines the pipeline fails the step and names the file', async () => {
  const dir = tempDir('pipectl-threads-changed-');
  const file = join(dir, 'pipelines.ts');
  writeFileSync(file, 'export const nothing = 1;\n');
  const changed = createActivities({
    pipeline: (name) => catalog.pipelines.get(name)?.spec,
    pipelineFile: () => file,
    pools: h.pools,
    staging: h.staging,
    inlineLimitBytes: INLINE_LIMIT,
  });
  const data = await stageInput(2_000);
  await expect(h.run(changed.transformRows, { pipeline: 'threaded', window, data })).rejects.toThrow(
    `${file} no longer defines pipeline 'threaded' with a transformRow`,
  );
});

/** A transform step of 5,000 staged rows, cancelled as soon as it starts. */
async function cancelledStep(acts: Activities, pipeline: string): Promise<unknown> {
  const data = await stageInput(5_000);
  const { workflowId, runId } = newRun();
  const env = new MockActivityEnvironment(
    { workflowExecution: { workflowId, runId }, attempt: 1, heartbeatTimeoutMs: 30_000 },
    { logger: new DefaultLogger('ERROR') },
  );
  const running = env.run(acts.transformRows, { pipeline, window, data });
  env.cancel();
  return running;
}

test.each([
  ['on threads', true],
  ['on the worker thread', false],
])('a cancelled row transform %s stops at the next chunk with a CancelledFailure', async (_, threaded) => {
  const acts = threaded
    ? activities
    : createActivities({
        pipeline: (name) => catalog.pipelines.get(name)?.spec,
        pools: h.pools,
        staging: h.staging,
        inlineLimitBytes: INLINE_LIMIT,
      });
  await expect(cancelledStep(acts, 'threaded')).rejects.toBeInstanceOf(CancelledFailure);
});

describe('threads kept between steps', () => {
  let pools: TransformThreadPools;
  let acts: Activities;
  beforeEach(() => {
    pools = new TransformThreadPools();
    acts = fileActivities(pools);
  });
  afterEach(() => pools.close());

  /** One `marks` step: the threads its rows were made on, and the window and run they saw. */
  async function step(win = window, p = acts) {
    const run = newRun();
    const out = await h.run(p.transformRows, { pipeline: 'marks', window: win, data: await stageInput(4_000) }, run);
    const rows = await h.staging.readAll(out);
    expect(rows).toHaveLength(4_000);
    return {
      threads: [...new Set(rows.map((r) => Number(r.thread)))].sort(),
      windows: [...new Set(rows.map((r) => r.window))],
      runs: [...new Set(rows.map((r) => r.run))],
      workflowId: run.workflowId,
    };
  }

  test("a pipeline's next step runs on the same threads, with its own window and run", async () => {
    const first = await step();
    expect(first.threads).toHaveLength(2);
    expect(pools.idleCount).toBe(1);
    const next = parseWindow('2026-11-21');
    const second = await step(next);
    expect(second.threads).toEqual(first.threads);
    expect(second.windows).toEqual([next.start]);
    expect(second.runs).toEqual([second.workflowId]);
    expect(first.runs).toEqual([first.workflowId]);
    await pools.close();
    expect(pools.idleCount).toBe(0);
  });

  test('threads of a step that failed or was cancelled are not kept', async () => {
    await expect(
      h.run(acts.transformRows, { pipeline: 'fails', window, data: await stageInput(5_000) }),
    ).rejects.toThrow('order 3333 has no price');
    expect(pools.idleCount).toBe(0);

    await expect(cancelledStep(acts, 'marks')).rejects.toBeInstanceOf(CancelledFailure);
    expect(pools.idleCount).toBe(0);
  });

  test('idle threads stop after the idle time, and a changed definition file gets new threads', async () => {
    const short = new TransformThreadPools(300);
    const shortActs = fileActivities(short);
    try {
      const first = await step(window, shortActs);
      expect(short.idleCount).toBe(1);
      await new Promise((r) => setTimeout(r, 800));
      expect(short.idleCount).toBe(0);
      const second = await step(window, shortActs);
      expect(second.threads).not.toEqual(first.threads);
    } finally {
      await short.close();
    }

    const before = await step();
    const file = resolve(catalog.pipelines.get('marks')!.file);
    const later = new Date(Date.now() + 5_000);
    utimesSync(file, later, later);
    const after = await step();
    expect(after.threads.some((t) => before.threads.includes(t))).toBe(false);
  });
});
