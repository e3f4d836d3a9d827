/**
 * Benchmark: one durable backfill over a long range of windows, on a private Temporal dev server.
 *
 *   npm run bench:backfill -- --windows 10000 --parallel 20 --continue-after 500
 *   npx tsx bench/backfill-range.ts --windows 200      (after `npm run build`: the worker serves dist/'s bundle)
 *   npx tsx bench/backfill-range.ts --help             (all options: --pipelines, --timeout, --keep, ...)
 *
 * Starts a dev server with a fresh SQLite file and an embedded PostgreSQL (the worker's staging connection) in a
 * temporary folder and an in-process worker, defines one group of one or two no-op pipelines firing every minute, and
 * backfills `--windows` windows of it the way `pipectl backfill <group>` does (same input, same workflow ID, same
 * start): one `backfill` workflow, one child `dagRun` per window, at most `--parallel` at once, continuing as new after
 * `--continue-after` windows. Polls its `backfillProgress` query while it runs. Reports whether it completed, the
 * window counts, wall time, windows/s, peak RSS, SQLite growth, the continue-as-new chain and its largest history
 * against Temporal's limits, and how long the backfill workflow's own tasks took. Prints a table and writes JSON to
 * bench/results/. Everything it started is stopped at the end, also on failure or Ctrl-C.
 *
 * Exit codes: 0 completed within Temporal's limits; 1 bad options; 2 the benchmark itself failed; 3 the backfill did
 * not complete (timeout, failed windows) or came close to a limit.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  awaitBackfill,
  backfillWorkflowId,
  buildBackfillInput,
  progressLine,
  startBackfill,
  type BackfillRequest,
} from '../cli/backfill';
import { definePipeline, type PipelineDefinition } from '../index';
import { catalogOf } from '../test/helpers/catalog';
import { backfillProgressQuery, type BackfillProgress } from '../workflows/backfill-definitions';
import {
  chainStats,
  childBreakdown,
  spread,
  type ChildBreakdown,
  type ParentSideTimes,
  type RunHistoryStats,
  type Spread,
} from './history-stats';
import {
  changedFiles,
  checkBundle,
  cpuPressure,
  DurationOption,
  flagOf,
  gitCommit,
  log,
  mib,
  OptionsError,
  PeakSampler,
  procCpuSeconds,
  procRss,
  runBench,
  size,
  sqliteBytes,
  startBenchStack,
  type Cleanup,
} from './harness';
import { serverMetrics, type ServerMetrics } from './server-metrics';

/** Temporal's default limits (dev server and Cloud alike). */
const LIMITS = {
  payloadBytes: 2 * 1024 * 1024,
  historyBytes: 50 * 1024 * 1024,
  historyEvents: 51_200,
  pendingChildren: 2_000,
};
/** Above this fraction of a limit, a result counts as too close to it. */
const WARN_FRACTION = 0.8;
/** DAG runs (one per window) whose histories are read to show where a window's time goes. */
const CHILD_SAMPLE = 30;
/** How often the progress query is polled. */
const PROGRESS_EVERY_MS = 5_000;
/** No window finished for this long: say so in the progress lines. */
const STALL_NOTE_MS = 120_000;
/** The group backfilled, and the length of its windows. */
const GROUP = 'bench-backfill';
const WINDOW_MS = 60_000;
/** Start of the first window. */
const RANGE_START = '2026-01-01T00:00:00.000Z';

/** Command-line options of the benchmark. */
export const BenchOptions = z.object({
  /** Windows in the range. */
  windows: z.coerce.number().int().min(1).max(200_000).default(10_000),
  /** Pipelines in the group: `bf_a` alone, or `bf_a` → `bf_b`. */
  pipelines: z.coerce.number().int().min(1).max(2).default(1),
  /** The backfill's `parallel`: most DAG runs at once. */
  parallel: z.coerce.number().int().min(1).max(1000).default(20),
  /** The backfill's `continueAsNewAfter`: windows one workflow run starts. */
  continueAfter: z.coerce.number().int().min(1).default(500),
  /** Longest the backfill may take before the benchmark gives up on it. */
  timeoutMs: DurationOption,
  /** Keep the temporary folder (SQLite file, server log) for inspection. */
  keep: z.boolean().default(false),
});
export type BenchOptions = z.infer<typeof BenchOptions>;

function readOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      windows: { type: 'string' },
      pipelines: { type: 'string' },
      parallel: { type: 'string' },
      'continue-after': { type: 'string' },
      timeout: { type: 'string', default: '60m' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) throw new OptionsError(USAGE, 0);
  const parsed = BenchOptions.safeParse({
    windows: values.windows,
    pipelines: values.pipelines,
    parallel: values.parallel,
    continueAfter: values['continue-after'],
    timeoutMs: values.timeout,
    keep: values.keep,
  });
  if (!parsed.success) {
    throw new OptionsError(parsed.error.issues.map((i) => `${flagOf(i.path[0])}: ${i.message}`).join('\n'));
  }
  return parsed.data;
}

const USAGE = `Usage: npx tsx bench/backfill-range.ts [options]   (run \`npm run build\` first; npm run bench:backfill does)

  --windows N          one-minute windows in the range (10000)
  --pipelines 1|2      no-op pipelines in the group: bf_a, or bf_a -> bf_b (1)
  --parallel N         the backfill's parallel: most DAG runs at once (20)
  --continue-after N   the backfill's continueAsNewAfter: windows per workflow run (500)
  --timeout DURATION   give up on the backfill after this long (60m)
  --keep               keep the temporary folder (SQLite file, server log)`;

/** The benchmark's group: one or two no-op pipelines on a one-minute schedule, so only orchestration is measured. */
function backfillPipelines(count: number): PipelineDefinition[] {
  const schedule = { every: '1 minute', group: GROUP };
  const names = ['bf_a', 'bf_b'].slice(0, count);
  return names.map((name, i) =>
    definePipeline({
      name,
      schedule,
      ...(i > 0 ? { dependsOn: [names[i - 1]!] } : {}),
      extract: () => [],
      load: () => 0,
    }),
  );
}

/** Result of one benchmark, as written to JSON. */
export interface BackfillRangeResult {
  startedAt: string;
  options: BenchOptions;
  environment: {
    node: string;
    cpus: number;
    loadavgAtStart: number[];
    loadavgAtEnd: number[];
    /** CPU pressure (PSI "some", % of the last 60 s) at the end of the run. */
    cpuPressureAtEnd?: number;
    commit?: string;
    /** Tracked files changed in the working tree when the run started. */
    changedFiles: string[];
  };
  backfill: { workflowId: string; group: string; pipelines: string[]; from: string; to: string; total: number };
  completed: boolean;
  outcome: string;
  /** The backfill's own counts at the end (its result, or its last answered progress query). */
  progress?: Pick<BackfillProgress, 'status' | 'total' | 'done' | 'failed' | 'skipped' | 'running' | 'remaining'>;
  /** Failed windows as the backfill listed them (at most 10 here). */
  failedWindows: BackfillProgress['failedWindows'];
  setupMs: number;
  /** Building the input as the CLI does, including counting the windows. */
  inputMs: number;
  wallMs: number;
  windowsPerSecond: number;
  /** DAG run time summed over windows, divided by the wall time: how much of `parallel` was used on average. */
  meanInFlight: number;
  /** Per window: the backfill asks for the DAG run → its history records the run's completion. */
  windowDurations: Spread;
  /** The backfill's workflow tasks over the whole chain: how busy the backfill workflow itself was. */
  backfillWorkflowTasks: { count: number; totalMs: number; meanMs: number; maxMs: number; shareOfWall: number };
  peakRssBytes: { sampled: number; kernelMaxRss: number; server?: number };
  cpuSeconds: { benchProcess: number; server?: number };
  sqlite: { beforeBytes: number; afterBytes: number; growthBytes: number };
  inputPayloadBytes: { firstRun: number; largestRun: number };
  chain: { runs: number; perRun: RunHistoryStats[] };
  /** Where a sample of DAG runs spent their time. */
  children: ChildBreakdown;
  /** The server's own figures at the end of the run (undefined when its metrics did not answer). */
  server?: ServerMetrics;
  largestHistory: { runIndex: number; events: number; bytes: number };
  largestEvent: { runIndex: number; type: string; bytes: number; eventId: number };
  limits: Record<string, { value: number; limit: number; fraction: number; ok: boolean }>;
}

