import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { join, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { startPipelineRun } from '../../cli/runs';
import { stagedTableOf } from '../../activities/staging';
import { readCatalog } from '../../catalog/load';
import { pipelineWorkflowId } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import { definePipeline, postgres } from '../../index';
import { catalogOf } from '../helpers/catalog';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';
import { removeTempDirs, tempDir } from '../helpers/temp-dir';

const queue = uniqueQueue('threads');
const memoryQueue = uniqueQueue('threads-memory');
const window = parseWindow('2026-11-20');
const ROWS = 30_000;

/** A definition file as users write them: the worker's threads load it to run the row transform. */
const DEFINITION = `
import { isMainThread } from 'node:worker_threads';
import { definePipeline, postgres } from ${JSON.stringify(resolve(__dirname, '../../index'))};

export const threaded = definePipeline({
  name: 'threaded_orders',
  taskQueue: ${JSON.stringify(queue)},
  extract: postgres.query({
    connection: 'warehouse',
    sql: \`SELECT g AS id, $windowStart::timestamptz AS at, 'order ' || g AS label FROM generate_series(1, ${ROWS}) g\`,
  }),
  transformRow: (row) => ({ id: row.id, at: row.at, label: String(row.label).toUpperCase(), main: isMainThread }),
  transformThreads: 2,
  load: postgres.replace({ connection: 'warehouse', table: 'public.threaded', windowColumn: 'at' }),
});
`;

/** The same pipeline defined in memory: no file for a thread to load, so its transform runs on the worker's thread. */
const inMemory = definePipeline({
  name: 'in_memory_orders',
  taskQueue: memoryQueue,
  extract: postgres.query({
    connection: 'warehouse',
    sql: `SELECT g AS id, $windowStart::timestamptz AS at, 'order ' || g AS label FROM generate_series(1, ${ROWS}) g`,
  }),
  transformRow: (row) => ({ id: row.id, at: row.at, label: String(row.label).toUpperCase(), main: isMainThread }),
  transformThreads: 2,
  load: postgres.replace({ connection: 'warehouse', table: 'public.in_memory', windowColumn: 'at' }),
});

let db: Pool;
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;
let workerOfMemory: Awaited<ReturnType<typeof startTestWorker>>;
const dir = tempDir('pipectl-threads-');

beforeAll(async () => {
  const url = await createTestDatabase('threads');
  db = poolFor(url);
  for (const table of ['threaded', 'in_memory']) {
    await db.query(
      `CREATE TABLE public.${table} (id int PRIMARY KEY, at timestamptz NOT NULL, label text, main boolean)`,
    );
  }
  writeFileSync(join(dir, 'orders.ts'), DEFINITION);
  const report = readCatalog(dir);
  expect(report.issues).toEqual([]);
  client = await testClient();
  // Small inline limit: the 30,000 rows are staged, so the transform has chunks to spread.
  const common = { connections: { warehouse: url, pipectl: url }, inlineLimitBytes: 64 * 1024 };
  worker = await startTestWorker({ ...common, taskQueue: queue, catalog: report.catalog });
  workerOfMemory = await startTestWorker({ ...common, taskQueue: memoryQueue, catalog: catalogOf([inMemory]) });
});

afterAll(async () => {
  await worker?.stop();
  await workerOfMemory?.stop();
  await db?.end();
  await client?.connection.close();
  removeTempDirs();
});

async function runAndCheck(name: string, table: string): Promise<{ main: boolean; n: string }[]> {
  const memory = name === inMemory.name;
  const catalog = memory ? catalogOf([inMemory]) : readCatalog(dir).catalog;
  const handle = await startPipelineRun(
    client,
    catalog.pipelines.get(name)!.spec,
    window,
    'manual',
    memory ? memoryQueue : queue,
  );
  const result = await handle.result();
  expect(result.rowsLoaded).toBe(ROWS);
  const rows = await db.query<{ n: string; labels: string }>(
    `SELECT count(*) AS n, count(*) FILTER (WHERE label = 'ORDER ' || id) AS labels FROM public.${table}`,
  );
  expect(rows.rows[0]).toEqual({ n: String(ROWS), labels: String(ROWS) });
  const staged = await db.query('SELECT to_regclass($1) AS t', [stagedTableOf(pipelineWorkflowId(name, window))]);
  expect(staged.rows[0].t).toBeNull();
  return (await db.query<{ main: boolean; n: string }>(`SELECT main, count(*) AS n FROM public.${table} GROUP BY main`))
    .rows;
}

test('a worker runs a transformRow of a definition file on its threads, and the run loads every row', async () => {
  expect(await runAndCheck('threaded_orders', 'threaded')).toEqual([{ main: false, n: String(ROWS) }]);
}, 120_000);

test('a pipeline defined in memory keeps its transform on the worker thread', async () => {
  expect(await runAndCheck('in_memory_orders', 'in_memory')).toEqual([{ main: true, n: String(ROWS) }]);
}, 120_000);
