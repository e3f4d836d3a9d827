/**
 * Benchmark: one DAG run over many no-op pipelines, on a private Temporal dev server.
 *
 *   npm run bench:large-dag -- --nodes 10000 --layers 100 --max-parallel 50 --continue-after 500
 *   npx tsx bench/large-dag.ts --nodes 200            (after `npm run build`: the worker serves dist/'s bundle)
 *   npx tsx bench/large-dag.ts --help                 (all options: --seed, --timeout, --keep, ...)
 *
 * Starts a dev server with a fresh SQLite file and an embedded PostgreSQL (the worker's staging connection) in a
 * temporary folder, an in-process worker, and one `dagRun` over `--nodes` pipelines in `--layers` layers (each node
 * depends on 1–3 nodes of the layer before). Reports whether it completed, wall time, nodes/s, peak RSS, SQLite
 * growth, the continue-as-new chain and its largest history, payload and event, against Temporal's limits. Prints a
 * table and writes JSON to bench/results/. Everything it started is stopped at the end, also on failure or Ctrl-C.
 *
 * Exit codes: 0 completed within Temporal's limits; 1 bad options; 2 the benchmark itself failed; 3 the DAG run did
 * not complete (timeout, failure) or came close to a limit.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { buildDagInput, startDagRun } from '../cli/dag';
import { awaitDagRun } from '../cli/dag-state';
import { expandDagState, type DagRunState } from '../core/dag-input';
import type { Window } from '../core/window';
import { catalogOf } from '../test/helpers/catalog';
import { dagStateQuery } from '../workflows/definitions';
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
import { layeredDag, noOpPipelines } from './layered-dag';
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
/** Child runs whose histories are read to show where a pipeline run's time goes. */
const CHILD_SAMPLE = 50;

/** Command-line options of the benchmark. */
export const BenchOptions = z
  .object({
    /** Pipelines in the DAG. */
    nodes: z.coerce.number().int().min(1).max(200_000).default(10_000),
    /** Layers of the DAG. */
    layers: z.coerce.number().int().min(1).default(100),
    /** The DAG run's `maxParallel`. */
    maxParallel: z.coerce.number().int().min(1).max(1000).default(50),
    /** The DAG run's `continueAsNewAfter`. */
    continueAfter: z.coerce.number().int().min(1).default(500),
    /** Seed of the DAG's edges. */
    seed: z.coerce.number().int().default(1),
    /** Longest the DAG run may take before the benchmark gives up on it. */
    timeoutMs: DurationOption,
    /** Keep the temporary folder (SQLite file, server log) for inspection. */
    keep: z.boolean().default(false),
  })
  .refine((o) => o.layers <= o.nodes, { message: 'must not exceed --nodes', path: ['layers'] });
export type BenchOptions = z.infer<typeof BenchOptions>;

function readOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      nodes: { type: 'string' },
      layers: { type: 'string' },
      'max-parallel': { type: 'string' },
      'continue-after': { type: 'string' },
      seed: { type: 'string' },
      timeout: { type: 'string', default: '60m' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) throw new OptionsError(USAGE, 0);
  const parsed = BenchOptions.safeParse({
    nodes: values.nodes,
    layers: values.layers,
    maxParallel: values['max-parallel'],
    continueAfter: values['continue-after'],
    seed: values.seed,
    timeoutMs: values.timeout,
    keep: values.keep,
  });
  if (!parsed.success) {
    throw new OptionsError(parsed.error.issues.map((i) => `${flagOf(i.path[0])}: ${i.message}`).join('\n'));
  }
  return parsed.data;
}

const USAGE = `Usage: npx tsx bench/large-dag.ts [options]   (run \`npm run build\` first; npm run bench:large-dag does)

  --nodes N            pipelines in the DAG (10000)
  --layers N           layers; each node depends on 1-3 nodes of the layer before (100)
  --max-parallel N     the DAG run's maxParallel (50)
  --continue-after N   the DAG run's continueAsNewAfter (500)
  --seed N             seed of the DAG's edges (1)
  --timeout DURATION   give up on the DAG run after this long (60m)
  --keep               keep the temporary folder (SQLite file, server log)`;

/** Per-node run durations (start of the child → its result seen by the DAG run) from a final state. */
function nodeDurations(state: DagRunState): Spread {
  const out: number[] = [];
  for (const node of Object.values(state.nodes)) {
    if (node.startedAt && node.finishedAt) out.push(Date.parse(node.finishedAt) - Date.parse(node.startedAt));
  }
  return spread(out);
}

function countStates(state: DagRunState): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of Object.values(state.nodes)) counts[node.state] = (counts[node.state] ?? 0) + 1;
  return counts;
}

