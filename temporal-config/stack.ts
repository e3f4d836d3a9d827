import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { z } from 'zod';
import { readCatalog } from '../catalog/load';
import { connectionEnvVar } from '../core/identifiers';
import { connectionsUsed } from '../workers/connections';
import { packageRoot } from '../workers/package-root';
import { isTemporalServer, portInUse, registerSearchAttributes } from './dev-server';
import { SEARCH_ATTRIBUTES } from './search-attributes';
import {
  ensureDatabase,
  stackPostgresPid,
  startStackPostgres,
  stopStackPostgres,
  STACK_PG_PASSWORD,
  STACK_PG_USER,
  stackPostgresUrl,
  type StackPostgresFiles,
} from './stack-postgres';
import {
  fileSize,
  logSince,
  logTail,
  readPidFile,
  runningPid,
  runToLog,
  startDaemon,
  stopPidFile,
  waitForExit,
} from './stack-processes';
import { ensureTemporalServer, TEMPORAL_SERVER_VERSION } from './temporal-server';

const port = z.number().int().min(1).max(65535);
/** Temporal records each host's membership port in a SMALLINT column (`cluster_membership.rpc_port`). */
const membershipPort = port.max(
  32767,
  'a membership port must be at most 32767 (Temporal stores it as a SQL smallint)',
);

/** Every port the stack listens on (all on 127.0.0.1). */
export const StackPorts = z.object({
  /** PostgreSQL (Temporal's databases and the pipelines' connections). */
  postgres: port,
  /** Temporal frontend gRPC: the address clients and workers use. */
  frontend: port,
  /** Temporal frontend HTTP API. */
  http: port,
  /** gRPC of the history, matching and worker services (internal). */
  history: port,
  matching: port,
  worker: port,
  /** Membership (ringpop) port of each service (internal). */
  frontendMembership: membershipPort,
  historyMembership: membershipPort,
  matchingMembership: membershipPort,
  workerMembership: membershipPort,
});
export type StackPorts = z.infer<typeof StackPorts>;

/** What a stack runs; recorded in `<stateDir>/stack.json` so later commands act on the same stack. */
export const StackConfig = z.object({
  /** Folder of data, logs and pid files. */
  stateDir: z.string().min(1),
  /** Temporal namespace created at start, which the workers serve. */
  namespace: z.string().min(1),
  /** Number of `pipectl worker` processes. */
  workers: z.number().int().min(0).max(64),
  /** Folder of the pipeline definitions the workers load. */
  pipelinesDir: z.string().min(1),
  /** Task queue the workers serve, when not the default (`PIPECTL_TASK_QUEUE`, `pipectl`). */
  taskQueue: z.string().optional(),
  ports: StackPorts,
});
export type StackConfig = z.infer<typeof StackConfig>;

/** Temporal's own ports for a frontend on `frontend` (7233 gives Temporal's defaults), PostgreSQL on `postgres`. */
export function defaultStackPorts(frontend = 7233, postgres = 55433): StackPorts {
  const at = (offset: number) => frontend + offset;
  return {
    postgres,
    frontend,
    http: at(10),
    history: at(1),
    matching: at(2),
    worker: at(6),
    frontendMembership: at(-300),
    historyMembership: at(-299),
    matchingMembership: at(-298),
    workerMembership: at(-294),
  };
}

/** Where a stack keeps things, under its state folder. */
export function stackPaths(stateDir: string) {
  const logs = join(stateDir, 'logs');
  const pids = join(stateDir, 'pids');
  return {
    config: join(stateDir, 'stack.json'),
    logs,
    pids,
    files: join(stateDir, 'files'),
    postgres: {
      dataDir: join(stateDir, 'postgres'),
      logFile: join(logs, 'postgres.log'),
      pidFile: join(pids, 'postgres.pid'),
    } satisfies StackPostgresFiles,
    server: { logFile: join(logs, 'temporal-server.log'), pidFile: join(pids, 'temporal-server.pid') },
    worker: (index: number) => ({
      logFile: join(logs, `worker-${index}.log`),
      pidFile: join(pids, `worker-${index}.pid`),
    }),
  };
}

/** Reads a stack's recorded configuration, or `undefined` when none was started in `stateDir`. */
export function readStackConfig(stateDir: string): StackConfig | undefined {
  const file = stackPaths(stateDir).config;
  if (!existsSync(file)) return undefined;
  const parsed = StackConfig.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(
      `${file} is not a stack configuration (${parsed.error.issues[0]?.message}); remove it to start over`,
    );
  }
  return parsed.data;
}