async function bench(options: BenchOptions, cleanup: Cleanup, aborted: Promise<string>): Promise<BackfillRangeResult> {
  const t0 = Date.now();
  const startedAt = new Date(t0).toISOString();
  const loadavgAtStart = loadavg();
  const changed = changedFiles();
  if (changed.length > 0) log(`note: the working tree has changes in ${changed.join(', ')}`);
  checkBundle('bench:backfill');

  const catalog = catalogOf(backfillPipelines(options.pipelines));
  const taskQueue = 'bench-backfill';
  const { dbFile, serverPid, metricsPort, client, workerStopped } = await startBenchStack(
    { catalog, taskQueue, keep: options.keep },
    cleanup,
  );

  // The range as a user would give it to `pipectl backfill bench-backfill --from … --to …`: ISO instants.
  const req: BackfillRequest = {
    target: GROUP,
    from: RANGE_START,
    to: new Date(Date.parse(RANGE_START) + options.windows * WINDOW_MS).toISOString(),
    parallel: options.parallel,
    continueAsNewAfter: options.continueAfter,
  };
  const inputStart = Date.now();
  const input = buildBackfillInput(catalog, req, taskQueue);
  const inputMs = Date.now() - inputStart;
  const total = input.total ?? 0;
  if (total !== options.windows) throw new Error(`the range holds ${total} windows, not ${options.windows}`);
  const workflowId = backfillWorkflowId(req);
  const setupMs = Date.now() - t0;
  log(
    `backfill of ${total} windows of group ${GROUP} (${[...catalog.pipelines.keys()].join(' → ')}) ready after ` +
      `${(setupMs / 1000).toFixed(1)}s (input built in ${inputMs} ms); starting it`,
  );

  const sqliteBefore = sqliteBytes(dbFile);
  const rss = new PeakSampler(() => process.memoryUsage().rss, 100);
  const serverRss = serverPid ? new PeakSampler(() => procRss(serverPid), 100) : undefined;
  const cpuBefore = process.cpuUsage();
  const serverCpuBefore = serverPid ? procCpuSeconds(serverPid) : undefined;

  const runStart = Date.now();
  const handle = await startBackfill(client, input, workflowId, taskQueue);
  // The handle without a run ID answers from the latest run of the continue-as-new chain.
  const latest = client.workflow.getHandle(workflowId);
  let lastProgress: BackfillProgress | undefined;
  let lastFinished = 0;
  let lastFinishedAt = Date.now();
  let lastLineAt = Date.now();
  const progress = setInterval(() => {
    latest.query(backfillProgressQuery).then(
      (p) => {
        lastProgress = p;
        const now = Date.now();
        const finished = p.done + p.failed + p.skipped;
        const rate = p.done / ((now - runStart) / 1000);
        const recent = (finished - lastFinished) / ((now - lastLineAt) / 1000);
        if (finished > lastFinished) lastFinishedAt = now;
        const stalled = now - lastFinishedAt >= STALL_NOTE_MS;
        lastFinished = finished;
        lastLineAt = now;
        log(
          `${progressLine(p, 20)} · ${rate.toFixed(2)} windows/s (last ${(PROGRESS_EVERY_MS / 1000).toFixed(0)} s: ` +
            `${recent.toFixed(2)})${stalled ? ` · no window finished for ${Math.round((now - lastFinishedAt) / 1000)} s` : ''}`,
        );
      },
      (err: unknown) => log(`progress query failed: ${(err as Error).message}`),
    );
  }, PROGRESS_EVERY_MS);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<string>((r) => {
    timer = setTimeout(() => r(`timed out after ${options.timeoutMs / 60_000} minutes`), options.timeoutMs);
  });
  let final: BackfillProgress | undefined;
  let outcome: string;
  try {
    const result = await Promise.race([
      awaitBackfill(handle).then((p) => ({ progress: p })),
      timedOut.then((why) => ({ why })),
      aborted.then((why) => ({ why })),
      workerStopped.then((why) => ({ why })),
    ]);
    if ('progress' in result) {
      final = result.progress;
      outcome = `backfill ${final.status}`;
    } else outcome = result.why;
  } catch (err) {
    outcome = `backfill error: ${(err as Error).message}`;
  } finally {
    clearInterval(progress);
    clearTimeout(timer);
  }
  const wallMs = Date.now() - runStart;
  const cpu = process.cpuUsage(cpuBefore);
  const serverCpuAfter = serverPid ? procCpuSeconds(serverPid) : undefined;
  const peakRss = rss.stop();
  const peakServerRss = serverRss?.stop();
  const sqliteAfter = sqliteBytes(dbFile);
  const loadavgAtEnd = loadavg();
  const pressureAtEnd = cpuPressure();
  const metrics = await serverMetrics(metricsPort);
  log(`${outcome} after ${(wallMs / 1000).toFixed(1)}s; reading the histories`);

  if (!final) {
    // Not finished: take the counts as they stand, then stop the backfill (and with it its DAG runs) so the server
    // can shut down cleanly.
    final = (await latest.query(backfillProgressQuery).catch(() => undefined)) ?? lastProgress;
    await latest.terminate(`benchmark: ${outcome}`).catch(() => undefined);
  }
  const childTimes = new Map<string, ParentSideTimes>();
  const runs = await chainStats(client, workflowId, handle.firstExecutionRunId, childTimes);
  const finishedWindows = [...childTimes].flatMap(([id, t]) => (t.completedAt !== undefined ? [{ id, t }] : []));
  const windowDurations = spread(finishedWindows.map(({ t }) => t.completedAt! - t.initiatedAt));
  const step = Math.max(1, Math.floor(finishedWindows.length / CHILD_SAMPLE));
  const children = await childBreakdown(
    client,
    finishedWindows
      .filter((_, i) => i % step === 0)
      .slice(0, CHILD_SAMPLE)
      .map(({ id }) => id),
    childTimes,
  );
  const wftCount = runs.reduce((n, r) => n + r.workflowTasks.count, 0);
  const wftTotalMs = runs.reduce((n, r) => n + r.workflowTasks.meanMs * r.workflowTasks.count, 0);

  const maxBy = <T>(items: T[], key: (t: T) => number) =>
    items.reduce((best, item, i) => (key(item) > key(items[best]!) ? i : best), 0);
  const bigRun = maxBy(runs, (r) => r.historyBytes);
  const eventRun = maxBy(runs, (r) => r.largestEvent.bytes);
  const largestInput = Math.max(0, ...runs.map((r) => r.inputBytes));
  const largestEvent = runs[eventRun]?.largestEvent ?? { type: '', bytes: 0, eventId: 0 };
  const limit = (value: number, max: number) => ({
    value,
    limit: max,
    fraction: Number((value / max).toFixed(4)),
    ok: value < max * WARN_FRACTION,
  });
  const limits = {
    inputPayloadBytes: limit(largestInput, LIMITS.payloadBytes),
    largestEventBytes: limit(largestEvent.bytes, LIMITS.payloadBytes),
    historyBytes: limit(Math.max(0, ...runs.map((r) => r.historyBytes)), LIMITS.historyBytes),
    historyEvents: limit(Math.max(0, ...runs.map((r) => r.events)), LIMITS.historyEvents),
    pendingChildren: limit(options.parallel, LIMITS.pendingChildren),
  };
  const done = final?.done ?? 0;
  return {
    startedAt,
    options,
    environment: {
      node: process.version,
      cpus: cpus().length,
      loadavgAtStart,
      loadavgAtEnd,
      ...(pressureAtEnd !== undefined ? { cpuPressureAtEnd: pressureAtEnd } : {}),
      ...(gitCommit() ? { commit: gitCommit() } : {}),
      changedFiles: changed,
    },
    backfill: {
      workflowId,
      group: GROUP,
      pipelines: [...catalog.pipelines.keys()],
      from: input.from,
      to: input.to,
      total,
    },
    completed: final?.status === 'succeeded' && done === total,
    outcome,
    ...(final
      ? {
          progress: {
            status: final.status,
            total: final.total,
            done: final.done,
            failed: final.failed,
            skipped: final.skipped,
            running: final.running,
            remaining: final.remaining,
          },
        }
      : {}),
    failedWindows: (final?.failedWindows ?? []).slice(0, 10),
    setupMs,
    inputMs,
    wallMs,
    windowsPerSecond: Number((done / (wallMs / 1000)).toFixed(2)),
    meanInFlight: Number(((windowDurations.meanMs * windowDurations.count) / wallMs).toFixed(1)),
    windowDurations,
    backfillWorkflowTasks: {
      count: wftCount,
      totalMs: wftTotalMs,
      meanMs: wftCount > 0 ? Math.round(wftTotalMs / wftCount) : 0,
      maxMs: Math.max(0, ...runs.map((r) => r.workflowTasks.maxMs)),
      shareOfWall: Number((wftTotalMs / wallMs).toFixed(3)),
    },
    peakRssBytes: {
      sampled: peakRss,
      // ru_maxrss, in KiB on Linux: the kernel's peak, including what fell between samples, the setup and the reading
      // of the histories after the run.
      kernelMaxRss: process.resourceUsage().maxRSS * 1024,
      ...(peakServerRss ? { server: peakServerRss } : {}),
    },
    cpuSeconds: {
      benchProcess: Number(((cpu.user + cpu.system) / 1e6).toFixed(1)),
      ...(serverCpuBefore !== undefined && serverCpuAfter !== undefined
        ? { server: Number((serverCpuAfter - serverCpuBefore).toFixed(1)) }
        : {}),
    },
    sqlite: { beforeBytes: sqliteBefore, afterBytes: sqliteAfter, growthBytes: sqliteAfter - sqliteBefore },
    inputPayloadBytes: { firstRun: runs[0]?.inputBytes ?? 0, largestRun: largestInput },
    chain: { runs: runs.length, perRun: runs },
    children,
    ...(metrics ? { server: metrics } : {}),
    largestHistory: { runIndex: bigRun, events: runs[bigRun]?.events ?? 0, bytes: runs[bigRun]?.historyBytes ?? 0 },
    largestEvent: { runIndex: eventRun, ...largestEvent },
    limits,
  };
}

