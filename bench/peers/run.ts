/**
 * Runs one peer orchestrator (Airflow 3, Prefect 3, Dagster) on one benchmark scenario, through its Python driver in
 * bench/peers/<tool>_bench.py and the tool's virtualenv in bench/.peers/<tool>/venv (made by bench/peers/install.sh).
 *
 *   npx tsx bench/peers/run.ts --tool airflow --scenario chain --nodes 10
 *   npx tsx bench/peers/run.ts --tool airflow --scenario chain --nodes 100 --embedded-pg
 *   npx tsx bench/peers/run.ts --tool dagster --scenario fanout --nodes 1000 --executor in_process
 *   npx tsx bench/peers/run.ts --help
 *
 * Scenarios: `chain` is N no-op tasks in a line (N tasks); `fanout` is a root, N tasks after it and a sink after them
 * all (N + 2 tasks). Each driver sets up the tool's durable state in the state folder, times the run from trigger to
 * completion (its one-off setup is reported apart as setupMs), checks from the tool's own records that every task
 * succeeded, stops what it started and prints one JSON line, which is parsed here into a {@link PeerResult}.
 *
 * Exit codes of `main`: 0 the run succeeded; 1 bad options or the tool is not installed; 2 the driver failed or timed
 * out (its log is named).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';

/** The folder of this file: the drivers and install.sh. */
const PEERS_DIR = __dirname;

/** Where install.sh puts one virtualenv per tool (git-ignored). */
export const PEERS_HOME = resolve(PEERS_DIR, '..', '.peers');

/** The orchestrators pipectl is compared with. */
export const PeerTool = z.enum(['airflow', 'prefect', 'dagster']);
export type PeerTool = z.infer<typeof PeerTool>;

/** The benchmark shapes every tool runs. */
export const PeerScenario = z.enum(['chain', 'fanout']);
export type PeerScenario = z.infer<typeof PeerScenario>;

/** What a driver prints: one run of one scenario on one tool. */
export const PeerResult = z.object({
  /** The orchestrator. */
  tool: PeerTool,
  /** Its installed version (the driver asks the tool itself). */
  version: z.string(),
  scenario: PeerScenario,
  /** The requested size: chain length, or the width of the fan-out. */
  nodes: z.number().int().positive(),
  /** Tasks that ran: `nodes` for a chain, `nodes + 2` for a fan-out (root and sink). */
  tasks: z.number().int().positive(),
  /** Tasks the tool's own state records as succeeded (equals `tasks`, or the driver fails). */
  succeeded: z.number().int().nonnegative(),
  /** From triggering the run to its completion. */
  wallMs: z.number().nonnegative(),
  /** `wallMs / tasks`. */
  perNodeMs: z.number().nonnegative(),
  /** `tasks / wall seconds`. */
  nodesPerSec: z.number().nonnegative().nullable(),
  /** One-off work before the trigger (database migration, starting servers, registering the DAG/flow/job). */
  setupMs: z.number().nonnegative(),
  /** How the tool was set up, e.g. `LocalExecutor+postgres`, `multiprocess+sqlite`. */
  variant: z.string(),
  /** What a reader needs to judge the number. */
  notes: z.string(),
  /**
   * Prefect only: from the trigger until the server records every task run as COMPLETED (task-run states reach it as
   * asynchronous events, after the flow may have returned).
   */
  recordedMs: z.number().nonnegative().optional(),
  /** The machine's 1-minute load average when the run ended (the machine is shared; 2 cores). */
  loadAvg1m: z.number().nonnegative(),
});
export type PeerResult = z.infer<typeof PeerResult>;

/** Dagster's executors: its default (a spawned process per op), the same with a forkserver, or all in one process. */
export const DagsterExecutor = z.enum(['multiprocess', 'multiprocess_forkserver', 'in_process']);
export type DagsterExecutor = z.infer<typeof DagsterExecutor>;

