import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { trimVisibilityIndexes } from './dev-server-sqlite';
import { SEARCH_ATTRIBUTES } from './search-attributes';
import { ensureTemporalCli, TEMPORAL_CLI_VERSION } from './temporal-cli';

/** How to run the local development server. */
export interface DevServerOptions {
  /** Folder for the SQLite file, the log and the pid file (git-ignored `.pipectl` by default). */
  stateDir: string;
  /** Cache folder for the built CLI. */
  cacheDir: string;
  /** Frontend port (7233). */
  port: number;
  /** Web UI port (8233). */
  uiPort: number;
  /** Namespace created at start. */
  namespace: string;
  /** Progress lines for the user. */
  log: (line: string) => void;
  /** Extra ports the server opens; chosen by the caller to avoid clashes when several servers run (tests). */
  httpPort?: number;
  metricsPort?: number;
  /** A remote codec endpoint the Web UI decodes payloads through (`PIPECTL_CODEC_ENDPOINT`). */
  codecEndpoint?: string;
}

/** A running (or reused) development server. */
export interface DevServer {
  address: string;
  uiUrl: string;
  /** False when a server was already answering on the port and pipectl reused it. */
  started: boolean;
  /** Stops the server if this process started it; a reused server is left running. */
  stop(): Promise<void>;
}

const PID_FILE = 'temporal.pid';

/**
 * How often, per second, each of a history shard's task queues may read new tasks from the database. Temporal's
 * default is 20 per shard, which a cluster spreads over hundreds of shards; the dev server has one shard, so every
 * child start, child completion and workflow task dispatch of the whole server waited for the next of 20 reads a
 * second. After the first few, each step of a chain landed on a 50 ms tick: 100 ms from an upstream's completion to
 * its downstream's start (two queue hops), about 190 ms per node. At 1,000 the same chain of 50 runs at about 50 ms
 * per node, 14 ms from completion to start; a read still takes every task that is ready, so a busy server reads no
 * more often than it did.
 */
export const QUEUE_READS_PER_SECOND = 1000;

/**
 * Task workers of each of the history service's queues (transfer, timer, visibility); Temporal's default is 512. Every
 * task of the dev server ends in the one SQLite connection, so 512 workers only lengthen the line in front of it, and
 * a task that holds a workflow's lock while it waits in that line makes the others that need the lock give up after
 * 0.5 s and retry a second or more later. In a 1 → 400 → 1 fan-out the parent's lock failed about 2,500 times and the
 * whole server stood idle for about 2 s every 3 s; with 32 workers it failed about 25 times and never stood idle.
 */
export const QUEUE_TASK_WORKERS = 32;

/**
 * Bytes of recent history events the history shard keeps in memory; Temporal's default is 512 KiB per shard, which a
 * cluster multiplies by hundreds of shards. Starting a child needs the parent's event that asked for it; a DAG run asks
 * for up to `maxParallel` children in one workflow task, and once those events (input, search attributes, summary)
 * passed 512 KiB each child start read and decoded the parent's whole batch of events from SQLite again. In a 1 → 1,000
 * → 1 fan-out that was a quarter of the server's CPU: with 64 MiB the server used 22 s of CPU instead of 33, and the
 * run took 24 s instead of 30.
 */
export const EVENTS_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * Dynamic config of the dev server.
 * - Eager activity execution: a worker that completes a workflow task which schedules an activity on its own queue
 *   gets that activity in the reply when it has a free slot, instead of through the matching service (a step starts
 *   without a round trip).
 * - The history shard's transfer (child starts and completions, workflow task dispatch), timer (retries, timeouts),
 *   visibility (what the Web UI lists) and outbound queues read at most {@link QUEUE_READS_PER_SECOND} times a second,
 *   and run their tasks on {@link QUEUE_TASK_WORKERS} workers each.
 * - New tasks of a task queue go to one partition, not four: with one worker process, tasks written to the other three
 *   partitions had to be forwarded to the partition that had pollers waiting, and when forwarding was throttled they
 *   waited in the database for about 2 s. Workers still poll all four, so tasks a server wrote before this setting
 *   are still delivered.
 * - The history shard keeps {@link EVENTS_CACHE_BYTES} of recent events in memory.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Record<string, unknown> = {
  'system.enableActivityEagerExecution': true,
  'history.transferProcessorMaxPollRPS': QUEUE_READS_PER_SECOND,
  'history.timerProcessorMaxPollRPS': QUEUE_READS_PER_SECOND,
  'history.visibilityProcessorMaxPollRPS': QUEUE_READS_PER_SECOND,
  'history.outboundProcessorMaxPollRPS': QUEUE_READS_PER_SECOND,
  'history.transferProcessorSchedulerWorkerCount': QUEUE_TASK_WORKERS,
  'history.timerProcessorSchedulerWorkerCount': QUEUE_TASK_WORKERS,
  'history.visibilityProcessorSchedulerWorkerCount': QUEUE_TASK_WORKERS,
  'matching.numTaskqueueWritePartitions': 1,
  'history.eventsCacheMaxSizeBytes': EVENTS_CACHE_BYTES,
};

