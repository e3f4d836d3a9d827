import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { Pool } from 'pg';
import { readCatalog, type Catalog } from '../../catalog/load';
import { buildDagInput, startDagRun } from '../../cli/dag';
import { awaitDagRun } from '../../cli/dag-state';
import { pipelineWorkflowId } from '../../core/run-input';
import { parseWindow, type Window } from '../../core/window';
import { SEARCH_ATTRIBUTES } from '../../temporal-config/search-attributes';
import { readSettings } from '../../temporal-config/settings';
import {
  startStack,
  stopStack,
  stopStackServer,
  waitForStackProcessExit,
  type Stack,
  type StackPorts,
  type StackStartOptions,
} from '../../temporal-config/stack';
import { stackPostgresUrl } from '../../temporal-config/stack-postgres';
import { findTemporalCli } from '../../temporal-config/temporal-cli';
import { findTemporalServer } from '../../temporal-config/temporal-server';
import { TABLES, WINDOW_ROWS } from '../fixtures/stack/warehouse';
import { freePort } from '../helpers/ports';
import { ROOT, runCli } from '../helpers/spawn';
import { uniqueQueue } from '../helpers/temporal';

/**
 * The production topology from plain processes — PostgreSQL, the Temporal server built from its Go module with its
 * schema set up by temporal-sql-tool, and two `pipectl worker` processes — started by the code `pipectl stack up`
 * runs, in a temporary folder on free ports. Pipeline runs must survive a killed worker and a restarted server.
 */

const fixtures = join(ROOT, 'test', 'fixtures', 'stack');
const queue = uniqueQueue('stack');
const log = (line: string) => process.stderr.write(`[stack] ${line}\n`);
let options: StackStartOptions;
let stack: Stack;
let catalog: Catalog;
let client: Client;
let db: Pool;

/** True when `port` can be listened on at 127.0.0.1 right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Six free ports from the system, and four free membership ports at most 32767 (Temporal stores them as smallint). */
async function stackPorts(): Promise<StackPorts> {
  const ports = new Set<number>();
  while (ports.size < 6) ports.add(await freePort());
  while (ports.size < 10) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    if (!ports.has(candidate) && (await canListen(candidate))) ports.add(candidate);
  }
  const [postgres, frontend, http, history, matching, worker, fm, hm, mm, wm] = [...ports] as number[];
  return {
    postgres: postgres!,
    frontend: frontend!,
    http: http!,
    history: history!,
    matching: matching!,
    worker: worker!,
    frontendMembership: fm!,
    historyMembership: hm!,
    matchingMembership: mm!,
    workerMembership: wm!,
  };
}

beforeAll(async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'pipectl-stack-'));
  // PostgreSQL runs as its own user when the tests run as root: it must be able to reach its data folder.
  chmodSync(stateDir, 0o755);
  options = {
    stateDir,
    cacheDir: readSettings().cacheDir,
    namespace: 'pipectl-stack',
    workers: 2,
    pipelinesDir: fixtures,
    taskQueue: queue,
    ports: await stackPorts(),
    log,
  };
  const report = readCatalog(fixtures);
  expect(report.issues).toEqual([]);
  catalog = report.catalog;
  // The first start may build the Temporal server from its Go module (minutes, once; CI builds it beforehand).
  stack = await startStack(options);
  db = new Pool({ connectionString: stackPostgresUrl(stack.config.ports.postgres, 'warehouse') });
  // The last test stops PostgreSQL under the pool: its idle connections end, which is no error here.
  db.on('error', () => undefined);
  for (const t of TABLES) {
    const id = t.mode === 'upsert' ? 'id int PRIMARY KEY' : 'id int NOT NULL';
    await db.query(`CREATE TABLE public.${t.name} (${id}, at timestamptz NOT NULL, value int NOT NULL)`);
  }
  await db.query(`CREATE TABLE public.step_log (id serial PRIMARY KEY, pipeline text, window_start timestamptz,
                  attempt int, pid int, finished_at timestamptz)`);
  client = new Client({
    connection: await Connection.connect({ address: stack.address }),
    namespace: stack.config.namespace,
  });
}, 45 * 60_000);

afterAll(async () => {
  await client?.connection.close();
  await db?.end();
  if (options) {
    await stopStack(options.stateDir, { graceMs: 5_000, log });
    if (!process.env.PIPECTL_KEEP_STACK) rmSync(options.stateDir, { recursive: true, force: true });
  }
}, 120_000);

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function startDag(window: Window): Promise<WorkflowHandle> {
  const input = buildDagInput(
    catalog,
    TABLES.map((t) => t.name),
    window,
    'manual',
    queue,
  );
  return startDagRun(client, input, queue, { explicitList: true });
}