/** One peer run to make. */
export interface PeerRunOptions {
  tool: PeerTool;
  scenario: PeerScenario;
  /** Chain length, or the width of the fan-out. */
  nodes: number;
  /** Folder for the tool's durable state, its process logs and the driver's log (created). */
  stateDir: string;
  /**
   * PostgreSQL for the tool's metadata (SQLite in the state folder otherwise). A URL that names a database is used as
   * is; a server URL with no database (such as `EmbeddedPostgresServer.baseUrl`) gets the tool its own database
   * `pipectl_peer_<tool>`, created if missing — the tools must not share one (each keeps its own `alembic_version`).
   */
  pgUrl?: string;
  /** Dagster only: `multiprocess` (its default), `multiprocess_forkserver` or `in_process`. */
  executor?: DagsterExecutor;
  /** Kill the driver (and so everything it started) after this long; default 1 hour. */
  timeoutMs?: number;
  /** The driver's stderr goes to this file (appended); default `<stateDir>/driver.log`. */
  logFile?: string;
  /** Also copy the driver's stderr to this process's stderr. */
  echo?: boolean;
}

/** The Python interpreter of a tool's virtualenv. */
export function peerPython(tool: PeerTool): string {
  return join(PEERS_HOME, tool, 'venv', 'bin', 'python');
}

/** Whether install.sh has completed for this tool (its virtualenv and the marker written after a full install). */
export function peersInstalled(tool: PeerTool): boolean {
  return existsSync(peerPython(tool)) && existsSync(join(PEERS_HOME, tool, 'installed.txt'));
}

/** A driver that exited without a result: what it said last is in its log. */
export class PeerRunError extends Error {
  override name = 'PeerRunError';
  constructor(
    message: string,
    readonly logFile: string,
  ) {
    super(`${message} (log: ${logFile})`);
  }
}

/**
 * Runs one scenario on one tool and returns what its driver measured. Rejects with a {@link PeerRunError} when the
 * tool is not installed, the driver fails or its run did not fully succeed, or the timeout passes (the driver is then
 * sent SIGTERM, which makes it stop the servers it started, and SIGKILL 30 s later).
 */
export async function runPeer(options: PeerRunOptions): Promise<PeerResult> {
  const stateDir = resolve(options.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const logFile = options.logFile ?? join(stateDir, 'driver.log');
  if (!peersInstalled(options.tool)) {
    throw new PeerRunError(
      `${options.tool} is not installed: run bash bench/peers/install.sh ${options.tool}`,
      logFile,
    );
  }
  const timeoutMs = options.timeoutMs ?? 3_600_000;
  const args = [
    join(PEERS_DIR, `${options.tool}_bench.py`),
    '--scenario',
    options.scenario,
    '--nodes',
    String(options.nodes),
    '--state-dir',
    stateDir,
    // The driver's own deadline for the run comes first, so it can report and clean up before being killed.
    '--timeout',
    String(Math.max(1, Math.floor(timeoutMs / 1000) - 60)),
  ];
  if (options.pgUrl) args.push('--pg-url', await toolDatabase(options.pgUrl, options.tool));
  if (options.executor) {
    if (options.tool !== 'dagster') throw new Error(`--executor applies to dagster only, not ${options.tool}`);
    args.push('--executor', options.executor);
  }

  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(peerPython(options.tool), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => {
    log.write(chunk);
    if (options.echo) process.stderr.write(chunk);
  });

  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  }, timeoutMs);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done, fail) => {
    child.once('error', fail);
    child.once('close', (code, signal) => done({ code, signal }));
  }).finally(() => {
    clearTimeout(timer);
    clearTimeout(killTimer);
  });
  await new Promise<void>((done) => log.end(done));

  if (timedOut) throw new PeerRunError(`${options.tool} driver timed out after ${timeoutMs / 1000}s`, logFile);
  if (exit.code !== 0) {
    throw new PeerRunError(`${options.tool} driver exited with ${exit.code ?? exit.signal}`, logFile);
  }
  const lines = stdout.split('\n').filter((line) => line.trim() !== '');
  if (lines.length !== 1) {
    throw new PeerRunError(
      `${options.tool} driver printed ${lines.length} lines on stdout, expected 1 JSON line`,
      logFile,
    );
  }
  const parsed = PeerResult.safeParse(JSON.parse(lines[0] ?? ''));
  if (!parsed.success) {
    throw new PeerRunError(`${options.tool} driver printed an unexpected result: ${parsed.error.message}`, logFile);
  }
  return parsed.data;
}