/** How to start a stack; what is not given comes from the recorded configuration, then from defaults. */
export interface StackStartOptions {
  stateDir: string;
  /** Cache folder where the Temporal server is built once. */
  cacheDir: string;
  namespace?: string;
  workers?: number;
  pipelinesDir?: string;
  taskQueue?: string;
  ports?: Partial<StackPorts>;
  /** Environment of the workers (default: this process's), e.g. `PIPECTL_CONNECTION_<NAME>` for outside databases. */
  env?: NodeJS.ProcessEnv;
  /** Progress lines for the user. */
  log: (line: string) => void;
}

/** One `pipectl worker` process of a stack. */
export interface StackWorker {
  index: number;
  pid: number;
  logFile: string;
}

/** A running stack: where to reach it and what runs. */
export interface Stack {
  config: StackConfig;
  /** `127.0.0.1:<frontend port>`: TEMPORAL_ADDRESS for clients. */
  address: string;
  /** PostgreSQL URL without a database. */
  postgresUrl: string;
  postgresPid: number;
  serverPid: number;
  workers: StackWorker[];
  logsDir: string;
  /** What this call started (the rest was already running). */
  started: { postgres: boolean; server: boolean; workers: number[] };
  /** Workers this call stopped because fewer were asked for. */
  stoppedWorkers: number[];
}

const SERVER_PROCESS = 'temporal-server';
const WORKER_PROCESS = 'pipectl.js';

function address(config: StackConfig): string {
  return `127.0.0.1:${config.ports.frontend}`;
}