/** A transform of `window` in progress now: which pipeline, in which worker process. */
function stepInProgress(window: Window): Promise<{ pipeline: string; pid: number }> {
  return until(`a transform of ${window.start} to be running`, async () => {
    const r = await db.query<{ pipeline: string; pid: number }>(
      'SELECT pipeline, pid FROM public.step_log WHERE window_start = $1 AND finished_at IS NULL ORDER BY id LIMIT 1',
      [window.start],
    );
    return r.rows[0];
  });
}

const attributeNames = SEARCH_ATTRIBUTES.map((a) => a.name);

/** Names of the custom search attributes of a namespace on the stack. */
async function customAttributes(namespace: string): Promise<string[]> {
  const listed = await client.connection.operatorService.listSearchAttributes({ namespace });
  return Object.keys(listed.customAttributes ?? {});
}

/** How many hops a table's rows made from a root table, each adding 1 to `value`. */
function depth(name: string): number {
  const t = TABLES.find((x) => x.name === name)!;
  const first = t.upstream[0];
  return first ? depth(first) + 1 : 0;
}

/** Every pipeline succeeded once for the window, and every table holds the window's rows exactly once. */
async function expectLoadedOnce(handle: WorkflowHandle, window: Window): Promise<void> {
  const result = await awaitDagRun(handle as Parameters<typeof awaitDagRun>[0]);
  expect(result.status).toBe('succeeded');
  for (const t of TABLES) expect(result.nodes[t.name]).toMatchObject({ state: 'succeeded', rowsLoaded: WINDOW_ROWS });
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
      `SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids,
              count(*) FILTER (WHERE value = (id % 100000) % 97 + $3)::int AS derived
         FROM public.${t.name} WHERE at >= $1 AND at < $2`,
      [window.start, window.end, depth(t.name)],
    );
    expect({ table: t.name, ...counts.rows[0] }).toEqual({
      table: t.name,
      rows: WINDOW_ROWS,
      ids: WINDOW_ROWS,
      derived: WINDOW_ROWS,
    });
  }
}

/** Identities of the workers that ran each pipeline run's steps, from the runs' histories. */
async function stepIdentities(window: Window): Promise<Set<string>> {
  const identities = new Set<string>();
  for (const t of TABLES) {
    const history = await client.workflow.getHandle(pipelineWorkflowId(t.name, window)).fetchHistory();
    for (const e of history.events ?? []) {
      const identity = e.activityTaskStartedEventAttributes?.identity;
      if (identity) identities.add(identity);
    }
  }
  return identities;
}

test('the stack runs the namespace, the search attributes and two polling workers', async () => {
  expect(stack.workers.map((w) => w.index)).toEqual([1, 2]);
  const pollers = await client.workflowService.describeTaskQueue({
    namespace: stack.config.namespace,
    taskQueue: { name: queue },
    taskQueueType: 2, // activity
  });
  const pids = new Set(pollers.pollers?.map((p) => Number(p.identity?.split('@')[0])));
  expect([...pids].sort()).toEqual(stack.workers.map((w) => w.pid).sort());
  expect(await customAttributes(stack.config.namespace)).toEqual(expect.arrayContaining(attributeNames));
});

test("the server accepts the stack's dynamic config, and docker-compose's namespace script works against it", async () => {
  const binaries = findTemporalServer(options.cacheDir)!;
  const dynamicConfig = join(ROOT, 'temporal-config', 'stack-config', 'dynamic-config.yaml');
  const validated = spawnSync(binaries.server, ['validate-dynamic-config', dynamicConfig], { encoding: 'utf8' });
  expect({ status: validated.status, output: validated.stdout.trim() }).toEqual({ status: 0, output: dynamicConfig });

  // The temporal-namespace service of docker-compose.yml runs this script with the admin-tools image's CLI.
  const cli = findTemporalCli(options.cacheDir)!;
  const script = join(ROOT, 'temporal-config', 'stack-config', 'create-namespace.sh');
  const env = {
    ...process.env,
    TEMPORAL_CLI: cli.path,
    TEMPORAL_ADDRESS: stack.address,
    TEMPORAL_NAMESPACE: 'compose',
  };
  for (let run = 1; run <= 2; run++) {
    const created = spawnSync('sh', [script], { env, encoding: 'utf8', timeout: 180_000 });
    // (A first try may be refused while the server learns of the new namespace: the script retries it.)
    expect({ run, status: created.status, ready: created.stdout.includes('namespace compose ready') }).toEqual({
      run,
      status: 0,
      ready: true,
    });
  }
  expect(await customAttributes('compose')).toEqual(expect.arrayContaining(attributeNames));
});

