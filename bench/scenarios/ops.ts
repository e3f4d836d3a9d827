/**
 * Benchmark scenarios of operating pipectl, each on a private dev server with its SQLite file, beside a raw Temporal
 * (or hand-written) baseline doing the same work in the same run:
 *
 *   npx tsx bench/scenarios/ops.ts sync --pipelines 1000      (npm run bench:sync -- --pipelines 1000)
 *   npx tsx bench/scenarios/ops.ts cold-start --runs 5        (npm run bench:cold-start)
 *   npx tsx bench/scenarios/ops.ts etl --rows 1000000         (npm run bench:etl)
 *
 * - sync: generates a folder of definition files, runs the real `pipectl sync --dir` twice (first, then no-op) and
 *   times each process end to end; the baseline creates the same Schedules with `client.schedule.create`, then checks
 *   them with `describe`, from a compiled script of its own.
 * - cold-start: spawns `pipectl worker` (prebuilt bundle, a small catalog) with a run already waiting on its queue and
 *   times process start → "worker polling", → first workflow task completed, → run completed; the baseline is a
 *   compiled raw `Worker.create` + `run` with a prebuilt bundle of a trivial workflow. Runs alternate; medians count.
 * - etl: a `postgres.query` → transform → `postgres.replace` pipeline moves N generated orders for one window; the
 *   baseline is a hand-written COPY script doing the same transform, same database, same run; both targets must hold
 *   the same rows. Rounds of pipectl then the script; medians count. The COPY script's figures are under system
 *   `temporal` (the baseline slot the report reads).
 *
 * `npm run build` first (the CLI and the worker run from dist/). Writes JSON to bench/results/<scenario>-<time>.json.
 * Exit codes: 0 the goal is met; 1 bad options; 2 the benchmark failed; 3 it ran but missed the goal.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Connection, type Client, type WorkflowHandle } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { bundleWorkflowCode } from '@temporalio/worker';
import { Pool } from 'pg';
import { z } from 'zod';
import { loadCatalog, type Catalog } from '../../catalog/load';
import { startPipelineRun } from '../../cli/runs';
import { desiredSchedules } from '../../cli/sync';
import { definePipeline } from '../../index';
import { catalogOf } from '../../test/helpers/catalog';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../../workers/embedded-postgres';
import {
  checkBundle,
  Cleanup,
  flagOf,
  log,
  OptionsError,
  PeakSampler,
  procRss,
  ROOT,
  runBench,
  startBenchStack,
  type BenchStack,
} from '../harness';
import type { Figures, ScenarioResult, SystemResult } from '../scenario';
import { writeDefinitions } from './definitions';
import { copyScript } from './etl-fixture/copy-script';
import { CHECKSUM_SQL, COMPARE_SQL, COPY_TARGET, PIPECTL_TARGET, setupSql, WINDOW } from './etl-fixture/orders';
import { compileRaw, rawEnv } from './raw/compile';

const PIPECTL_BIN = join(ROOT, 'bin', 'pipectl.js');
/** The goals of issue 6 these scenarios are judged on. */
const GOALS = { noopSyncMs: 5_000, coldStartMs: 3_000, etlShareOfCopy: 0.5 };
/** Longest one CLI or worker process may take before the scenario gives up on it. */
const PROCESS_TIMEOUT_MS = 10 * 60_000;