/**
 * SQLite settings of the dev server's database. A write-ahead log instead of the default rollback journal: the dev
 * server writes through one history shard and one SQLite connection, so every workflow update waits for the one
 * before it, and a rollback-journal commit syncs the disk several times where a WAL commit syncs it once. A 1 → 200 →
 * 1 fan-out went from 22.5 s to 8.8 s. `synchronous=full` keeps every commit durable on disk before the server
 * acknowledges it, as before (`normal` would be faster still, 6.4 s, but a power cut could lose the last commits).
 */
export const DEV_SERVER_SQLITE_PRAGMAS: Record<string, string> = {
  journal_mode: 'wal',
  synchronous: 'full',
};

/** The dev server's flags for {@link DEV_SERVER_DYNAMIC_CONFIG} and {@link DEV_SERVER_SQLITE_PRAGMAS}. */
export function devServerTuningArgs(): string[] {
  return [
    ...Object.entries(DEV_SERVER_DYNAMIC_CONFIG).flatMap(([key, value]) => [
      '--dynamic-config-value',
      `${key}=${JSON.stringify(value)}`,
    ]),
    ...Object.entries(DEV_SERVER_SQLITE_PRAGMAS).flatMap(([key, value]) => ['--sqlite-pragma', `${key}=${value}`]),
  ];
}

/** True when something accepts TCP connections on `host:port`. */
export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Connects and asks for system info; resolves true only for a Temporal frontend. */
export async function isTemporalServer(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2_000 });
    const c = connection;
    // Something that is not a gRPC server may accept the connection and never answer: bound the call.
    await c.withDeadline(Date.now() + 3_000, () => c.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Registers pipectl's search attributes on `namespace` where they are missing. Idempotent. */
export async function registerSearchAttributes(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const have = new Set(Object.keys(existing.customAttributes ?? {}));
    const missing = SEARCH_ATTRIBUTES.filter((a) => !have.has(a.name));
    if (missing.length === 0) return;
    const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((a) => [
          a.name,
          {
            Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
            KeywordList: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
            Datetime: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
          }[a.cliType],
        ]),
      ),
    });
  } finally {
    await connection.close();
  }
}

