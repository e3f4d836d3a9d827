import type { ChildProcess } from 'node:child_process';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { readCatalog } from '../../catalog/load';
import { startPipelineRun } from '../../cli/runs';
import { parseWindow } from '../../core/window';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { exited, ROOT, spawnWorker } from '../helpers/spawn';
import { testClient, uniqueQueue } from '../helpers/temporal';
import { join } from 'node:path';

const dir = join(ROOT, 'test', 'fixtures', 'crash');
const queue = uniqueQueue('crash');
let url: string;
let db: Pool;
let client: Client;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  url = await createTestDatabase('crash');
  db = poolFor(url);
  await db.query('CREATE TABLE public.copied (id int PRIMARY KEY, at timestamptz NOT NULL, payload text NOT NULL)');
  await db.query('CREATE TABLE public.attempts (step text, attempt int, pid int, at timestamptz DEFAULT now())');
  client = await testClient();
});

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  await db?.end();
  await client?.connection.close();
});

const workerEnv = () => ({
  PIPECTL_TASK_QUEUE: queue,
  PIPECTL_CONNECTION_WAREHOUSE: url,
  PIPECTL_CONNECTION_PIPECTL: url,
  PIPECTL_INLINE_LIMIT_BYTES: String(64 * 1024),
});

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('a worker killed with SIGKILL mid-run is replaced and the run completes with every row loaded once', async () => {
  const { catalog, issues } = readCatalog(dir);
  expect(issues).toEqual([]);
  const spec = catalog.pipelines.get('slow_copy')!.spec;

  const first = await spawnWorker(['--dir', dir], workerEnv());
  workers.push(first);
  const handle = await startPipelineRun(client, spec, parseWindow('2026-11-20'), 'manual', queue);

  // Kill the worker while the transform (after a staged extract) is in the middle of its work.
  await until('the transform to start', async () => {
    const r = await db.query('SELECT pid FROM public.attempts');
    return r.rowCount ? r.rows[0] : undefined;
  });
  first.kill('SIGKILL');
  await exited(first);

  const second = await spawnWorker(['--dir', dir], workerEnv());
  workers.push(second);
  const result = await handle.result();
  second.kill('SIGTERM');
  expect(await exited(second)).toBe(0);

  expect(result.rowsLoaded).toBe(20000);
  const attempts = await db.query<{ pid: number }>('SELECT pid FROM public.attempts ORDER BY at');
  expect(attempts.rowCount).toBeGreaterThanOrEqual(2);
  expect(attempts.rows[0]!.pid).toBe(first.pid);
  expect(attempts.rows[attempts.rows.length - 1]!.pid).toBe(second.pid);
  const copied = await db.query('SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM public.copied');
  expect(copied.rows[0]).toEqual({ n: 20000, ids: 20000 });
  const ledger = await db.query('SELECT rows FROM pipectl.load_ledger WHERE workflow_id = $1', [handle.workflowId]);
  expect(ledger.rows).toEqual([{ rows: '20000' }]);
});