const versionOf = (pkg: string) =>
  (
    JSON.parse(readFileSync(join(ROOT, ...(pkg ? ['node_modules', pkg] : []), 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
const PIPECTL_VERSION = versionOf('');
const SDK_VERSION = versionOf('@temporalio/client');

/** Options of the sync scenario. */
export const SyncOptions = z.object({
  /** Pipeline definition files generated. */
  pipelines: z.coerce.number().int().min(10).max(20_000).default(1000),
  /** Keep the temporary folders (definitions, SQLite file, server log). */
  keep: z.boolean().default(false),
});
export type SyncOptions = z.input<typeof SyncOptions>;

/** Options of the cold-start scenario. */
export const ColdStartOptions = z.object({
  /** Process starts of each system (alternating); the median counts. */
  runs: z.coerce.number().int().min(1).max(50).default(5),
  /** Pipelines in the worker's catalog. */
  pipelines: z.coerce.number().int().min(1).max(1000).default(10),
  keep: z.boolean().default(false),
});
export type ColdStartOptions = z.input<typeof ColdStartOptions>;

/** Options of the ETL scenario. */
export const EtlOptions = z.object({
  /** Rows in the source table (all in the one window). */
  rows: z.coerce.number().int().min(1).max(50_000_000).default(1_000_000),
  /** The pipeline's `transformThreads` in the main run; above 1, a one-thread run is measured too. */
  threads: z.coerce.number().int().min(1).max(64).default(2),
  /**
   * Rounds, each running pipectl (on one thread first when `threads` is above 1) and then the COPY script; the median
   * of each system's rounds counts. The machine's speed drifts between rounds, so the rounds' own ratios are reported
   * too.
   */
  runs: z.coerce.number().int().min(1).max(20).default(3),
  keep: z.boolean().default(false),
});
export type EtlOptions = z.input<typeof EtlOptions>;

/** What a scenario run gets besides its options: where to register what it starts, and Ctrl-C. */
interface RunContext {
  cleanup: Cleanup;
  aborted: Promise<string>;
}

/** A scenario result with the detail behind its figures (every run, every count), kept in the JSON. */
type DetailedResult = ScenarioResult & { details: Record<string, unknown> };

/** Resolves with `p`, or rejects when the benchmark is interrupted first. */
async function unlessAborted<T>(p: Promise<T>, ctx: RunContext): Promise<T> {
  return Promise.race([
    p,
    ctx.aborted.then((why) => {
      throw new Error(why);
    }),
  ]);
}

/** A temporary folder removed at the end (kept with --keep). */
function workDir(kind: string, keep: boolean, cleanup: Cleanup): string {
  const dir = mkdtempSync(join(tmpdir(), `pipectl-bench-${kind}-`));
  cleanup.add(`remove ${dir}`, () => {
    if (keep) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** One pipeline that does nothing: the bench stack's own worker needs a catalog. */
function idleCatalog(name: string): Catalog {
  return catalogOf([definePipeline({ name, extract: () => [], load: () => 0 })]);
}

/** The frontend address of the stack's dev server. */
function addressOf(stack: BenchStack): string {
  const connection = stack.client.connection;
  if (!(connection instanceof Connection)) throw new Error("the bench stack's client has no plain Connection");
  return connection.options.address;
}

/**
 * The stack's embedded PostgreSQL, found through the port in its `postmaster.pid` (line 4); `startEmbeddedPostgres`
 * sees it running and hands back its connection URLs without starting anything (its `stop` does nothing).
 */
async function stackPostgres(stack: BenchStack): Promise<EmbeddedPostgresServer> {
  const dataDir = join(stack.stateDir, 'postgres');
  const port = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[3]);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in ${dataDir}/postmaster.pid`);
  const pg = await startEmbeddedPostgres({ dataDir, port });
  if (pg.started) throw new Error(`the stack's PostgreSQL on port ${port} did not answer`);
  return pg;
}

/** Environment of a pipectl process pointed at the stack's server. */
function cliEnv(stack: BenchStack, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: addressOf(stack),
    TEMPORAL_NAMESPACE: 'default',
    PIPECTL_LOG_LEVEL: 'WARN',
    NO_COLOR: '1',
    ...extra,
  };
}

/** Output, exit code and wall time of one process run to completion. */
interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `node <args>` to completion, timing it from just before the spawn to its exit. */
function runNode(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} did not finish in ${PROCESS_TIMEOUT_MS / 60_000} min\n${stderr}`));
    }, PROCESS_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Math.round(performance.now() - t0) });
    });
  });
}

/** Runs `node <args>` and fails with its output unless it exits 0. */
async function runNodeOk(what: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<ProcessRun> {
  const run = await runNode(args, env, cwd);
  if (run.code !== 0) throw new Error(`${what} exited with ${run.code}:\n${run.stderr.slice(-2000)}`);
  return run;
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? 0 : s.length % 2 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
};
/**
 * One system's rounds as one result: the first failure if a round failed, otherwise each figure's median over the
 * rounds (the peak RSS: the highest).
 */
function medianResult(runs: SystemResult[]): SystemResult {
  const bad = runs.find((r) => !r.ok);
  if (bad) return bad;
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.figures)))];
  const figure = (key: string) => {
    const values = runs.map((r) => r.figures[key]).filter((v): v is number => v !== undefined);
    return /^peak/.test(key) ? Math.max(...values) : median(values);
  };
  return { ...runs[0]!, figures: Object.fromEntries(keys.map((k) => [k, figure(k)])) };
}
const failed = (system: SystemResult['system'], setup: string, err: unknown): SystemResult => ({
  system,
  setup,
  ok: false,
  error: (err as Error).message,
  figures: {},
});
const environment = () => ({
  node: process.version,
  cpus: cpus().length,
  loadavg: loadavg().map((l) => +l.toFixed(2)),
});

// ---------------------------------------------------------------------------------------------------------------
// sync

/** What `pipectl sync --json` prints. */
interface SyncJson {
  counts: Record<'create' | 'update' | 'unchanged' | 'delete' | 'keep' | 'foreign', number>;
  results: { action: string; outcome: string }[];
}

async function syncScenario(input: SyncOptions, ctx: RunContext): Promise<DetailedResult> {
  const opts = SyncOptions.parse(input);
  const startedAt = new Date().toISOString();
  const work = workDir('sync', opts.keep, ctx.cleanup);
  const folder = writeDefinitions(join(work, 'pipelines'), opts.pipelines);
  const taskQueue = 'bench-sync';
  const stack = await unlessAborted(
    startBenchStack({ catalog: idleCatalog('bench_sync_idle'), taskQueue, keep: opts.keep }, ctx.cleanup),
    ctx,
  );
  const env = cliEnv(stack, { PIPECTL_TASK_QUEUE: taskQueue, PIPECTL_STATE_DIR: join(work, 'state') });
  const dirArgs = ['--dir', folder.dir];
  const notes: string[] = [];
  const details: Record<string, unknown> = { definitions: folder, environment: environment() };

  // The catalog alone (no server): how much of a sync is reading 1,000 TypeScript files.
  const validate = await unlessAborted(
    runNodeOk('pipectl validate', [PIPECTL_BIN, 'validate', ...dirArgs], env, work),
    ctx,
  );
  log(`pipectl validate of ${folder.pipelines} definitions: ${validate.ms} ms`);

  let pipectl: SystemResult;
  let schedules = 0;
  const setup = `pipectl sync --dir (${folder.pipelines} files), compiled CLI (one Schedule list, hashes compared from search attributes; describes, creates and updates 16 at a time)`;
  try {
    const first = await unlessAborted(
      runNodeOk('pipectl sync', [PIPECTL_BIN, 'sync', ...dirArgs, '--json'], env, work),
      ctx,
    );
    const firstJson = JSON.parse(first.stdout) as SyncJson;
    schedules = firstJson.counts.create;
    const notDone = firstJson.results.filter((r) => r.outcome !== 'done').length;
    if (schedules === 0 || notDone > 0 || firstJson.counts.update + firstJson.counts.unchanged > 0) {
      throw new Error(`the first sync did not create every Schedule: ${JSON.stringify(firstJson.counts)}`);
    }
    log(`first pipectl sync: ${first.ms} ms, ${schedules} Schedules created`);
    const noop = await unlessAborted(
      runNodeOk('pipectl sync', [PIPECTL_BIN, 'sync', ...dirArgs, '--json'], env, work),
      ctx,
    );
    const noopJson = JSON.parse(noop.stdout) as SyncJson;
    const c = noopJson.counts;
    if (c.create + c.update + c.delete + c.keep + c.foreign > 0 || c.unchanged !== schedules) {
      throw new Error(`the re-sync found something to change: ${JSON.stringify(c)}`);
    }
    log(`no-op pipectl sync: ${noop.ms} ms, ${c.unchanged} unchanged`);
    details.pipectl = { first: firstJson.counts, noop: c };
    pipectl = {
      system: 'pipectl',
      version: PIPECTL_VERSION,
      setup,
      ok: true,
      figures: { firstSyncMs: first.ms, noopSyncMs: noop.ms, validateMs: validate.ms, schedules },
    };
  } catch (err) {
    pipectl = failed('pipectl', setup, err);
  }

  // The baseline: the same Schedules under other IDs, created and described by a script of nothing but the client.
  let temporal: SystemResult;
  const rawSetup = 'compiled script: client.schedule.create each, then describe each, one after another';
  try {
    const catalog = loadCatalog(folder.dir);
    const options = [...desiredSchedules(catalog, taskQueue).values()].map((d) => ({
      ...d.options,
      scheduleId: `raw-${d.options.scheduleId}`,
    }));
    const optionsFile = join(work, 'schedules.json');
    writeFileSync(optionsFile, JSON.stringify(options));
    const script = compileRaw('raw-sync', work);
    const renv = rawEnv(env);
    const raw = async (mode: string, width?: number) => {
      const run = await unlessAborted(
        runNodeOk(`raw-sync ${mode}`, [script, mode, optionsFile, ...(width ? [String(width)] : [])], renv, work),
        ctx,
      );
      const counts = JSON.parse(run.stdout) as Record<string, number>;
      log(`raw ${mode}${width ? ` ×${width}` : ''}: ${run.ms} ms ${run.stdout.trim()}`);
      return { ms: run.ms, counts };
    };
    const create = await raw('create');
    if (create.counts.created !== options.length)
      throw new Error(`created ${create.counts.created} of ${options.length}`);
    const describe = await raw('describe');
    if (describe.counts.found !== options.length)
      throw new Error(`found ${describe.counts.found} of ${options.length}`);
    const describe16 = await raw('describe', 16);
    const list = await raw('list');
    details.temporal = { create: create.counts, describe: describe.counts, list: list.counts };
    temporal = {
      system: 'temporal',
      version: SDK_VERSION,
      setup: rawSetup,
      ok: true,
      figures: {
        firstSyncMs: create.ms,
        noopSyncMs: describe.ms,
        noopConcurrent16Ms: describe16.ms,
        listAllMs: list.ms,
        schedules: options.length,
      },
    };
    notes.push(
      `Both sides are whole processes (node start, connect, work). pipectl also compiles and validates every ` +
        `definition file (validateMs: \`pipectl validate\` alone, no server). It lists every Schedule once: a ` +
        `Schedule whose listed PipectlScheduleHash search attribute equals the wanted hash is unchanged without a ` +
        `describe; a sync that changed something waits until the list shows it. noopConcurrent16Ms: the raw ` +
        `describes, 16 in flight; listAllMs: one schedule.list() over the server's ${list.counts.listed} Schedules.`,
    );
  } catch (err) {
    temporal = failed('temporal', rawSetup, err);
  }
  if (pipectl.ok) {
    // The no-op again, after the baseline: tells a cost of pipectl's from one of the server's state at the time.
    const again = await unlessAborted(runNode([PIPECTL_BIN, 'sync', ...dirArgs, '--json'], env, work), ctx);
    if (again.code === 0) pipectl.figures.noopAgainMs = again.ms;
    log(`no-op pipectl sync again, after the baseline: ${again.ms} ms`);
  }
  if (pipectl.ok && temporal.ok) {
    pipectl.figures.noopRatioToTemporal = +(pipectl.figures.noopSyncMs! / temporal.figures.noopSyncMs!).toFixed(2);
    pipectl.figures.firstRatioToTemporal = +(pipectl.figures.firstSyncMs! / temporal.figures.firstSyncMs!).toFixed(2);
  }
  return {
    scenario: 'sync',
    size: { pipelines: folder.pipelines, schedules },
    startedAt,
    results: [pipectl, temporal],
    notes: [
      `${folder.pipelines} definitions: ${folder.shared} on 10 shared schedules, ${folder.distinct} on schedules of ` +
        `their own, ${folder.downstream} downstream without a schedule → ${schedules} groups (Schedules).`,
      ...notes,
    ],
    details,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// cold start

/** One timed worker start. */
interface WorkerStart {
  /** Process start → its "worker polling" line. */
  pollingMs: number;
  /** Process start → the waiting run's first workflow task completed (server's event time). */
  firstTaskMs: number;
  /** Process start → the waiting run completed (seen by the client). */
  firstRunMs: number;
  /** Resident memory of the worker process once the run completed. */
  rssBytes: number;
}

/**
 * Spawns a worker process with `handle`'s run already waiting on its task queue, and times its start. The process
 * is stopped with SIGTERM afterwards.
 */
async function timeWorkerStart(
  client: Client,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  handle: WorkflowHandle,
  ctx: RunContext,
): Promise<WorkerStart> {
  const spawnedAt = Date.now();
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let output = '';
  const rss = new PeakSampler(() => (child.pid ? procRss(child.pid) : undefined), 50);
  try {
    const pollingMs = await unlessAborted(
      new Promise<number>((resolve, reject) => {
        const onData = (d: Buffer) => {
          output += d.toString();
          if (output.includes('worker polling')) resolve(Math.round(performance.now() - t0));
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        void exited.then((code) => reject(new Error(`the worker exited with ${code} before polling:\n${output}`)));
        setTimeout(() => reject(new Error(`the worker did not poll within 120 s:\n${output}`)), 120_000).unref();
      }),
      ctx,
    );
    await unlessAborted(
      Promise.race([
        handle.result(),
        exited.then((code) => {
          throw new Error(`the worker exited with ${code} before the run completed:\n${output}`);
        }),
      ]),
      ctx,
    );
    const firstRunMs = Date.now() - spawnedAt;
    const history = await client.workflow.getHandle(handle.workflowId).fetchHistory();
    const firstTask = history.events?.find((e) => e.workflowTaskCompletedEventAttributes);
    const firstTaskMs = firstTask ? tsToMs(firstTask.eventTime) - spawnedAt : NaN;
    return { pollingMs, firstTaskMs, firstRunMs, rssBytes: rss.stop() };
  } finally {
    rss.stop();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const stopped = await Promise.race([
        exited.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 15_000)),
      ]);
      if (!stopped) child.kill('SIGKILL');
    }
  }
}

async function coldStartScenario(input: ColdStartOptions, ctx: RunContext): Promise<DetailedResult> {
  const opts = ColdStartOptions.parse(input);
  checkBundle('bench:cold-start');
  const startedAt = new Date().toISOString();
  const work = workDir('cold-start', opts.keep, ctx.cleanup);
  const folder = writeDefinitions(join(work, 'pipelines'), opts.pipelines, 'cold');
  const catalog = loadCatalog(folder.dir);
  const spec = [...catalog.pipelines.values()][0]!.spec;
  const stack = await unlessAborted(
    startBenchStack(
      { catalog: idleCatalog('bench_cold_idle'), taskQueue: 'bench-cold-idle', keep: opts.keep },
      ctx.cleanup,
    ),
    ctx,
  );
  const { client } = stack;
  const pg = await stackPostgres(stack);
  // A deployed worker has its staging connection configured (no embedded PostgreSQL of its own to start).
  const stagingUrl = await pg.database('pipectl');

  // The baseline's bundle and script are built before anything is timed, as `npm run build` builds pipectl's.
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('./raw/trivial-workflow'),
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (m) => log(m),
    },
  });
  const rawBundle = join(work, 'trivial-bundle.js');
  writeFileSync(rawBundle, code);
  const rawWorker = compileRaw('raw-worker', work);

  const runs: { pipectl?: WorkerStart; temporal?: WorkerStart }[] = [];
  const errors: { pipectl?: string; temporal?: string } = {};
  const day = 86_400_000;
  for (let i = 0; i < opts.runs; i++) {
    const run: (typeof runs)[number] = {};
    runs.push(run);
    if (!errors.pipectl) {
      try {
        const queue = `bench-cold-pipectl-${i}`;
        const start = Date.parse('2026-01-01T00:00:00.000Z') + i * day;
        const window = { start: new Date(start).toISOString(), end: new Date(start + day).toISOString() };
        const handle = await startPipelineRun(client, spec, window, 'manual', queue);
        const env = cliEnv(stack, {
          PIPECTL_TASK_QUEUE: queue,
          PIPECTL_CONNECTION_PIPECTL: stagingUrl,
          PIPECTL_STATE_DIR: join(work, 'state'),
          PIPECTL_SHUTDOWN_GRACE: '2s',
        });
        run.pipectl = await timeWorkerStart(
          client,
          [PIPECTL_BIN, 'worker', '--dir', folder.dir],
          env,
          work,
          handle,
          ctx,
        );
        log(`pipectl worker ${i + 1}/${opts.runs}: ${JSON.stringify(run.pipectl)}`);
      } catch (err) {
        errors.pipectl = (err as Error).message;
        log(`pipectl worker ${i + 1}: ${errors.pipectl}`);
      }
    }
    if (!errors.temporal) {
      try {
        const queue = `bench-cold-raw-${i}`;
        const handle = await client.workflow.start('trivial', {
          taskQueue: queue,
          workflowId: `bench-cold-raw-${i}-${startedAt}`,
        });
        const env = rawEnv(cliEnv(stack, { RAW_TASK_QUEUE: queue, RAW_BUNDLE: rawBundle }));
        run.temporal = await timeWorkerStart(client, [rawWorker], env, work, handle, ctx);
        log(`raw worker ${i + 1}/${opts.runs}: ${JSON.stringify(run.temporal)}`);
      } catch (err) {
        errors.temporal = (err as Error).message;
        log(`raw worker ${i + 1}: ${errors.temporal}`);
      }
    }
  }

  // Where a pipectl start goes: node + the CLI's modules (`--version`), then the catalog (`validate`).
  const env = cliEnv(stack);
  const version = await runNodeOk('pipectl --version', [PIPECTL_BIN, '--version'], env, work);
  const validate = await runNodeOk('pipectl validate', [PIPECTL_BIN, 'validate', '--dir', folder.dir], env, work);
  const nodeOnly = await runNodeOk('node -e 0', ['-e', '0'], env, work);

  const figuresOf = (system: 'pipectl' | 'temporal'): Figures => {
    const starts = runs.flatMap((r) => (r[system] ? [r[system]] : []));
    const polling = starts.map((s) => s.pollingMs);
    return {
      coldStartMs: median(polling),
      coldStartMinMs: Math.min(...polling),
      coldStartMaxMs: Math.max(...polling),
      firstTaskMs: median(starts.map((s) => s.firstTaskMs)),
      firstRunMs: median(starts.map((s) => s.firstRunMs)),
      workerRssBytes: median(starts.map((s) => s.rssBytes)),
      runs: starts.length,
    };
  };
  const pipectlSetup = `pipectl worker --dir (${opts.pipelines} pipelines), prebuilt bundle, staging connection set`;
  const rawSetup = 'compiled script: NativeConnection + Worker.create with a prebuilt bundle of a trivial workflow';
  const pipectl: SystemResult = errors.pipectl
    ? failed('pipectl', pipectlSetup, new Error(errors.pipectl))
    : {
        system: 'pipectl',
        version: PIPECTL_VERSION,
        setup: pipectlSetup,
        ok: true,
        figures: { ...figuresOf('pipectl'), cliStartMs: version.ms, validateMs: validate.ms, nodeStartMs: nodeOnly.ms },
      };
  const temporal: SystemResult = errors.temporal
    ? failed('temporal', rawSetup, new Error(errors.temporal))
    : { system: 'temporal', version: SDK_VERSION, setup: rawSetup, ok: true, figures: figuresOf('temporal') };
  if (pipectl.ok && temporal.ok) {
    pipectl.figures.ratioToTemporal = +(pipectl.figures.coldStartMs! / temporal.figures.coldStartMs!).toFixed(2);
  }
  const list = (system: 'pipectl' | 'temporal') =>
    runs.map((r) => (r[system] ? r[system].pollingMs : 'failed')).join(', ');
  return {
    scenario: 'cold-start',
    size: { runs: opts.runs, pipelines: opts.pipelines },
    startedAt,
    results: [pipectl, temporal],
    notes: [
      `coldStartMs: median of process start → "worker polling" (printed once the Worker is built, just before run()); ` +
        `firstTaskMs: → the waiting run's first workflow task completed; firstRunMs: → that run completed (pipectl: ` +
        `extract, transform, load, drop staged; raw: one workflow task). Runs alternate pipectl / raw.`,
      `pipectl runs (ms to polling): ${list('pipectl')}; raw runs: ${list('temporal')}.`,
      `Where a pipectl start goes: node alone ${nodeOnly.ms} ms; \`pipectl --version\` (node + CLI modules) ` +
        `${version.ms} ms; \`pipectl validate\` (+ tsx and the ${opts.pipelines} definitions) ${validate.ms} ms; the ` +
        `rest up to polling is the worker runtime, connection and Worker.create with the bundle.`,
    ],
    details: { runs, environment: environment() },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// ETL

const ETL_PIPELINE = 'bench_etl_orders';

/**
 * The pipeline the ETL scenario runs, written as a definition file (a transform spread over threads loads its file):
 * extract the window's orders, transform each, replace the window's rows.
 */
function etlCatalog(dir: string, threads: number): Catalog {
  const fixture = (name: string) => JSON.stringify(join(__dirname, name));
  writeFileSync(
    join(dir, 'etl.ts'),
    `import { definePipeline, postgres } from ${fixture('../../index')};
import { EXTRACT_SQL, PIPECTL_TARGET, transformOrder } from ${fixture('etl-fixture/orders')};

const orders = (name: string, transformThreads: number) =>
  definePipeline({
    name,
    description: 'Orders of the window, priced with VAT, into the pipectl target',
    // A benchmark fails loudly rather than retrying into a different measurement.
    retry: { maximumAttempts: 1 },
    extract: postgres.query({ connection: 'warehouse', sql: EXTRACT_SQL }),
    // One row in, one row out: the row transform streams the window chunk by chunk.
    transformRow: transformOrder,
    transformThreads,
    // The load writes each chunk as the transform stages it.
    overlapLoad: true,
    load: postgres.replace({ connection: 'warehouse', table: PIPECTL_TARGET, windowColumn: 'ts' }),
  });

export const etl = orders(${JSON.stringify(ETL_PIPELINE)}, ${threads});
// The same pipeline with its transform on the worker's own thread.
export const oneThread = orders(${JSON.stringify(`${ETL_PIPELINE}_1`)}, 1);
`,
  );
  return loadCatalog(dir);
}

const stepMs = (s: { startedAt?: string; finishedAt?: string }) =>
  s.startedAt && s.finishedAt ? Date.parse(s.finishedAt) - Date.parse(s.startedAt) : NaN;

/** From the first step's start to the last step's end. */
function stepsSpanMs(steps: Record<string, { startedAt?: string; finishedAt?: string }>): number {
  const ran = Object.values(steps).filter((s) => s.startedAt && s.finishedAt);
  const first = Math.min(...ran.map((s) => Date.parse(s.startedAt!)));
  return Math.max(...ran.map((s) => Date.parse(s.finishedAt!))) - first;
}

async function etlScenario(input: EtlOptions, ctx: RunContext): Promise<DetailedResult> {
  const opts = EtlOptions.parse(input);
  checkBundle('bench:etl');
  const startedAt = new Date().toISOString();
  const taskQueue = 'bench-etl';
  const catalog = etlCatalog(workDir('etl', opts.keep, ctx.cleanup), opts.threads);
  const stack = await unlessAborted(startBenchStack({ catalog, taskQueue, keep: opts.keep }, ctx.cleanup), ctx);
  const pg = await stackPostgres(stack);
  const pool = new Pool({ connectionString: await pg.database('warehouse'), max: 4 });
  ctx.cleanup.add('close the warehouse pool', () => pool.end());

  const setupStart = performance.now();
  for (const sql of setupSql(opts.rows)) await unlessAborted(pool.query(sql), ctx);
  const setupMs = Math.round(performance.now() - setupStart);
  log(`source of ${opts.rows.toLocaleString('en-US')} rows generated in ${(setupMs / 1000).toFixed(1)} s`);
  const notes: string[] = [];
  const details: Record<string, unknown> = { setupMs, environment: environment() };

  const threadsSetup = (n: number) => (n > 1 ? `spread over ${n} worker threads (transformThreads)` : 'on one thread');
  const pipectlSetup = (n: number) =>
    `postgres.query (COPY) → transformRow (streamed chunk by chunk, ${threadsSetup(n)}) → postgres.replace (COPY, alongside the transform: overlapLoad), one window, in-process worker, staging in PostgreSQL`;
  /** One run of a pipeline of the ETL definition file into the emptied pipectl target. */
  async function measure(name: string, threads: number): Promise<SystemResult> {
    try {
      // Every measured run starts from an empty target and a checkpoint, so none pays for another's writes.
      await pool.query(`TRUNCATE ${PIPECTL_TARGET}; CHECKPOINT`);
      const spec = catalog.pipelines.get(name)!.spec;
      const rss = new PeakSampler(() => process.memoryUsage().rss, 100);
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      const handle = await startPipelineRun(stack.client, spec, WINDOW, 'manual', taskQueue);
      const result = await unlessAborted(
        Promise.race([
          handle.result(),
          stack.workerStopped.then((why) => {
            throw new Error(why);
          }),
        ]),
        ctx,
      );
      const wallMs = Math.round(performance.now() - t0);
      const used = process.cpuUsage(cpu);
      const peakRss = rss.stop();
      if (result.rowsLoaded !== opts.rows) throw new Error(`pipectl loaded ${result.rowsLoaded} of ${opts.rows} rows`);
      const [extractMs, transformMs, loadMs] = (['extract', 'transform', 'load'] as const).map((s) =>
        stepMs(result.steps[s]),
      );
      log(
        `pipectl, transform ${threadsSetup(threads)}: ${opts.rows} rows in ${wallMs} ms ` +
          `(extract ${extractMs}, transform ${transformMs}, load ${loadMs})`,
      );
      details[`pipectlSteps${threads}`] = result.steps;
      details[`pipectlTarget${threads}`] = (await pool.query(CHECKSUM_SQL)).rows[0];
      return {
        system: 'pipectl',
        version: PIPECTL_VERSION,
        setup: pipectlSetup(threads),
        ok: true,
        figures: {
          rowsPerSec: Math.round(opts.rows / (wallMs / 1000)),
          wallMs,
          extractMs: extractMs!,
          transformMs: transformMs!,
          loadMs: loadMs!,
          // The rest of the wall time: starting the run, workflow tasks between steps, dropping the staged data. The
          // load runs alongside the transform (overlapLoad), so the steps' span counts, not the sum of their times.
          orchestrationMs: wallMs - stepsSpanMs(result.steps),
          workerCpuMs: Math.round((used.user + used.system) / 1000),
          peakRssBytes: peakRss,
        },
      };
    } catch (err) {
      return failed('pipectl', pipectlSetup(threads), err);
    }
  }
  const copySetup =
    'hand-written COPY script (no orchestration): COPY out → same transform in Node → COPY in, one transaction';
  /** One run of the COPY script into its emptied target. */
  async function measureCopy(): Promise<SystemResult> {
    try {
      await pool.query(`TRUNCATE ${COPY_TARGET}; CHECKPOINT`);
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      const rows = await unlessAborted(copyScript(pool, COPY_TARGET, WINDOW), ctx);
      const wallMs = Math.round(performance.now() - t0);
      const used = process.cpuUsage(cpu);
      if (rows !== opts.rows) throw new Error(`the COPY script moved ${rows} of ${opts.rows} rows`);
      log(`COPY script: ${rows} rows in ${wallMs} ms`);
      return {
        system: 'temporal',
        setup: copySetup,
        ok: true,
        figures: {
          rowsPerSec: Math.round(rows / (wallMs / 1000)),
          wallMs,
          cpuMs: Math.round((used.user + used.system) / 1000),
        },
      };
    } catch (err) {
      return failed('temporal', copySetup, err);
    }
  }

  // Each round runs the systems one after the other, the one-thread run first, so the figure the goal reads never
  // runs on a colder PostgreSQL; the script right after pipectl, so each round's ratio compares neighbours.
  const rounds: { oneThread?: SystemResult; pipectl: SystemResult; copy: SystemResult }[] = [];
  for (let round = 1; round <= opts.runs; round++) {
    if (opts.runs > 1) log(`round ${round} of ${opts.runs}`);
    const oneThread = opts.threads > 1 ? await measure(`${ETL_PIPELINE}_1`, 1) : undefined;
    let many = await measure(ETL_PIPELINE, opts.threads);
    if (oneThread?.ok && many.ok) {
      const [one, threaded] = [details.pipectlTarget1, details[`pipectlTarget${opts.threads}`]];
      if (JSON.stringify(one) !== JSON.stringify(threaded)) {
        many = failed('pipectl', pipectlSetup(opts.threads), new Error('the one-thread run loaded different rows'));
      }
    }
    const copyRun = await measureCopy();
    rounds.push({ ...(oneThread ? { oneThread } : {}), pipectl: many, copy: copyRun });
    if (!many.ok || !copyRun.ok || (oneThread && !oneThread.ok)) break;
  }
  details.rounds = rounds.map((r) => ({
    ...(r.oneThread ? { oneThread: r.oneThread.figures } : {}),
    pipectl: r.pipectl.figures,
    copy: r.copy.figures,
  }));
  let pipectl = medianResult(rounds.map((r) => r.pipectl));
  const copy = medianResult(rounds.map((r) => r.copy));
  const oneThread = opts.threads > 1 ? medianResult(rounds.map((r) => r.oneThread!)) : undefined;
  if (pipectl.ok && copy.ok && rounds.length > 1) {
    const ratios = rounds.map((r) => r.pipectl.figures.rowsPerSec! / r.copy.figures.rowsPerSec!);
    pipectl.figures.roundRatioMin = +Math.min(...ratios).toFixed(3);
    pipectl.figures.roundRatioMax = +Math.max(...ratios).toFixed(3);
    notes.push(
      `${rounds.length} rounds; each system's figures are the median of its rounds. Round by round pipectl moved ` +
        `${ratios.map((x) => `${(x * 100).toFixed(0)}%`).join(', ')} of the COPY script's rows/s.`,
    );
  }

  if (pipectl.ok && copy.ok) {
    const diff = (await pool.query<Record<string, string>>(COMPARE_SQL)).rows[0]!;
    details.comparison = diff;
    if (Number(diff.only_pipectl) + Number(diff.only_copy) > 0 || diff.pipectl_rows !== diff.copy_rows) {
      pipectl = failed('pipectl', pipectlSetup(opts.threads), new Error(`the targets differ: ${JSON.stringify(diff)}`));
    } else {
      notes.push(`Both targets hold the same ${diff.pipectl_rows} rows (EXCEPT ALL both ways is empty).`);
      pipectl.figures.copyRowsPerSec = copy.figures.rowsPerSec!;
      pipectl.figures.ratioToCopy = +(pipectl.figures.rowsPerSec! / copy.figures.rowsPerSec!).toFixed(3);
    }
  }
  if (oneThread?.ok && copy.ok) {
    // The transform on the worker's own thread, as a pipeline without transformThreads runs it.
    pipectl.figures.oneThreadWallMs = oneThread.figures.wallMs!;
    pipectl.figures.oneThreadTransformMs = oneThread.figures.transformMs!;
    pipectl.figures.oneThreadRatioToCopy = +(oneThread.figures.rowsPerSec! / copy.figures.rowsPerSec!).toFixed(3);
    details.oneThread = oneThread.figures;
    notes.push(
      `With the transform on one thread (no transformThreads) the same pipeline took ${oneThread.figures.wallMs} ms ` +
        `(transform ${oneThread.figures.transformMs} ms): ${(pipectl.figures.oneThreadRatioToCopy * 100).toFixed(0)}% ` +
        'of the COPY script. Both runs loaded the same rows (same count and checksum).',
    );
  } else if (oneThread && !oneThread.ok) {
    notes.push(`The one-thread run failed: ${oneThread.error ?? 'see the log'}`);
  }
  notes.push(
    'The COPY script is reported as system `temporal`, the baseline slot the report and the goal read; it uses no ' +
      "Temporal. pipectl's figures repeat its rate as copyRowsPerSec and ratioToCopy. All runs ran in this process " +
      `against the same embedded PostgreSQL, each after a CHECKPOINT: ${oneThread ? 'pipectl on one thread, pipectl with transformThreads' : 'pipectl'}, ` +
      "then the script; workerCpuMs / cpuMs are this process's CPU during each.",
  );
  return {
    scenario: 'etl',
    size: { rows: opts.rows },
    startedAt,
    results: [pipectl, copy],
    notes,
    details,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// entry points

/** Runs a scenario with its own cleanup (for `npm run bench`, which calls these one after another). */
async function standalone<O>(
  scenario: (o: O, ctx: RunContext) => Promise<DetailedResult>,
  options: O,
): Promise<ScenarioResult> {
  const cleanup = new Cleanup();
  try {
    return await scenario(options, { cleanup, aborted: new Promise<string>(() => undefined) });
  } finally {
    await cleanup.run();
  }
}

/** `pipectl sync` of generated definitions, first and no-op, against raw `schedule.create` / `describe`. */
export function runSync(options: SyncOptions): Promise<ScenarioResult> {
  return standalone(syncScenario, options);
}

/** `pipectl worker` process start to polling (median of `runs`), against a raw Temporal worker. */
export function runColdStart(options: ColdStartOptions): Promise<ScenarioResult> {
  return standalone(coldStartScenario, options);
}

/** One window of N rows PostgreSQL → transform → PostgreSQL through pipectl, against a hand-written COPY script. */
export function runEtl(options: EtlOptions): Promise<ScenarioResult> {
  return standalone(etlScenario, options);
}

const USAGE = `Usage: npx tsx bench/scenarios/ops.ts <scenario> [options]   (after npm run build)

  sync        --pipelines N   pipeline definition files (default 1000)
  cold-start  --runs N        worker starts of each system (default 5); --pipelines N in its catalog (default 10)
  etl         --rows N        source rows (default 1000000)
              --threads N     the pipeline's transformThreads (default 2); above 1 a one-thread run is measured too
              --runs N        rounds of pipectl then the script (default 3); each system's median counts

  --keep      keep the temporary folders (definitions, SQLite file, server log)
  -h, --help  this text

Writes bench/results/<scenario>-<time>.json. Exit 0 goal met, 1 bad options, 2 failed, 3 goal missed.`;

type Scenario = 'sync' | 'cold-start' | 'etl';
type CliOptions = { scenario: Scenario; options: SyncOptions | ColdStartOptions | EtlOptions };

function readOptions(argv: string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        pipelines: { type: 'string' },
        runs: { type: 'string' },
        rows: { type: 'string' },
        threads: { type: 'string' },
        keep: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new OptionsError(`${(err as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) throw new OptionsError(USAGE, 0);
  const scenario = positionals[0];
  if (positionals.length !== 1 || !['sync', 'cold-start', 'etl'].includes(scenario!)) {
    throw new OptionsError(`name one scenario: sync, cold-start or etl\n\n${USAGE}`);
  }
  const allowed: Record<Scenario, string[]> = {
    sync: ['pipelines'],
    'cold-start': ['runs', 'pipelines'],
    etl: ['rows', 'threads', 'runs'],
  };
  const foreign = (['pipelines', 'runs', 'rows', 'threads'] as const).find(
    (k) => values[k] !== undefined && !allowed[scenario as Scenario].includes(k),
  );
  if (foreign) throw new OptionsError(`--${foreign} does not apply to ${scenario}\n\n${USAGE}`);
  const schema = { sync: SyncOptions, 'cold-start': ColdStartOptions, etl: EtlOptions }[scenario as Scenario];
  const result = schema.safeParse({
    ...(values.pipelines !== undefined ? { pipelines: values.pipelines } : {}),
    ...(values.runs !== undefined ? { runs: values.runs } : {}),
    ...(values.rows !== undefined ? { rows: values.rows } : {}),
    ...(values.threads !== undefined ? { threads: values.threads } : {}),
    keep: values.keep ?? false,
  });
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new OptionsError(`${flagOf(issue.path[0])}: ${issue.message}\n\n${USAGE}`);
  }
  return { scenario: scenario as Scenario, options: result.data };
}

const format = (name: string, v: number) =>
  /Bytes$/.test(name)
    ? `${(v / 1024 ** 2).toFixed(1)} MiB`
    : /Ms$/.test(name)
      ? `${v.toLocaleString('en-US')} ms`
      : v.toLocaleString('en-US');

/** The result as readable lines: each system's figures, then the notes. */
function table(r: ScenarioResult): string {
  const lines = [
    `${r.scenario} (${Object.entries(r.size)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  ];
  for (const s of r.results) {
    lines.push(`  ${s.system}${s.version ? ` ${s.version}` : ''}: ${s.setup ?? ''}`);
    if (!s.ok) lines.push(`    FAILED: ${s.error}`);
    for (const [k, v] of Object.entries(s.figures)) lines.push(`    ${k.padEnd(22)} ${format(k, v)}`);
  }
  for (const n of r.notes ?? []) lines.push(`  - ${n}`);
  return lines.join('\n');
}

/** Whether every system ran and pipectl met the scenario's goal. */
function passed(r: ScenarioResult): boolean {
  if (!r.results.every((s) => s.ok)) return false;
  const p = r.results.find((s) => s.system === 'pipectl')!.figures;
  if (r.scenario === 'sync') return p.noopSyncMs! <= GOALS.noopSyncMs;
  if (r.scenario === 'cold-start') return p.coldStartMs! <= GOALS.coldStartMs;
  return (p.ratioToCopy ?? 0) >= GOALS.etlShareOfCopy;
}

if (require.main === module) {
  const scenario = process.argv[2];
  runBench<CliOptions, DetailedResult>({
    name: ['sync', 'cold-start', 'etl'].includes(scenario ?? '') ? scenario! : 'ops',
    readOptions,
    run: ({ scenario: name, options }, cleanup, aborted) => {
      const ctx = { cleanup, aborted };
      if (name === 'sync') return syncScenario(options, ctx);
      if (name === 'cold-start') return coldStartScenario(options, ctx);
      return etlScenario(options, ctx);
    },
    table,
    passed,
  });
}