async function waitUntilServing(address: string, exited: () => string | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const why = exited();
    if (why) throw new Error(why);
    if (await isTemporalServer(address)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the Temporal server at ${address} did not answer within ${timeoutMs / 1000}s`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a server started by pipectl (its pid is in the state folder). Resolves true if one was stopped. */
export async function stopDevServerAt(stateDir: string, timeoutMs = 15_000): Promise<boolean> {
  const pidFile = join(stateDir, PID_FILE);
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || !processAlive(pid)) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  return true;
}

/**
 * Starts `temporal server start-dev` with its SQLite file in the state folder (runs survive a restart), the Web UI,
 * and pipectl's search attributes — or reuses a server already answering on the port. Never starts a second server on
 * a port that is served. A new SQLite file is written by a first start, then loses the visibility indexes pipectl
 * does without before the server starts for good.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const address = `localhost:${options.port}`;
  const uiUrl = `http://localhost:${options.uiPort}`;
  const { log } = options;
  if (await portInUse(options.port)) {
    if (!(await isTemporalServer(address))) {
      throw new Error(
        `port ${options.port} is in use by something that is not a Temporal server; free it or set TEMPORAL_ADDRESS`,
      );
    }
    log(`Using the Temporal server already running at ${address}`);
    await registerSearchAttributes(address, options.namespace);
    return { address, uiUrl, started: false, stop: async () => undefined };
  }
  mkdirSync(options.stateDir, { recursive: true });
  const cli = await ensureTemporalCli(options.cacheDir, log);
  if (!cli) return startDownloadedServer(options, address, uiUrl);

  const dbFile = join(options.stateDir, 'temporal.sqlite');
  const fresh = !existsSync(dbFile);
  if (!fresh) trimIndexes(options, dbFile);
  await spawnDevServer(options, cli.path, address, uiUrl, dbFile, fresh);
  if (fresh) {
    // The server writes Temporal's schema into a new file; the indexes go once it has, with the server stopped.
    await stopDevServerAt(options.stateDir);
    trimIndexes(options, dbFile);
    await spawnDevServer(options, cli.path, address, uiUrl, dbFile, false);
  }
  // Registration through the flags above covers a new database; an existing one may predate an attribute.
  await registerSearchAttributes(address, options.namespace);
  return {
    address,
    uiUrl,
    started: true,
    stop: async () => {
      await stopDevServerAt(options.stateDir);
    },
  };
}

/**
 * Drops the visibility indexes pipectl does without (`DROPPED_VISIBILITY_INDEXES` in dev-server-sqlite.ts) from a dev
 * server's SQLite file, unless a server pipectl started may still have it open. A failure costs speed, not data: it
 * is logged and the server starts with Temporal's full schema.
 */
function trimIndexes(options: DevServerOptions, dbFile: string): void {
  const pidFile = join(options.stateDir, PID_FILE);
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined;
  if (pid !== undefined && Number.isInteger(pid) && processAlive(pid)) {
    options.log(`Left the visibility indexes of ${dbFile} alone: process ${pid} (${pidFile}) may have it open`);
    return;
  }
  try {
    const dropped = trimVisibilityIndexes(dbFile);
    if (dropped.length > 0)
      options.log(`Dropped ${dropped.length} visibility indexes pipectl does not use from ${dbFile}`);
  } catch (err) {
    const lock = `${dbFile}.lock`;
    const hint = existsSync(lock) ? `; remove ${lock} if no pipectl is starting this server` : '';
    options.log(`Could not drop the unused visibility indexes of ${dbFile} (${(err as Error).message}${hint})`);
  }
}

/** Spawns `temporal server start-dev` on `dbFile`, records its pid and waits until it serves. */
async function spawnDevServer(
  options: DevServerOptions,
  cliPath: string,
  address: string,
  uiUrl: string,
  dbFile: string,
  creating: boolean,
): Promise<void> {
  const logFile = join(options.stateDir, 'temporal.log');
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    dbFile,
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--namespace',
    options.namespace,
    '--log-level',
    'warn',
    ...(options.httpPort ? ['--http-port', String(options.httpPort)] : []),
    ...(options.metricsPort ? ['--metrics-port', String(options.metricsPort)] : []),
    ...(options.codecEndpoint ? ['--ui-codec-endpoint', options.codecEndpoint] : []),
    ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=${a.cliType}`]),
    ...devServerTuningArgs(),
  ];
  options.log(
    creating
      ? `Creating the Temporal dev server's database ${dbFile}`
      : `Starting the Temporal dev server (${cliPath}) on ${address}, Web UI ${uiUrl}, data ${dbFile}`,
  );
  const out = openSync(logFile, 'a');
  // Detached with its own process group: the server outlives a crash of this process and stops only when asked.
  const child = spawn(cliPath, args, { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
    exit = `the Temporal dev server exited (${signal ?? `code ${code}`}) while starting; last lines of ${logFile}:\n${tail}`;
  });
  child.unref();
  writeFileSync(join(options.stateDir, PID_FILE), String(child.pid));
  try {
    await waitUntilServing(address, () => exit, 60_000);
  } catch (err) {
    await stopDevServerAt(options.stateDir);
    throw err;
  }
}

async function startDownloadedServer(options: DevServerOptions, address: string, uiUrl: string): Promise<DevServer> {
  options.log(
    `No Temporal CLI found and no Go toolchain to build ${TEMPORAL_CLI_VERSION}: falling back to the Temporal SDK's download of the dev server`,
  );
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'cached-download', downloadDir: join(options.cacheDir, 'temporal-cli', 'download') },
      dbFilename: join(options.stateDir, 'temporal.sqlite'),
      namespace: options.namespace,
      port: options.port,
      ui: true,
      uiPort: options.uiPort,
      extraArgs: [
        ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=${a.cliType}`]),
        ...(options.codecEndpoint ? ['--ui-codec-endpoint', options.codecEndpoint] : []),
        ...devServerTuningArgs(),
      ],
    },
  });
  return { address, uiUrl, started: true, stop: () => env.teardown() };
}