/** Result of one benchmark, as written to JSON. */
export interface LargeDagResult {
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
  dag: { nodes: number; layers: number; edges: number; workflowId: string };
  completed: boolean;
  outcome: string;
  states: Record<string, number>;
  setupMs: number;
  wallMs: number;
  nodesPerSecond: number;
  /** Node run time summed over nodes, divided by the wall time: how much of maxParallel was used on average. */
  meanInFlight: number;
  nodeDurations: Spread;
  peakRssBytes: { sampled: number; kernelMaxRss: number; server?: number };
  cpuSeconds: { benchProcess: number; server?: number };
  sqlite: { beforeBytes: number; afterBytes: number; growthBytes: number };
  inputPayloadBytes: { firstRun: number; largestRun: number };
  chain: { runs: number; perRun: RunHistoryStats[] };
  /** Where a sample of child runs spent their time. */
  children: ChildBreakdown;
  /** The server's own figures at the end of the run (undefined when its metrics did not answer). */
  server?: ServerMetrics;
  largestHistory: { runIndex: number; events: number; bytes: number };
  largestEvent: { runIndex: number; type: string; bytes: number; eventId: number };
  limits: Record<string, { value: number; limit: number; fraction: number; ok: boolean }>;
}

async function bench(options: BenchOptions, cleanup: Cleanup, aborted: Promise<string>): Promise<LargeDagResult> {
  const t0 = Date.now();
  const startedAt = new Date(t0).toISOString();
  const loadavgAtStart = loadavg();
  const changed = changedFiles();
  if (changed.length > 0) log(`note: the working tree has changes in ${changed.join(', ')}`);
  checkBundle('bench:large-dag');

  const dag = layeredDag(options);
  const catalog = catalogOf(noOpPipelines(dag));
  const taskQueue = 'bench-large-dag';
  const { dbFile, serverPid, metricsPort, client, workerStopped } = await startBenchStack(
    { catalog, taskQueue, keep: options.keep },
    cleanup,
  );

  const window: Window = { start: '2026-01-01T00:00:00.000Z', end: '2026-01-02T00:00:00.000Z' };
  const input = buildDagInput(catalog, catalog.pipelines.keys(), window, 'manual', taskQueue, {
    maxParallel: options.maxParallel,
    continueAsNewAfter: options.continueAfter,
  });
  const setupMs = Date.now() - t0;
  log(
    `DAG of ${options.nodes} nodes, ${dag.edges} edges in ${options.layers} layers ready after ${(setupMs / 1000).toFixed(1)}s; starting the DAG run`,
  );

  const sqliteBefore = sqliteBytes(dbFile);
  const rss = new PeakSampler(() => process.memoryUsage().rss, 100);
  const serverRss = serverPid ? new PeakSampler(() => procRss(serverPid), 100) : undefined;
  const cpuBefore = process.cpuUsage();
  const serverCpuBefore = serverPid ? procCpuSeconds(serverPid) : undefined;

  const runStart = Date.now();
  const handle = await startDagRun(client, input, taskQueue, { explicitList: true });
  const latest = client.workflow.getHandle(handle.workflowId);
  const progress = setInterval(() => {
    latest.query(dagStateQuery).then(
      (snapshot) => {
        const counts = countStates(expandDagState(snapshot));
        const done = counts.succeeded ?? 0;
        const rate = done / ((Date.now() - runStart) / 1000);
        log(`${done}/${options.nodes} succeeded, ${counts.running ?? 0} running, ${rate.toFixed(1)} nodes/s`);
      },
      (err: unknown) => log(`progress query failed: ${(err as Error).message}`),
    );
  }, 30_000);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<string>((r) => {
    timer = setTimeout(() => r(`timed out after ${options.timeoutMs / 60_000} minutes`), options.timeoutMs);
  });
  let final: DagRunState | undefined;
  let outcome: string;
  try {
    const result = await Promise.race([
      awaitDagRun(handle).then((s) => ({ state: s })),
      timedOut.then((why) => ({ why })),
      aborted.then((why) => ({ why })),
      workerStopped.then((why) => ({ why })),
    ]);
    if ('state' in result) {
      final = result.state;
      outcome = `DAG run ${final.status}`;
    } else outcome = result.why;
  } catch (err) {
    outcome = `DAG run error: ${(err as Error).message}`;
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
    // Not finished: take the state as it stands, then stop the run so the server can shut down cleanly.
    final = await latest
      .query(dagStateQuery)
      .then(expandDagState)
      .catch(() => undefined);
    await latest.terminate(`benchmark: ${outcome}`).catch(() => undefined);
  }
  const childTimes = new Map<string, ParentSideTimes>();
  const runs = await chainStats(client, handle.workflowId, handle.firstExecutionRunId, childTimes);
  const finishedChildren = Object.values(final?.nodes ?? {}).flatMap((n) =>
    n.state === 'succeeded' && n.workflowId ? [n.workflowId] : [],
  );
  const step = Math.max(1, Math.floor(finishedChildren.length / CHILD_SAMPLE));
  const children = await childBreakdown(
    client,
    finishedChildren.filter((_, i) => i % step === 0).slice(0, CHILD_SAMPLE),
    childTimes,
  );
  const states = final ? countStates(final) : {};
  const durations = final ? nodeDurations(final) : spread([]);
  const succeeded = states.succeeded ?? 0;
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
    pendingChildren: limit(options.maxParallel, LIMITS.pendingChildren),
  };
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
    dag: { nodes: options.nodes, layers: options.layers, edges: dag.edges, workflowId: handle.workflowId },
    completed: final?.status === 'succeeded' && succeeded === options.nodes,
    outcome,
    states,
    setupMs,
    wallMs,
    nodesPerSecond: Number((succeeded / (wallMs / 1000)).toFixed(2)),
    meanInFlight: Number(((durations.meanMs * durations.count) / wallMs).toFixed(1)),
    nodeDurations: durations,
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
function table(r: LargeDagResult): string {
  const rows: Array<[string, string]> = [
    ['DAG', `${r.dag.nodes} nodes, ${r.dag.edges} edges, ${r.dag.layers} layers`],
    ['options', `maxParallel ${r.options.maxParallel}, continueAsNewAfter ${r.options.continueAfter}`],
    ['completed', `${r.completed ? 'yes' : 'NO'} (${r.outcome})`],
    [
      'node states',
      Object.entries(r.states)
        .map(([s, n]) => `${s} ${n}`)
        .join(', ') || '-',
    ],
    ['setup (server, postgres, worker, DAG)', `${(r.setupMs / 1000).toFixed(1)} s`],
    ['DAG run wall time', `${(r.wallMs / 1000).toFixed(1)} s`],
    ['throughput', `${r.nodesPerSecond} nodes/s`],
    ['mean nodes in flight', `${r.meanInFlight} of maxParallel ${r.options.maxParallel}`],
    ['node run (child start → result)', ms(r.nodeDurations)],
    ['peak RSS, bench process (100 ms, during run)', mib(r.peakRssBytes.sampled)],
    ['peak RSS, bench process (kernel, incl. analysis)', mib(r.peakRssBytes.kernelMaxRss)],
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
      'dagRun input payload',
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
    'run  status          children  events  history     input      largest event                     WFT processing (ms)   WFT wait (ms)  child start (ms)  span     drain';
  const runLines = r.chain.perRun.map((run, i) =>
    [
      String(i + 1).padStart(3),
      run.status.padEnd(15),
      String(run.childrenStarted).padStart(8),
      String(run.events).padStart(7),
      size(run.historyBytes).padStart(10),
      size(run.inputBytes).padStart(10),
      `${run.largestEvent.type} ${size(run.largestEvent.bytes)}`.padEnd(33),
      `${run.workflowTasks.meanMs}/${run.workflowTasks.p95Ms}/${run.workflowTasks.maxMs} (${run.workflowTasks.count})`.padEnd(
        21,
      ),
      `${run.workflowTaskWaits.meanMs}/${run.workflowTaskWaits.maxMs}`.padEnd(14),
      `${run.childStarts.meanMs}/${run.childStarts.maxMs}`.padEnd(15),
      `${(run.spanMs / 1000).toFixed(1)} s`.padEnd(8),
      `${(run.drainMs / 1000).toFixed(1)} s`,
    ].join('  '),
  );
  const c = r.children;
  const childLines = [
    `child runs sampled: ${c.sampled}`,
    `  parent initiates → child created         ${ms(c.initiatedToCreated)}`,
    `  child created → parent records started   ${ms(c.createdToStartedInParent)}`,
    `  whole child run (first → last event)     ${ms(c.span)}`,
    `  workflow task wait (scheduled → started) ${ms(c.workflowTaskWaits)}`,
    `  workflow task (started → completed)      ${ms(c.workflowTasks)}`,
    `  activity wait (scheduled → started)      ${ms(c.activityWaits)}`,
    `  activity (started → completed)           ${ms(c.activities)}`,
    `  child closed → parent history records it ${ms(c.completionToParent)}`,
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
    'continue-as-new chain (WFT = workflow task; processing mean/p95/max (count), waits mean/max; drain = last child ' +
      'start → end of the run):',
    runHeader,
    ...runLines,
  ].join('\n');
}

runBench({
  name: 'large-dag',
  readOptions,
  run: bench,
  table,
  passed: (r) => r.completed && Object.values(r.limits).every((l) => l.ok),
});