const pct = (f: number) => `${(f * 100).toFixed(1)}%`;
const ms = (s: Spread) => `mean ${s.meanMs} · p50 ${s.p50Ms} · p95 ${s.p95Ms} · max ${s.maxMs} ms (${s.count})`;

/** The result as a readable table. */
function table(r: BackfillRangeResult): string {
  const p = r.progress;
  const rows: Array<[string, string]> = [
    [
      'backfill',
      `${r.backfill.total} windows of 1 minute, ${r.backfill.from} → ${r.backfill.to}, group ${r.backfill.group} ` +
        `(${r.backfill.pipelines.join(' → ')})`,
    ],
    ['options', `parallel ${r.options.parallel}, continueAsNewAfter ${r.options.continueAfter}`],
    ['completed', `${r.completed ? 'yes' : 'NO'} (${r.outcome})`],
    [
      'windows',
      p
        ? `${p.done} done, ${p.failed} failed, ${p.skipped} skipped, ${p.running} running, ${p.remaining} remaining of ${p.total}`
        : 'unknown (the backfill did not answer)',
    ],
    ...r.failedWindows.map((f): [string, string] => [
      '  failed window',
      `${f.window.start} ${f.error.type}: ${f.error.message}`,
    ]),
    ['setup (server, postgres, worker, input)', `${(r.setupMs / 1000).toFixed(1)} s (input ${r.inputMs} ms)`],
    ['backfill wall time', `${(r.wallMs / 1000).toFixed(1)} s`],
    ['throughput', `${r.windowsPerSecond} windows/s`],
    ['mean windows in flight', `${r.meanInFlight} of parallel ${r.options.parallel}`],
    ['window (DAG run asked for → result recorded)', ms(r.windowDurations)],
    [
      'backfill workflow tasks (whole chain)',
      `${r.backfillWorkflowTasks.count} tasks, ${(r.backfillWorkflowTasks.totalMs / 1000).toFixed(1)} s in all ` +
        `(${pct(r.backfillWorkflowTasks.shareOfWall)} of the wall time), mean ${r.backfillWorkflowTasks.meanMs} ms, ` +
        `max ${r.backfillWorkflowTasks.maxMs} ms`,
    ],
    ['peak RSS, bench process + worker (100 ms, during run)', mib(r.peakRssBytes.sampled)],
    ['peak RSS, bench process + worker (kernel, incl. analysis)', mib(r.peakRssBytes.kernelMaxRss)],
    ['peak RSS, Temporal server', r.peakRssBytes.server ? mib(r.peakRssBytes.server) : 'n/a'],
    [
      'CPU during the run',
      `bench process ${r.cpuSeconds.benchProcess} s, server ${r.cpuSeconds.server ?? 'n/a'} s (${r.environment.cpus} cores)`,
    ],
    [
      'load average start → end',
      `${r.environment.loadavgAtStart[0]?.toFixed(2)} → ${r.environment.loadavgAtEnd[0]?.toFixed(2)}` +
        (r.environment.cpuPressureAtEnd !== undefined
          ? `; CPU pressure at end ${r.environment.cpuPressureAtEnd}% (time runnable tasks waited for a CPU)`
          : ''),
    ],
    [
      'SQLite size before → after',
      `${mib(r.sqlite.beforeBytes)} → ${mib(r.sqlite.afterBytes)} (+${mib(r.sqlite.growthBytes)})`,
    ],
    ['workflow runs in the continue-as-new chain', String(r.chain.runs)],
    [
      'largest history',
      `${r.largestHistory.events} events, ${size(r.largestHistory.bytes)} (run ${r.largestHistory.runIndex + 1})`,
    ],
    [
      'backfill input payload',
      `first run ${size(r.inputPayloadBytes.firstRun)}, largest ${size(r.inputPayloadBytes.largestRun)}`,
    ],
    [
      'largest history event',
      `${r.largestEvent.type} #${r.largestEvent.eventId}, ${size(r.largestEvent.bytes)} (run ${r.largestEvent.runIndex + 1})`,
    ],
    ...Object.entries(r.limits).map(([k, l]): [string, string] => [
      `limit: ${k}`,
      `${pct(l.fraction)} of ${l.limit} ${l.ok ? 'ok' : 'CLOSE OR OVER'}`,
    ]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  const runHeader =
    'run  status          windows  events  history     input      WFT processing (ms)     WFT wait (ms)  child start (ms)  span      drain';
  const runLines = r.chain.perRun.map((run, i) =>
    [
      String(i + 1).padStart(3),
      run.status.padEnd(15),
      String(run.childrenStarted).padStart(7),
      String(run.events).padStart(7),
      size(run.historyBytes).padStart(10),
      size(run.inputBytes).padStart(10),
      `${run.workflowTasks.meanMs}/${run.workflowTasks.p95Ms}/${run.workflowTasks.maxMs} (${run.workflowTasks.count})`.padEnd(
        23,
      ),
      `${run.workflowTaskWaits.meanMs}/${run.workflowTaskWaits.maxMs}`.padEnd(14),
      `${run.childStarts.meanMs}/${run.childStarts.maxMs}`.padEnd(16),
      `${(run.spanMs / 1000).toFixed(1)} s`.padEnd(9),
      `${(run.drainMs / 1000).toFixed(1)} s`,
    ].join('  '),
  );
  const c = r.children;
  const childLines = [
    `DAG runs (one per window) sampled: ${c.sampled}`,
    `  backfill initiates → DAG run created        ${ms(c.initiatedToCreated)}`,
    `  DAG run created → backfill records started  ${ms(c.createdToStartedInParent)}`,
    `  whole DAG run (first → last event)          ${ms(c.span)}`,
    `  DAG run workflow task wait                  ${ms(c.workflowTaskWaits)}`,
    `  DAG run workflow task                       ${ms(c.workflowTasks)}`,
    `  DAG run closed → backfill history records it ${ms(c.completionToParent)}`,
  ];
  const m = r.server;
  const serverLines = m
    ? [
        'server (Prometheus metrics at the end of the run):',
        `  BusyWorkflow throttles by task type     ${
          Object.entries(m.busyWorkflowThrottles)
            .map(([t, n]) => `${t} ${n}`)
            .join(', ') || 'none'
        }`,
        `  start-child transfer tasks               ${m.startChild.tasks} tasks, ${m.startChild.attempts} attempts, mean queued ${m.startChild.meanQueueMs} ms`,
        `  mutable state get + lock                 ${m.mutableStateLock.calls} calls, mean ${m.mutableStateLock.meanMs} ms`,
        `  UpdateWorkflowExecution (SQLite)         ${m.updateWorkflowExecution.calls} calls, mean ${m.updateWorkflowExecution.meanMs} ms`,
      ]
    : ['server metrics: not available'];
  return [
    ...lines,
    '',
    ...childLines,
    '',
    ...serverLines,
    '',
    'continue-as-new chain of the backfill (WFT = workflow task; processing mean/p95/max (count), waits mean/max; ' +
      'drain = last DAG run start → end of the run):',
    runHeader,
    ...runLines,
  ].join('\n');
}

runBench({
  name: 'backfill-range',
  readOptions,
  run: bench,
  table,
  passed: (r) => r.completed && Object.values(r.limits).every((l) => l.ok),
});
