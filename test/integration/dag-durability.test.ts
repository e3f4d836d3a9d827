import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CancelledFailure, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Client as PgClient, type Pool } from 'pg';
import { readCatalog } from '../../catalog/load';
import { buildDagInput, startDagRun } from '../../cli/dag';
import { awaitDagRun, readDagState } from '../../cli/dag-state';
import { expandDagState, type DagRunState } from '../../core/dag-input';
import { pipelineWorkflowId } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import { definePipeline, type PipelineDefinition } from '../../index';
import { dagStateQuery, progressQuery } from '../../workflows/definitions';
import { TABLES, WINDOW_ROWS } from '../fixtures/dag-crash/orders';
import { catalogOf } from '../helpers/catalog';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { exited, ROOT, spawnWorker } from '../helpers/spawn';
import { startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';

const cancelQueue = uniqueQueue('dag-cancel');
const crashQueue = uniqueQueue('dag-crash');
const crashDir = join(ROOT, 'test', 'fixtures', 'dag-crash');
/** Advisory lock the test holds to stop order_facts' load mid-transaction (a trigger on its table waits for it). */
const GATE_KEY = 4242;

/** Extracts of the cancel test: which started, which saw the abort, how many have not returned yet. */
const extracts = { started: new Set<string>(), aborted: new Set<string>(), inFlight: 0 };

/** A pipeline whose extract runs until its run is cancelled, then throws the cancellation, as a good step does. */
function runsUntilCancelled(name: string, dependsOn: string[] = []): PipelineDefinition {
  return definePipeline({
    name,
    dependsOn,
    taskQueue: cancelQueue,
    retry: { maximumAttempts: 1 },
    // A step learns of a cancellation from its heartbeats: a short timeout makes them frequent.
    timeouts: { heartbeat: '3s' },
    extract: async ({ signal }) => {
      extracts.started.add(name);
      extracts.inFlight++;
      try {
        return await new Promise<never>((_, reject) => {
          const abort = () => {
            extracts.aborted.add(name);
            reject(signal.reason as Error);
          };
          if (signal.aborted) abort();
          else signal.addEventListener('abort', abort, { once: true });
        });
      } finally {
        extracts.inFlight--;
      }
    },
    load: (rows) => rows.length,
  });
}

const cancelCatalog = catalogOf([
  runsUntilCancelled('cancel_a'),
  runsUntilCancelled('cancel_a_down', ['cancel_a']),
  runsUntilCancelled('cancel_b'),
  runsUntilCancelled('cancel_c'),
]);

let client: Client;
let url: string;
let db: Pool;
let worker: Awaited<ReturnType<typeof startTestWorker>> | undefined;
const workers: ChildProcess[] = [];
let gate: PgClient | undefined;

beforeAll(async () => {
  url = await createTestDatabase('dagdur');
  db = poolFor(url);
  for (const t of TABLES) {
    const id = t.mode === 'upsert' ? 'id int PRIMARY KEY' : 'id int NOT NULL';
    await db.query(`CREATE TABLE public.${t.name} (${id}, at timestamptz NOT NULL, value int NOT NULL)`);
  }
  await db.query(`CREATE FUNCTION public.wait_at_gate() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN PERFORM pg_advisory_xact_lock_shared(${GATE_KEY}); RETURN NULL; END $$`);
  await db.query(`CREATE TRIGGER order_facts_gate AFTER INSERT ON public.order_facts
                  FOR EACH STATEMENT EXECUTE FUNCTION public.wait_at_gate()`);
  client = await testClient();
  worker = await startTestWorker({ catalog: cancelCatalog, taskQueue: cancelQueue, connections: { pipectl: url } });
});

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  await gate?.end().catch(() => undefined);
  await worker?.stop();
  await db?.end();
  await client?.connection.close();
});