/** The database URL a tool gets from `pgUrl`: itself if it names a database, else `pipectl_peer_<tool>` on that server. */
async function toolDatabase(pgUrl: string, tool: PeerTool): Promise<string> {
  const url = new URL(pgUrl);
  if (url.pathname.length > 1) return pgUrl;
  const name = `pipectl_peer_${tool}`;
  const { Client } = await import('pg');
  const client = new Client({ connectionString: new URL('/postgres', url).toString() });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) {
      // 42P04 / 23505: another run created it meanwhile.
      await client.query(`CREATE DATABASE "${name}"`).catch((err: { code?: string }) => {
        if (err.code !== '42P04' && err.code !== '23505') throw err;
      });
    }
  } finally {
    await client.end();
  }
  return new URL(`/${name}`, url).toString();
}

const HELP = `Usage: npx tsx bench/peers/run.ts --tool airflow|prefect|dagster --scenario chain|fanout --nodes N [options]

  --state-dir DIR      the tool's durable state and logs (default: a new folder under the system temp dir)
  --pg-url URL         PostgreSQL for the tool's metadata (default: SQLite in the state folder); a URL with no
                       database gets the tool its own database pipectl_peer_<tool> on that server
  --embedded-pg        start pipectl's embedded PostgreSQL in <state-dir>/postgres and give the tool a database on it
  --executor NAME      dagster only: multiprocess (default), multiprocess_forkserver or in_process
  --timeout SECONDS    kill the run after this long (3600)

Install the tools first: bash bench/peers/install.sh
Prints the driver's JSON result on stdout; the driver's log goes to <state-dir>/driver.log and to stderr.`;

/** The command line of `main`. */
const MainOptions = z.object({
  tool: PeerTool,
  scenario: PeerScenario,
  nodes: z.coerce.number().int().min(1),
  stateDir: z.string().optional(),
  pgUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  embeddedPg: z.boolean().default(false),
  executor: DagsterExecutor.optional(),
  timeout: z.coerce.number().positive().default(3600),
});

async function main(argv: string[]): Promise<number> {
  let options: z.infer<typeof MainOptions>;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        tool: { type: 'string' },
        scenario: { type: 'string' },
        nodes: { type: 'string' },
        'state-dir': { type: 'string' },
        'pg-url': { type: 'string' },
        'embedded-pg': { type: 'boolean' },
        executor: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean' },
      },
    });
    if (values.help) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    const parsed = MainOptions.safeParse({
      tool: values.tool,
      scenario: values.scenario,
      nodes: values.nodes,
      stateDir: values['state-dir'],
      pgUrl: values['pg-url'],
      embeddedPg: values['embedded-pg'],
      executor: values.executor,
      timeout: values.timeout,
    });
    if (!parsed.success) {
      const issues = parsed.error.issues.map(
        (i) => `--${String(i.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`,
      );
      throw new Error(issues.join('\n'));
    }
    options = parsed.data;
    if (options.pgUrl && options.embeddedPg) throw new Error('--pg-url and --embedded-pg exclude each other');
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}\n`);
    return 1;
  }
  if (!peersInstalled(options.tool)) {
    process.stderr.write(`${options.tool} is not installed: run bash bench/peers/install.sh ${options.tool}\n`);
    return 1;
  }

  const stateDir = resolve(options.stateDir ?? mkdtempSync(join(tmpdir(), `pipectl-peer-${options.tool}-`)));
  mkdirSync(stateDir, { recursive: true });
  process.stderr.write(`[peers] ${options.tool} ${options.scenario} ${options.nodes}: state in ${stateDir}\n`);
  let stopPg: (() => Promise<void>) | undefined;
  try {
    let pgUrl = options.pgUrl;
    if (options.embeddedPg) {
      const [{ startEmbeddedPostgres }, { freePort }] = await Promise.all([
        import('../../workers/embedded-postgres'),
        import('../../test/helpers/ports'),
      ]);
      const pg = await startEmbeddedPostgres({
        dataDir: join(stateDir, 'postgres'),
        port: await freePort(),
        log: (line) => process.stderr.write(`[peers] ${line}\n`),
      });
      stopPg = () => pg.stop();
      pgUrl = pg.baseUrl;
    }
    const result = await runPeer({
      tool: options.tool,
      scenario: options.scenario,
      nodes: options.nodes,
      stateDir,
      pgUrl,
      executor: options.executor,
      timeoutMs: options.timeout * 1000,
      echo: true,
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`[peers] failed: ${(err as Error).message}\n`);
    return 2;
  } finally {
    await stopPg?.();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(2);
    },
  );
}
