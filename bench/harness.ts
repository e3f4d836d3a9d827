/**
 * What the benchmarks share: a private Temporal dev server, embedded PostgreSQL and in-process worker in a temporary
 * folder; samplers of the machine's state; cleanup on the way out; the command-line entry point with its exit codes.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import type { Catalog } from '../catalog/load';
import { parseDuration } from '../core/duration';
import { startDevServer } from '../temporal-config/dev-server';
import { readSettings } from '../temporal-config/settings';
import { freePort } from '../test/helpers/ports';
import { BUNDLE_PATH } from '../workers/build-bundle';
import { startEmbeddedPostgres } from '../workers/embedded-postgres';
import { createPipectlWorker } from '../workers/worker';

/** The repository the benchmarks belong to. */
export const ROOT = resolve(__dirname, '..');

/** A progress line on stderr, with the time of day. */
export const log = (line: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** A duration option (`60m`, `90s`) read as milliseconds. */
export const DurationOption = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a duration (e.g. 60m)` });
    return z.NEVER;
  }
  return ms;
});

/** The `--flag` a zod issue's path names (`timeoutMs` → `--timeout`, `maxParallel` → `--max-parallel`). */
export function flagOf(key: PropertyKey | undefined): string {
  return `--${String(key ?? '')
    .replace(/Ms$/, '')
    .replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** A mistake in the command line (or --help): printed as is, exit 1 (0 for --help). */
export class OptionsError extends Error {
  override name = 'OptionsError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Peak of a value sampled on a timer. */
export class PeakSampler {
  peak = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(sample: () => number | undefined, everyMs: number) {
    const take = () => {
      const v = sample();
      if (v !== undefined && v > this.peak) this.peak = v;
    };
    take();
    this.timer = setInterval(take, everyMs);
    this.timer.unref();
  }
  stop(): number {
    clearInterval(this.timer);
    return this.peak;
  }
}

/** RSS of another process from /proc (Linux), in bytes; undefined elsewhere or once it is gone. */
export function procRss(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) another process has used, from /proc (Linux). */
export function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted after the command name; in clock ticks, which
    // Linux reports at USER_HZ = 100 on every common platform.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Bytes of the SQLite database with its write-ahead log and shared-memory file. */
export function sqliteBytes(dbFile: string): number {
  return ['', '-wal', '-shm'].reduce(
    (sum, ext) => sum + (existsSync(dbFile + ext) ? statSync(dbFile + ext).size : 0),
    0,
  );
}

/** Share of the last 60 s in which some runnable task waited for a CPU (Linux PSI): how contended the machine was. */
export function cpuPressure(): number | undefined {
  try {
    const m = /^some avg10=[\d.]+ avg60=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Tracked files that differ from the commit (other than the benchmarks' own lines): results may not be the commit's. */
export function changedFiles(): string[] {
  try {
    const out = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out
      .split('\n')
      .map((l) => l.slice(3))
      .filter((f) => f && !['package.json', '.gitignore'].includes(f) && !f.startsWith('bench/'));
  } catch {
    return [];
  }
}

/** The short commit the working tree is on. */
export function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

/** Fails when the prebuilt workflow bundle is missing; warns when it is older than the workflow sources. */
export function checkBundle(script: string): void {
  if (!existsSync(BUNDLE_PATH)) {
    throw new Error(`no workflow bundle at ${BUNDLE_PATH}: run \`npm run build\` first (npm run ${script} does)`);
  }
  const built = statSync(BUNDLE_PATH).mtimeMs;
  const stale = ['workflows', 'core']
    .flatMap((dir) =>
      readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((f) => join(ROOT, dir, f)),
    )
    .filter((f) => f.endsWith('.ts') && statSync(f).mtimeMs > built);
  if (stale.length > 0) {
    log(`warning: ${stale.length} workflow source file(s) are newer than ${BUNDLE_PATH}; run \`npm run build\``);
  }
}

/** Things to stop at the end, last started first. */
export class Cleanup {
  private readonly steps: Array<[string, () => Promise<void> | void]> = [];
  add(what: string, step: () => Promise<void> | void): void {
    this.steps.push([what, step]);
  }
  async run(): Promise<void> {
    for (const [what, step] of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        log(`cleanup: could not ${what}: ${(err as Error).message}`);
      }
    }
  }
}

/** A private Temporal dev server with a fresh SQLite file, and a client of it. */
export interface ServerStack {
  /** The temporary folder holding the SQLite file, the server log and PostgreSQL's data. */
  stateDir: string;
  /** The server's SQLite file. */
  dbFile: string;
  /** The server's process ID, when its pid file says. */
  serverPid?: number;
  metricsPort: number;
  /** The server's frontend address (`127.0.0.1:<port>`), for workers that connect on their own. */
  address: string;
  client: Client;
}

/** What a benchmark runs against: a private server, PostgreSQL and worker, and a client of the server. */
export interface BenchStack extends ServerStack {
  /** Settles with a reason if the worker stops before the benchmark is done with it. */
  workerStopped: Promise<string>;
}

/**
 * Starts a dev server with a fresh SQLite file in a temporary folder, and a client of it; each is registered with
 * `cleanup`. No worker: a benchmark that brings its own (the raw Temporal baseline) starts it on `address`.
 */
export async function startServerStack(options: { keep: boolean }, cleanup: Cleanup): Promise<ServerStack> {
  const stateDir = mkdtempSync(join(tmpdir(), 'pipectl-bench-'));
  // PostgreSQL runs as its own user when the benchmark runs as root: it must be able to reach its data folder.
  chmodSync(stateDir, 0o755);
  cleanup.add(`remove ${stateDir}`, () => {
    if (options.keep) log(`kept ${stateDir}`);
    else rmSync(stateDir, { recursive: true, force: true });
  });
  const [port, uiPort, httpPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const server = await startDevServer({
    stateDir,
    cacheDir: readSettings({ ...process.env, PIPECTL_STATE_DIR: stateDir }).cacheDir,
    port,
    uiPort,
    httpPort,
    metricsPort,
    namespace: 'default',
    log,
  });
  cleanup.add('stop the Temporal dev server', () => server.stop());
  if (!server.started) throw new Error(`port ${port} was already served by another Temporal server`);
  const serverPid = existsSync(join(stateDir, 'temporal.pid'))
    ? Number(readFileSync(join(stateDir, 'temporal.pid'), 'utf8').trim())
    : undefined;
  log(`server metrics while it runs: http://127.0.0.1:${metricsPort}/metrics`);

  const connection = await Connection.connect({ address: server.address });
  cleanup.add('close the client connection', () => connection.close());
  return {
    stateDir,
    dbFile: join(stateDir, 'temporal.sqlite'),
    ...(serverPid !== undefined ? { serverPid } : {}),
    metricsPort,
    address: server.address,
    client: new Client({ connection, namespace: 'default' }),
  };
}

/**
 * Starts a dev server with a fresh SQLite file and an embedded PostgreSQL (the worker's staging connection) in a
 * temporary folder, and an in-process worker for `catalog` on `taskQueue`; each is registered with `cleanup`.
 */
export async function startBenchStack(
  options: { catalog: Catalog; taskQueue: string; keep: boolean },
  cleanup: Cleanup,
): Promise<BenchStack> {
  const stack = await startServerStack(options, cleanup);
  const { stateDir } = stack;
  // The worker adds the staging connection to the ones it needs even when no step stages data (no-op steps return
  // nothing, which travels inline), and would otherwise start PostgreSQL in .pipectl/ on the shared port 55432.
  const pg = await startEmbeddedPostgres({ dataDir: join(stateDir, 'postgres'), port: await freePort(), log });
  cleanup.add('stop the embedded PostgreSQL', () => pg.stop());

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PIPECTL_STATE_DIR: stateDir,
    TEMPORAL_ADDRESS: stack.address,
    TEMPORAL_NAMESPACE: 'default',
    PIPECTL_TASK_QUEUE: options.taskQueue,
    PIPECTL_LOG_LEVEL: process.env.PIPECTL_LOG_LEVEL ?? 'WARN',
    PIPECTL_SHUTDOWN_GRACE: '5s',
  };
  const worker = await createPipectlWorker({
    settings: readSettings(env),
    catalog: options.catalog,
    env,
    embedded: pg,
    log,
  });
  const workerRun = worker.run();
  cleanup.add('stop the worker', async () => {
    worker.shutdown();
    await workerRun;
  });
  const workerStopped = workerRun.then(
    () => 'the worker stopped (a signal?)',
    (err: unknown) => `the worker failed: ${(err as Error).message}`,
  );
  return { ...stack, workerStopped };
}

export const mib = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MiB`;
export const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
/** Bytes in KiB, or in MiB from 1 MiB up. */
export const size = (b: number) => (b >= 1024 * 1024 ? mib(b) : kib(b));

/** How a benchmark plugs into {@link runBench}. */
export interface BenchDefinition<O, R extends { startedAt: string }> {
  /** Prefix of the JSON file in bench/results/ (`large-dag` → `large-dag-<time>.json`). */
  name: string;
  /** Parses the command line; throws {@link OptionsError} for a mistake or --help. */
  readOptions(argv: string[]): O;
  /** Runs the benchmark; registers what it starts with `cleanup`; `aborted` settles on Ctrl-C or SIGTERM. */
  run(options: O, cleanup: Cleanup, aborted: Promise<string>): Promise<R>;
  /** The result as a readable table. */
  table(result: R): string;
  /** Whether the result counts as a pass (exit 0) rather than a miss (exit 3). */
  passed(result: R): boolean;
}

/**
 * The command-line entry point of a benchmark: reads the options, runs it, writes its JSON to bench/results/ and
 * prints its table, stops everything it started (also on failure or Ctrl-C), and exits 0 (passed), 1 (bad options),
 * 2 (the benchmark itself failed) or 3 (it ran but did not pass).
 */
export function runBench<O, R extends { startedAt: string }>(definition: BenchDefinition<O, R>): void {
  const main = async (): Promise<number> => {
    let options: O;
    try {
      options = definition.readOptions(process.argv.slice(2));
    } catch (err) {
      const code = err instanceof OptionsError ? err.exitCode : 1;
      (code === 0 ? process.stdout : process.stderr).write(`${(err as Error).message}\n`);
      return code;
    }
    const cleanup = new Cleanup();
    let onSignal: ((signal: string) => void) | undefined;
    const aborted = new Promise<string>((r) => (onSignal = (signal) => r(`interrupted by ${signal}`)));
    const handler = (signal: NodeJS.Signals) => onSignal?.(signal);
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    try {
      const result = await definition.run(options, cleanup, aborted);
      const outDir = join(__dirname, 'results');
      mkdirSync(outDir, { recursive: true });
      const file = join(outDir, `${definition.name}-${result.startedAt.replace(/[:.]/g, '-')}.json`);
      writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(`\n${definition.table(result)}\n\nJSON: ${file}\n`);
      process.stdout.write(
        'Note: figures from a shared 2-core machine with other work running; compare runs on the same machine only.\n',
      );
      return definition.passed(result) ? 0 : 3;
    } catch (err) {
      process.stderr.write(`benchmark failed: ${(err as Error).stack ?? String(err)}\n`);
      return 2;
    } finally {
      await cleanup.run();
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    }
  };
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(2);
    },
  );
}