/** Indexes of workers with a pid file in the state folder. */
function workerIndexes(stateDir: string): number[] {
  const pids = stackPaths(stateDir).pids;
  if (!existsSync(pids)) return [];
  return readdirSync(pids)
    .map((f) => /^worker-(\d+)\.pid$/.exec(f)?.[1])
    .filter((i): i is string => i !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The pid of each component that runs now. */
export function stackProcesses(stateDir: string): {
  postgres?: number;
  server?: number;
  workers: { index: number; pid: number }[];
} {
  const paths = stackPaths(stateDir);
  const postgres = stackPostgresPid(paths.postgres);
  const server = runningPid(paths.server.pidFile, SERVER_PROCESS);
  const workers = workerIndexes(stateDir)
    .map((index) => ({ index, pid: runningPid(paths.worker(index).pidFile, WORKER_PROCESS) }))
    .filter((w): w is { index: number; pid: number } => w.pid !== undefined);
  return {
    ...(postgres !== undefined ? { postgres } : {}),
    ...(server !== undefined ? { server } : {}),
    workers,
  };
}

function resolveConfig(options: StackStartOptions, recorded: StackConfig | undefined): StackConfig {
  const frontend = options.ports?.frontend ?? recorded?.ports.frontend ?? 7233;
  const pg = options.ports?.postgres ?? recorded?.ports.postgres ?? 55433;
  // Ports derived from the frontend's unless recorded (and the frontend is unchanged) or given.
  const base =
    recorded && recorded.ports.frontend === frontend
      ? { ...recorded.ports, postgres: pg }
      : defaultStackPorts(frontend, pg);
  const taskQueue = options.taskQueue ?? recorded?.taskQueue;
  const parsed = StackConfig.safeParse({
    stateDir: resolve(options.stateDir),
    namespace: options.namespace ?? recorded?.namespace ?? 'default',
    workers: options.workers ?? recorded?.workers ?? 2,
    pipelinesDir: resolve(options.pipelinesDir ?? recorded?.pipelinesDir ?? 'pipelines'),
    ...(taskQueue ? { taskQueue } : {}),
    ports: { ...base, ...options.ports },
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`stack option ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** Refuses to bind a port something else holds, naming it and the option that moves it. */
async function ensurePortsFree(what: string, ports: [string, number][]): Promise<void> {
  for (const [name, p] of ports) {
    if (await portInUse(p)) {
      throw new Error(
        `port ${p} (${what} ${name}) is in use by another program: stop it, or start the stack on other ports ` +
          '(pipectl stack up --port <frontend port> --postgres-port <port>)',
      );
    }
  }
}

async function until(what: string, check: () => Promise<boolean>, failed: () => string | undefined, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const why = failed();
    if (why) throw new Error(why);
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Creates Temporal's two databases and sets up or upgrades their schema with `temporal-sql-tool` (plugin postgres12,
 * the schema files built into the tool), by the script the docker-compose topology runs too. Idempotent.
 */
export async function setupTemporalSchema(sqlTool: string, pgPort: number, logFile: string): Promise<void> {
  const script = join(packageRoot(), 'temporal-config', 'stack-config', 'setup-schema.sh');
  const from = fileSize(logFile);
  const ended = await runToLog('sh', [script], logFile, {
    env: {
      ...process.env,
      TEMPORAL_SQL_TOOL: sqlTool,
      SQL_PLUGIN: 'postgres12',
      SQL_HOST: '127.0.0.1',
      SQL_PORT: String(pgPort),
      SQL_USER: STACK_PG_USER,
      SQL_PASSWORD: STACK_PG_PASSWORD,
    },
  });
  if (ended !== 'code 0') {
    const tail = logSince(logFile, from).trim().split('\n').slice(-15).join('\n');
    throw new Error(`setting up Temporal's schema failed (${ended}); the end of ${logFile}:\n${tail}`);
  }
}

/** The environment that renders `temporal-config/stack-config/stack.yaml` for this stack. */
function serverEnv(config: StackConfig): NodeJS.ProcessEnv {
  const p = config.ports;
  return {
    ...process.env,
    PIPECTL_STACK_PG_PORT: String(p.postgres),
    PIPECTL_STACK_PG_USER: STACK_PG_USER,
    PIPECTL_STACK_PG_PASSWORD: STACK_PG_PASSWORD,
    PIPECTL_STACK_FRONTEND_PORT: String(p.frontend),
    PIPECTL_STACK_HTTP_PORT: String(p.http),
    PIPECTL_STACK_HISTORY_PORT: String(p.history),
    PIPECTL_STACK_MATCHING_PORT: String(p.matching),
    PIPECTL_STACK_WORKER_PORT: String(p.worker),
    PIPECTL_STACK_FRONTEND_MEMBERSHIP_PORT: String(p.frontendMembership),
    PIPECTL_STACK_HISTORY_MEMBERSHIP_PORT: String(p.historyMembership),
    PIPECTL_STACK_MATCHING_MEMBERSHIP_PORT: String(p.matchingMembership),
    PIPECTL_STACK_WORKER_MEMBERSHIP_PORT: String(p.workerMembership),
    PIPECTL_STACK_DYNAMIC_CONFIG: join(packageRoot(), 'temporal-config', 'stack-config', 'dynamic-config.yaml'),
  };
}

/**
 * Starts the Temporal server of a stack (all four services in one process) on its PostgreSQL databases and waits
 * until its frontend answers. The schema must be set up.
 */
export async function startStackServer(config: StackConfig, server: string, log: (line: string) => void) {
  const paths = stackPaths(config.stateDir);
  const p = config.ports;
  await ensurePortsFree('Temporal', [
    ['frontend', p.frontend],
    ['HTTP', p.http],
    ['history', p.history],
    ['matching', p.matching],
    ['worker service', p.worker],
    ['frontend membership', p.frontendMembership],
    ['history membership', p.historyMembership],
    ['matching membership', p.matchingMembership],
    ['worker service membership', p.workerMembership],
  ]);
  log(`Starting the Temporal server ${TEMPORAL_SERVER_VERSION} on ${address(config)}`);
  const daemon = startDaemon(
    server,
    ['--root', packageRoot(), '--config', 'temporal-config/stack-config', '--env', 'stack', '--allow-no-auth', 'start'],
    paths.server,
    { env: serverEnv(config) },
  );
  try {
    await until(
      `the Temporal server did not answer on ${address(config)}`,
      () => isTemporalServer(address(config)),
      () => {
        const why = daemon.exited();
        return (
          why && `the Temporal server ${why}; last lines of ${paths.server.logFile}:\n${logTail(paths.server.logFile)}`
        );
      },
      120_000,
    );
  } catch (err) {
    await stopPidFile(paths.server.pidFile, SERVER_PROCESS, { graceMs: 0 });
    throw err;
  }
  return daemon.pid;
}

/**
 * Stops a stack's Temporal server: `SIGTERM` (it finishes what it does and leaves the cluster), then `SIGKILL` after
 * `graceMs`; `graceMs: 0` kills it outright, as a crash would. Resolves true when it was running.
 */
export function stopStackServer(stateDir: string, graceMs = 30_000): Promise<boolean> {
  return stopPidFile(stackPaths(stateDir).server.pidFile, SERVER_PROCESS, { graceMs });
}

/**
 * Registers the namespace (if missing) and pipectl's search attributes, then waits until the frontend uses both:
 * the server learns of namespace changes by polling the database every few seconds.
 */
async function prepareNamespace(config: StackConfig, log: (line: string) => void): Promise<void> {
  const connection = await Connection.connect({ address: address(config) });
  try {
    const service = connection.workflowService;
    const created = await service
      .registerNamespace({ namespace: config.namespace, workflowExecutionRetentionPeriod: msToTs(7 * 86_400_000) })
      .then(
        () => true,
        (err: { code?: number }) => {
          if (err.code !== 6) throw err; // ALREADY_EXISTS
          return false;
        },
      );
    if (created) log(`Created the namespace ${config.namespace} (7 days retention)`);
    await registerSearchAttributes(address(config), config.namespace);
    const probe = SEARCH_ATTRIBUTES.map((a) => `${a.name} IS NULL`).join(' AND ');
    await until(
      `the namespace ${config.namespace} and its search attributes were not usable`,
      () =>
        service.listWorkflowExecutions({ namespace: config.namespace, pageSize: 1, query: probe }).then(
          () => true,
          () => false,
        ),
      () => undefined,
      60_000,
    );
  } finally {
    await connection.close();
  }
}

/** Environment of the stack's workers: the stack's Temporal, and a database on its PostgreSQL per connection. */
async function workerEnv(config: StackConfig, base: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {
    ...base,
    TEMPORAL_ADDRESS: address(config),
    TEMPORAL_NAMESPACE: config.namespace,
    // Every connection is configured below: a worker never starts an embedded PostgreSQL of its own.
    PIPECTL_EMBEDDED_POSTGRES: '0',
    PIPECTL_FILES_DIR: base.PIPECTL_FILES_DIR || stackPaths(config.stateDir).files,
    ...(config.taskQueue ? { PIPECTL_TASK_QUEUE: config.taskQueue } : {}),
  };
  const { catalog } = readCatalog(config.pipelinesDir);
  const used = connectionsUsed([...catalog.pipelines.values()].map((e) => e.spec));
  used.add(base.PIPECTL_STAGING_CONNECTION || 'pipectl');
  for (const name of used) {
    const variable = connectionEnvVar(name);
    env[variable] ||= await ensureDatabase(config.ports.postgres, name);
  }
  return env;
}

/** Starts worker `index` and resolves once it polls. */
async function startStackWorker(config: StackConfig, index: number, env: NodeJS.ProcessEnv): Promise<StackWorker> {
  const files = stackPaths(config.stateDir).worker(index);
  const from = fileSize(files.logFile);
  const metricsBase = Number(env.PIPECTL_METRICS_PORT);
  const daemon = startDaemon(
    process.execPath,
    [join(packageRoot(), 'bin', WORKER_PROCESS), 'worker', '--dir', config.pipelinesDir],
    files,
    {
      // One metrics port a worker: PIPECTL_METRICS_PORT, +1, +2, …
      env: { ...env, ...(metricsBase ? { PIPECTL_METRICS_PORT: String(metricsBase + index - 1) } : {}) },
    },
  );
  try {
    await until(
      `worker ${index} did not start polling (see ${files.logFile})`,
      async () => logSince(files.logFile, from).includes('worker polling'),
      () => {
        const why = daemon.exited();
        return why && `worker ${index} ${why}; it logged:\n${logSince(files.logFile, from).trim().slice(-3000)}`;
      },
      180_000,
    );
  } catch (err) {
    await stopPidFile(files.pidFile, WORKER_PROCESS, { graceMs: 0 });
    throw err;
  }
  return { index, pid: daemon.pid, logFile: files.logFile };
}

/**
 * Starts the production topology from plain processes, with everything under `stateDir`: PostgreSQL, Temporal's
 * schema, the Temporal server (built from its Go module on first use) with the namespace and pipectl's search
 * attributes, and N `pipectl worker` processes. Whatever already runs is kept, so a second start is a no-op, restarts
 * what has stopped, or scales the workers to the number asked.
 */
export async function startStack(options: StackStartOptions): Promise<Stack> {
  const { log } = options;
  const recorded = readStackConfig(options.stateDir);
  const config = resolveConfig(options, recorded);
  const paths = stackPaths(config.stateDir);
  const before = stackProcesses(config.stateDir);
  if (recorded && (before.postgres || before.server)) {
    const changed = (['namespace', 'pipelinesDir', 'taskQueue', 'ports'] as const).filter(
      (k) => JSON.stringify(recorded[k]) !== JSON.stringify(config[k]),
    );
    if (changed.length > 0) {
      throw new Error(
        `a stack is already running from ${config.stateDir} with other settings (${changed.join(', ')}); ` +
          'stop it first (pipectl stack down) or start this one with another --state-dir',
      );
    }
  }
  mkdirSync(config.stateDir, { recursive: true });
  writeFileSync(paths.config, `${JSON.stringify(config, null, 2)}\n`);
  const started: Stack['started'] = { postgres: false, server: false, workers: [] };

  let postgresPid = before.postgres;
  if (postgresPid === undefined) {
    await ensurePortsFree('PostgreSQL', [['', config.ports.postgres]]);
    postgresPid = await startStackPostgres(paths.postgres, config.ports.postgres, log);
    started.postgres = true;
  }

  let serverPid = before.server;
  if (serverPid === undefined) {
    const binaries = await ensureTemporalServer(options.cacheDir, log);
    log('Setting up the Temporal schema (temporal-sql-tool)');
    await setupTemporalSchema(binaries.sqlTool, config.ports.postgres, join(paths.logs, 'schema.log'));
    serverPid = await startStackServer(config, binaries.server, log);
    started.server = true;
  }
  await prepareNamespace(config, log);

  const running = new Map(before.workers.map((w) => [w.index, w.pid]));
  const stoppedWorkers: number[] = [];
  for (const [index] of [...running].filter(([i]) => i > config.workers)) {
    log(`Stopping worker ${index} (${config.workers} asked for)`);
    await stopPidFile(paths.worker(index).pidFile, WORKER_PROCESS, { graceMs: 30_000 });
    running.delete(index);
    stoppedWorkers.push(index);
  }
  const missing = Array.from({ length: config.workers }, (_, i) => i + 1).filter((i) => !running.has(i));
  if (missing.length > 0) {
    const env = await workerEnv(config, options.env ?? process.env);
    log(`Starting ${missing.length} worker${missing.length > 1 ? 's' : ''} (pipelines in ${config.pipelinesDir})`);
    const workers = await Promise.all(missing.map((i) => startStackWorker(config, i, env)));
    for (const w of workers) {
      running.set(w.index, w.pid);
      started.workers.push(w.index);
    }
  }
  return {
    config,
    address: address(config),
    postgresUrl: stackPostgresUrl(config.ports.postgres, ''),
    postgresPid,
    serverPid,
    workers: [...running]
      .sort(([a], [b]) => a - b)
      .map(([index, pid]) => ({ index, pid, logFile: paths.worker(index).logFile })),
    logsDir: paths.logs,
    started,
    stoppedWorkers,
  };
}

/** What `stopStack` stopped. */
export interface StackStopReport {
  workers: number[];
  server: boolean;
  postgres: boolean;
}

/**
 * Stops a stack: its workers (`SIGTERM`, so running steps may finish, then `SIGKILL` after `graceMs`), then the
 * Temporal server, then PostgreSQL. Idempotent: what does not run is skipped; data and logs stay.
 */
export async function stopStack(
  stateDir: string,
  options: { graceMs?: number; log?: (line: string) => void } = {},
): Promise<StackStopReport> {
  const graceMs = options.graceMs ?? 30_000;
  const log = options.log ?? (() => undefined);
  const paths = stackPaths(stateDir);
  const indexes = workerIndexes(stateDir);
  const stopped = await Promise.all(
    indexes.map(async (index) => {
      const pid = readPidFile(paths.worker(index).pidFile);
      const was = await stopPidFile(paths.worker(index).pidFile, WORKER_PROCESS, { graceMs });
      if (was) log(`Stopped worker ${index} (pid ${pid})`);
      return was ? index : undefined;
    }),
  );
  const server = await stopStackServer(stateDir, graceMs);
  if (server) log('Stopped the Temporal server');
  const postgres = await stopStackPostgres(paths.postgres, graceMs);
  if (postgres) log('Stopped PostgreSQL');
  return { workers: stopped.filter((i): i is number => i !== undefined), server, postgres };
}

/** Waits until the process `pid` of a stack component has exited (after a signal sent by a test or an operator). */
export function waitForStackProcessExit(pid: number, timeoutMs = 30_000): Promise<boolean> {
  return waitForExit(pid, '', timeoutMs);
}