test('a DAG run of ten pipelines spreads its steps over both workers and loads every table once', async () => {
  const window = parseWindow('2026-03-01');
  const handle = await startDag(window);
  await expectLoadedOnce(handle, window);
  const identities = await stepIdentities(window);
  const workerIdentities = [...identities].map((i) => Number(i.split('@')[0]));
  expect(new Set(workerIdentities).size).toBeGreaterThanOrEqual(2);
  for (const pid of workerIdentities) expect(stack.workers.map((w) => w.pid)).toContain(pid);
  // The run is findable by pipeline in the stack's SQL visibility store.
  const found = await until('the run to be visible', async () => {
    const runs = [];
    for await (const w of client.workflow.list({
      query: `PipelineName = "daily_revenue" AND WorkflowId = "${pipelineWorkflowId('daily_revenue', window)}"`,
    }))
      runs.push(w.workflowId);
    return runs.length ? runs : undefined;
  });
  expect(found).toEqual([pipelineWorkflowId('daily_revenue', window)]);
});

test('a worker SIGKILLed mid-run: every run completes on the other worker, each load once', async () => {
  const window = parseWindow('2026-03-02');
  const handle = await startDag(window);
  const victim = await stepInProgress(window);
  const survivor = stack.workers.find((w) => w.pid !== victim.pid)!;
  expect(stack.workers.map((w) => w.pid)).toContain(victim.pid);
  process.kill(victim.pid, 'SIGKILL');
  expect(await waitForStackProcessExit(victim.pid)).toBe(true);

  await expectLoadedOnce(handle, window);
  // The killed step ran again, in the surviving worker.
  const retried = await db.query<{ pid: number }>(
    'SELECT pid FROM public.step_log WHERE window_start = $1 AND pipeline = $2 AND finished_at IS NOT NULL',
    [window.start, victim.pipeline],
  );
  expect(retried.rows).toEqual([{ pid: survivor.pid }]);

  // Starting the stack again replaces the dead worker and leaves the rest alone.
  const again = await startStack(options);
  expect(again.started).toEqual({
    postgres: false,
    server: false,
    workers: [stack.workers.find((w) => w.pid === victim.pid)!.index],
  });
  expect(again.workers.find((w) => w.index === survivor.index)?.pid).toBe(survivor.pid);
  stack = again;
});

for (const [how, graceMs] of [
  ['SIGKILLed', 0],
  ['stopped with SIGTERM', 30_000],
] as const) {
  test(`the Temporal server ${how} mid-run and started again: runs in flight complete, each load once`, async () => {
    const windows = how === 'SIGKILLed' ? ['2026-03-03', '2026-03-04'] : ['2026-03-05', '2026-03-06'];
    const runs = await Promise.all(
      windows.map(async (w) => {
        const window = parseWindow(w);
        return { window, handle: await startDag(window) };
      }),
    );
    await stepInProgress(runs[0]!.window);
    expect(await stopStackServer(options.stateDir, graceMs)).toBe(true);

    const restarted = await startStack(options);
    expect(restarted.started).toEqual({ postgres: false, server: true, workers: [] });
    expect(restarted.workers.map((w) => w.pid)).toEqual(stack.workers.map((w) => w.pid));
    for (const { window, handle } of runs) await expectLoadedOnce(handle, window);
  });
}

test('pipectl stack status, up and down act on the running stack; down is idempotent', async () => {
  const dir = ['--state-dir', options.stateDir];
  const status = await runCli(['stack', 'status', '--json', ...dir]);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({ allRunning: true, config: { namespace: 'pipectl-stack' } });

  const up = await runCli(['stack', 'up', ...dir]);
  expect(up.code).toBe(0);
  expect(up.stdout).toContain('A stack is already running');
  expect(up.stdout).toContain(stack.address);

  const down = await runCli(['stack', 'down', '--grace', '10s', ...dir]);
  expect(down.code).toBe(0);
  expect(down.stdout).toContain('Stack stopped');
  for (const pid of [stack.serverPid, stack.postgresPid, ...stack.workers.map((w) => w.pid)]) {
    expect(await waitForStackProcessExit(pid, 1_000)).toBe(true);
  }
  const again = await runCli(['stack', 'down', ...dir]);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('No stack is running');
  const stopped = await runCli(['stack', 'status', ...dir]);
  expect(stopped.code).toBe(2);
  expect(stopped.stdout).toContain('0 of 2 running');
});