async function until<T>(what: string, fn: () => Promise<T | undefined>, everyMs = 100, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const states = (s: DagRunState) => Object.fromEntries(Object.entries(s.nodes).map(([n, v]) => [n, v.state]));

test('cancelling a DAG run cancels its running pipelines, whose steps see the abort, and the rest', async () => {
  const window = parseWindow('2026-12-02');
  const names = ['cancel_a', 'cancel_a_down', 'cancel_b', 'cancel_c'];
  const input = buildDagInput(cancelCatalog, names, window, 'manual', cancelQueue, { maxParallel: 2 });
  const handle = await startDagRun(client, input, cancelQueue, { explicitList: true });

  // Two pipelines run (maxParallel 2), their extracts in progress; a third root and a downstream wait.
  const before = await until('two extracts to be running', async () =>
    extracts.started.size === 2 ? expandDagState(await handle.query(dagStateQuery)) : undefined,
  );
  const running = names.filter((n) => before.nodes[n]!.state === 'running');
  expect(running).toEqual([...extracts.started].sort());
  const notStarted = names.filter((n) => !running.includes(n));
  expect(notStarted.map((n) => before.nodes[n]!.state)).toEqual(['pending', 'pending']);

  await handle.cancel();
  const closed = await handle.result().catch((err: unknown) => err);
  expect(closed).toBeInstanceOf(WorkflowFailedError);
  expect((closed as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  expect((await handle.describe()).status.name).toBe('CANCELLED');

  const after = await readDagState(handle, false);
  expect(after.status).toBe('cancelled');
  expect(states(after)).toEqual(Object.fromEntries(names.map((n) => [n, 'cancelled'])));
  for (const n of running) {
    expect(after.nodes[n]).toMatchObject({ attempts: 1, workflowId: pipelineWorkflowId(n, window) });
    expect(after.nodes[n]!.finishedAt).toBeDefined();
    const child = await client.workflow.getHandle(pipelineWorkflowId(n, window)).describe();
    expect(child.status.name).toBe('CANCELLED');
  }
  for (const n of notStarted) {
    expect(after.nodes[n]).toMatchObject({ attempts: 0 });
    expect(after.nodes[n]!.startedAt).toBeUndefined();
    await expect(client.workflow.getHandle(pipelineWorkflowId(n, window)).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
  }
  // The DAG run closed only once its children had, and they only once their steps returned: nothing runs on.
  expect([...extracts.aborted].sort()).toEqual(running);
  expect([...extracts.started].sort()).toEqual(running);
  expect(extracts.inFlight).toBe(0);
});

test('a worker SIGKILLed mid-DAG, in a load and as a load commits, is replaced; every load happens once', async () => {
  const { catalog, issues } = readCatalog(crashDir);
  expect(issues).toEqual([]);
  const window = parseWindow('2026-12-01');
  const env = {
    PIPECTL_TASK_QUEUE: crashQueue,
    PIPECTL_CONNECTION_WAREHOUSE: url,
    PIPECTL_CONNECTION_PIPECTL: url,
    // Staged step data: what survives a crash lives in PostgreSQL, not in the worker.
    PIPECTL_INLINE_LIMIT_BYTES: String(64 * 1024),
  };
  const startWorker = async () => {
    const w = await spawnWorker(['--dir', crashDir], env);
    workers.push(w);
    return w;
  };
  const kill = async (w: ChildProcess) => {
    w.kill('SIGKILL');
    await exited(w);
  };
  gate = new PgClient({ connectionString: url });
  await gate.connect();
  await gate.query('SELECT pg_advisory_lock($1)', [GATE_KEY]);

  const first = await startWorker();
  const input = buildDagInput(
    catalog,
    TABLES.map((t) => t.name),
    window,
    'manual',
    crashQueue,
  );
  const handle = await startDagRun(client, input, crashQueue, { explicitList: true });

  // First kill: order_facts' load has copied its rows and inserted them, uncommitted, and waits at the gate.
  await until('order_facts to be loading', async () => {
    const waiting = await db.query(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'
          AND query LIKE 'INSERT INTO "public"."order_facts"%'`,
    );
    return waiting.rows[0] as unknown;
  });
  const mid = expandDagState(await handle.query(dagStateQuery));
  expect(states(mid)).toMatchObject({
    raw_orders: 'succeeded',
    clean_orders: 'succeeded',
    order_facts: 'running',
    daily_revenue: 'pending',
    revenue_report: 'pending',
  });
  const facts = client.workflow.getHandle(pipelineWorkflowId('order_facts', window));
  expect(await facts.query(progressQuery)).toMatchObject({
    current: 'load',
    steps: { extract: { state: 'succeeded' } },
  });
  await kill(first);
  // The killed worker's transaction never commits: once past the gate, it finds its client gone and rolls back.
  await gate.query('SELECT pg_advisory_unlock($1)', [GATE_KEY]);

  // Second kill: the moment order_facts' retried load commits, as its pipeline run ends and daily_revenue's is due.
  const second = await startWorker();
  await until(
    'order_facts to commit its load',
    async () => (await db.query(`SELECT 1 FROM pipectl.load_ledger WHERE pipeline = 'order_facts'`)).rows[0] as unknown,
    20,
  );
  await kill(second);

  const third = await startWorker();
  const result = await awaitDagRun(handle);
  third.kill('SIGTERM');
  expect(await exited(third)).toBe(0);

  // Every pipeline ran as one child run that succeeded; order_facts' load ran again after the first kill.
  expect(result.status).toBe('succeeded');
  for (const t of TABLES) {
    expect(result.nodes[t.name]).toMatchObject({ state: 'succeeded', attempts: 1, rowsLoaded: WINDOW_ROWS });
  }
  expect(await succeededLoadAttempt(pipelineWorkflowId('order_facts', window))).toBeGreaterThanOrEqual(2);

  // Exactly once: one ledger row a pipeline for the window, and every table holds each row once, derived whole.
  const ledger = await db.query(
    `SELECT pipeline, count(*)::int AS loads, min(rows)::int AS rows FROM pipectl.load_ledger
      WHERE window_start = $1 GROUP BY pipeline ORDER BY pipeline`,
    [window.start],
  );
  expect(ledger.rows).toEqual(
    TABLES.map((t) => ({ pipeline: t.name, loads: 1, rows: WINDOW_ROWS })).sort((a, b) =>
      a.pipeline.localeCompare(b.pipeline),
    ),
  );
  for (const t of TABLES) {
    const counts = await db.query(
      `SELECT count(*)::int AS rows, count(DISTINCT t.id)::int AS ids,
              count(*) FILTER (WHERE t.value = r.value + $1)::int AS derived
         FROM public.${t.name} t LEFT JOIN public.raw_orders r USING (id)`,
      [t.depth],
    );
    expect({ table: t.name, ...counts.rows[0] }).toEqual({
      table: t.name,
      rows: WINDOW_ROWS,
      ids: WINDOW_ROWS,
      derived: WINDOW_ROWS,
    });
  }
});

/** Which attempt of a pipeline run's load succeeded, from the run's history. */
async function succeededLoadAttempt(workflowId: string): Promise<number> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'loadRows');
  const started = events.find(
    (e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled?.eventId?.toString(),
  );
  return started?.activityTaskStartedEventAttributes?.attempt ?? 0;
}
