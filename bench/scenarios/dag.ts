/**
 * The DAG scenarios of `npm run bench`, each run by pipectl and by a raw Temporal TypeScript baseline doing the same
 * work (bench/raw/), each system on its own fresh stack, one after the other:
 *
 *   npx tsx bench/scenarios/dag.ts chain --nodes 100          100 no-op pipelines in a line: per-node overhead
 *   npx tsx bench/scenarios/dag.ts fanout --width 1000        1 → 1,000 → 1: makespan and nodes/s
 *   npx tsx bench/scenarios/dag.ts large-dag --nodes 10000    10,000 in 100 layers: nodes/s, peak RSS, SQLite growth
 *   npx tsx bench/scenarios/dag.ts latency --nodes 50         upstream completed → downstream started, p50/p99
 *   npx tsx bench/scenarios/dag.ts chain --steps inline       the pipelines run inside the DAG run, no children
 *   npx tsx bench/scenarios/dag.ts --help                     all options
 *
 * Two shapes of DAG run: each pipeline a child workflow of the DAG run (`--steps local`, the default, or
 * `activities`), or each pipeline run inside the DAG run's own workflow, its steps local activities of it
 * (`--steps inline`: pipectl's `inline: true` with `localSteps: true`; the baseline's `rawDag` with `inline`). The
 * latency scenario reads the children's histories, so it runs in the child-workflow shape only.
 *
 * (after `npm run build`: pipectl's worker serves dist/'s workflow bundle; `npm run bench:chain` etc. build first.)
 * A stack is a private Temporal dev server with a fresh SQLite file (durable, as users run it) and an in-process
 * worker; pipectl's also has the embedded PostgreSQL its worker uses for staging. Prints a table and writes the
 * {@link ScenarioResult} as JSON to bench/results/. Exit codes: 0 every system completed with every node succeeded;
 * 1 bad options; 2 the benchmark itself failed; 3 a system did not complete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import { buildDagInput, startDagRun } from '../../cli/dag';
import { awaitDagRun } from '../../cli/dag-state';
import { pipelineWorkflowId } from '../../core/run-input';
import type { Window } from '../../core/window';
import { TEMPORAL_CLI_VERSION } from '../../temporal-config/temporal-cli';
import { catalogOf } from '../../test/helpers/catalog';
import {
  checkBundle,
  Cleanup,
  DurationOption,
  flagOf,
  log,
  OptionsError,
  PeakSampler,
  procRss,
  ROOT,
  runBench,
  sqliteBytes,
  startBenchStack,
  startServerStack,
  type ServerStack,
} from '../harness';
import { layeredDag, noOpPipelines, type LayeredDag } from '../layered-dag';
import { rawWorkflowBundle, startRawWorker } from '../raw/worker';
import type { rawDag, RawDagInput } from '../raw/workflows';
import type { DagShape, Figures, ScenarioName, ScenarioResult, SystemResult } from '../scenario';

const { EventType } = temporal.api.enums.v1;

/** The systems these scenarios measure. */
export type DagSystem = 'pipectl' | 'temporal';

/**
 * How a node runs its extract and load: in a child workflow, as local activities (`local`) or activities the server
 * dispatches (`activities`); or inside the parent DAG workflow, as local activities of it (`inline`), or both steps
 * as one local activity of it (`fused`).
 */
export type StepKind = 'local' | 'activities' | 'inline' | 'fused';

/** The shape of DAG run a {@link StepKind} makes: child workflows, or every node inside the parent. */
export function shapeOf(steps: StepKind): DagShape {
  return steps === 'inline' || steps === 'fused' ? steps : 'children';
}

/** Options every DAG scenario takes. */
export interface DagScenarioOptions {
  /** Most nodes running at once, the same for both systems (default per scenario). */
  maxParallel?: number;
  /** Node runs per parent workflow run before it continues as new, the same for both systems (default 500). */
  continueAsNewAfter?: number;
  /** Longest one system's DAG run may take before it counts as failed (default per scenario). */
  timeoutMs?: number;
  /** The systems to run, in this order (default: the baseline first, then pipectl). */
  systems?: DagSystem[];
  /** Keep each stack's temporary folder (SQLite file, server log). */
  keep?: boolean;
  /**
   * How each no-op pipeline runs its two steps, the same for both systems: in a child workflow as local activities
   * (pipectl's `localSteps`, default) or as activities the server dispatches; or inside the parent DAG workflow as
   * local activities of it (`inline`: pipectl's `inline` with `localSteps`), or both steps as one local activity of it
   * (`fused`: pipectl's `inline` with `localSteps: 'fused'`). The latency scenario runs neither.
   */
  steps?: StepKind;
  /** Settles when the benchmark should stop (Ctrl-C): the running system gives up and the next does not start. */
  aborted?: Promise<string>;
  /**
   * DAG runs per system, one after the other on the system's one stack, each over its own window (default 1). The
   * figures are those of the run with the median wall time; the note lists every run's. On a shared machine one short
   * run can be off by a third either way.
   */
  rounds?: number;
}

/** Options of {@link runChain}. */
export interface ChainOptions extends DagScenarioOptions {
  /** Pipelines in the line (default 100). */
  nodes?: number;
}

/** Options of {@link runFanout}. */
export interface FanoutOptions extends DagScenarioOptions {
  /** Pipelines between the source and the sink (default 1,000). */
  width?: number;
}

/** Options of {@link runLargeDag}. */
export interface LargeDagOptions extends DagScenarioOptions {
  /** Pipelines in all (default 10,000). */
  nodes?: number;
  /** Layers; each node depends on 1–3 nodes of the layer before (default 100). */
  layers?: number;
  /** Seed of the edges (default 1). */
  seed?: number;
}

/** Options of {@link runLatency}: the child-workflow shape only (`steps` `local` or `activities`). */
export interface LatencyOptions extends DagScenarioOptions {
  /** Pipelines in the line, each the downstream of the one before (default 50). */
  nodes?: number;
}

const WINDOW: Window = { start: '2026-01-01T00:00:00.000Z', end: '2026-01-02T00:00:00.000Z' };
const DEFAULT_SYSTEMS: DagSystem[] = ['temporal', 'pipectl'];
const MINUTE = 60_000;
/** Why the latency scenario does not run inline: it reads the child workflows' histories. */
const INLINE_LATENCY =
  '--steps inline or fused: the latency scenario reads when each child workflow started from its history, and inline ' +
  'pipelines run no child workflows (their steps are local activities of the DAG run, with no history of their ' +
  'own); run latency with --steps local or activities';
/** Figures that are counts, not measurements: no ratio to the baseline. */
const COUNTS = new Set(['samples']);

/** How one scenario runs on each system. */
interface Plan {
  scenario: ScenarioName;
  dag: LayeredDag;
  maxParallel: number;
  continueAsNewAfter: number;
  timeoutMs: number;
  keep: boolean;
  steps: StepKind;
  /** Read the parent's and children's histories for the latency figures. */
  latency: boolean;
  aborted?: Promise<string>;
  rounds: number;
}

/** What one system's run measured. */
interface Measured {
  ok: boolean;
  error?: string;
  wallMs: number;
  succeeded: number;
  rssAtStartBytes: number;
  peakRssBytes: number;
  sqliteGrowthBytes: number;
  latency?: LatencyFigures;
  /** With more than one round: every round's wall time, in the order they ran. */
  roundsMs?: number[];
}

/** Upstream completed → downstream started, as the histories recorded it. */
interface LatencyFigures {
  /** → the downstream child's own WorkflowExecutionStarted. */
  started: number[];
  /** → the parent's StartChildWorkflowExecutionInitiated for the downstream (the parent's decision). */
  decision: number[];
}

/** A started parent workflow: how to wait for it and how to stop it. */
interface StartedRun {
  workflowId: string;
  firstRunId: string;
  /** Settles (never rejects) with how many nodes succeeded, or why not all did. */
  outcome: Promise<{ succeeded: number; error?: string }>;
  /** The child workflow ID of a node; undefined when the nodes run inside the parent (no child workflows). */
  childId?: (name: string) => string;
}

/** 100 no-op pipelines in a line, one DAG run: per-node overhead (wall time / nodes). */
export async function runChain(options: ChainOptions = {}): Promise<ScenarioResult> {
  const nodes = options.nodes ?? 100;
  const plan = planOf('chain', chainDag(nodes), options, { maxParallel: 8, timeoutMs: 10 * MINUTE });
  return scenario(plan, { nodes }, options.systems, (m) => ({
    wallMs: m.wallMs,
    perNodeMs: round(m.wallMs / nodes, 2),
    nodesPerSec: round(nodes / (m.wallMs / 1000), 2),
  }));
}

/** One source, `width` pipelines after it, one sink after them all: makespan and nodes/s. */
export async function runFanout(options: FanoutOptions = {}): Promise<ScenarioResult> {
  const width = options.width ?? 1000;
  const nodes = width + 2;
  const plan = planOf('fanout', fanoutDag(width), options, {
    maxParallel: Math.min(1000, width),
    timeoutMs: 20 * MINUTE,
  });
  return scenario(plan, { width, nodes }, options.systems, (m) => ({
    wallMs: m.wallMs,
    nodesPerSec: round(nodes / (m.wallMs / 1000), 2),
  }));
}

/** A large layered DAG: completes, nodes/s, peak RSS of the (in-process) worker, SQLite growth. */
export async function runLargeDag(options: LargeDagOptions = {}): Promise<ScenarioResult> {
  const nodes = options.nodes ?? 10_000;
  const layers = options.layers ?? 100;
  const dag = layeredDag({ nodes, layers, seed: options.seed ?? 1 });
  const plan = planOf('large-dag', dag, options, { maxParallel: 100, timeoutMs: 90 * MINUTE });
  return scenario(plan, { nodes, layers, edges: dag.edges }, options.systems, (m) => ({
    wallMs: m.wallMs,
    nodesPerSec: round(nodes / (m.wallMs / 1000), 2),
    peakRssBytes: m.peakRssBytes,
    rssAtStartBytes: m.rssAtStartBytes,
    sqliteGrowthBytes: m.sqliteGrowthBytes,
  }));
}

/**
 * A line of no-op pipelines: how long after an upstream's completion its downstream starts, from the histories (the
 * parent's record of the upstream's completion → the downstream child's WorkflowExecutionStarted; `decision…`: → the
 * parent's StartChildWorkflowExecutionInitiated for it).
 */
export async function runLatency(options: LatencyOptions = {}): Promise<ScenarioResult> {
  if (shapeOf(options.steps ?? 'local') !== 'children') throw new Error(INLINE_LATENCY);
  const nodes = options.nodes ?? 50;
  const plan = {
    ...planOf('latency', chainDag(nodes), options, { maxParallel: 8, timeoutMs: 10 * MINUTE }),
    latency: true,
  };
  return scenario(plan, { nodes }, options.systems, (m) => {
    const started = m.latency?.started ?? [];
    const decision = m.latency?.decision ?? [];
    return {
      p50Ms: percentile(started, 0.5),
      p99Ms: percentile(started, 0.99),
      maxMs: percentile(started, 1),
      decisionP50Ms: percentile(decision, 0.5),
      decisionP99Ms: percentile(decision, 0.99),
      decisionMaxMs: percentile(decision, 1),
      samples: started.length,
      wallMs: m.wallMs,
    };
  });
}

/** `nodes` pipelines in a line: `chain-0000` → `chain-0001` → … */
function chainDag(nodes: number): LayeredDag {
  const width = String(nodes - 1).length;
  const names = Array.from({ length: nodes }, (_, i) => `chain-${String(i).padStart(width, '0')}`);
  return {
    layers: names.map((n) => [n]),
    upstream: new Map(names.map((n, i) => [n, i > 0 ? [names[i - 1]!] : []])),
    edges: nodes - 1,
  };
}

/** `fan-a-source` → `fan-b-0000` … `fan-b-<width-1>` → `fan-c-sink`. */
function fanoutDag(width: number): LayeredDag {
  const digits = String(width - 1).length;
  const middle = Array.from({ length: width }, (_, i) => `fan-b-${String(i).padStart(digits, '0')}`);
  const upstream = new Map<string, string[]>([['fan-a-source', []]]);
  for (const m of middle) upstream.set(m, ['fan-a-source']);
  upstream.set('fan-c-sink', middle);
  return { layers: [['fan-a-source'], middle, ['fan-c-sink']], upstream, edges: 2 * width };
}

function planOf(
  scenario: ScenarioName,
  dag: LayeredDag,
  options: DagScenarioOptions,
  defaults: { maxParallel: number; timeoutMs: number },
): Plan {
  return {
    scenario,
    dag,
    maxParallel: options.maxParallel ?? defaults.maxParallel,
    continueAsNewAfter: options.continueAsNewAfter ?? 500,
    timeoutMs: options.timeoutMs ?? defaults.timeoutMs,
    keep: options.keep ?? false,
    steps: options.steps ?? 'local',
    latency: false,
    ...(options.aborted ? { aborted: options.aborted } : {}),
    rounds: options.rounds ?? 1,
  };
}

/** Runs the plan on each system in turn and turns what each measured into its figures. */
async function scenario(
  plan: Plan,
  size: Record<string, number>,
  systems: DagSystem[] = DEFAULT_SYSTEMS,
  figuresOf: (m: Measured) => Figures,
): Promise<ScenarioResult> {
  const startedAt = new Date().toISOString();
  if (systems.includes('pipectl')) checkBundle(`bench:${plan.scenario === 'large-dag' ? 'large' : plan.scenario}`);
  // Bundling the baseline's workflows takes seconds of webpack: done before anything is measured.
  if (systems.includes('temporal')) await rawWorkflowBundle();
  let aborted: string | undefined;
  void plan.aborted?.then((why) => (aborted = why));
  const shape = shapeOf(plan.steps) !== 'children' ? plan.steps : 'child workflows';
  const measured = plan.rounds > 1 ? await interleaved(plan, systems, () => aborted) : new Map<DagSystem, Measured>();
  const results: SystemResult[] = [];
  for (const system of systems) {
    let m = measured.get(system);
    if (!m) {
      if (aborted) {
        results.push({ system, ok: false, error: `not run: ${aborted}`, figures: {} });
        continue;
      }
      log(`${plan.scenario}: ${system}, ${plan.dag.upstream.size} nodes, maxParallel ${plan.maxParallel}, ${shape}`);
      m = await alone(system, plan);
    }
    log(
      `${plan.scenario}: ${system} ${m.ok ? 'completed' : `did not complete (${m.error})`} in ${(m.wallMs / 1000).toFixed(1)} s` +
        (m.roundsMs ? ` (median of ${m.roundsMs.length} runs: ${m.roundsMs.join(', ')} ms)` : ''),
    );
    results.push({
      system,
      version: system === 'pipectl' ? packageVersion(ROOT) : `@temporalio/* ${sdkVersion()}`,
      setup: setupOf(system, plan),
      ok: m.ok,
      ...(m.error !== undefined ? { error: m.error } : {}),
      figures: m.ok ? figuresOf(m) : {},
    });
  }
  const rounds = [...measured].flatMap(([system, m]) => (m.roundsMs ? [`${system} ${m.roundsMs.join(', ')} ms`] : []));
  return {
    scenario: plan.scenario,
    shape: shapeOf(plan.steps),
    size,
    startedAt,
    results,
    notes: [
      plan.rounds > 1
        ? `${plan.rounds} rounds: each system on its own fresh dev server and SQLite file, both set up first; each ` +
          `round runs one DAG run on each system, one after the other (${systems.join(', ')}, then the other way ` +
          `round in the next round), each over a window of its own; a system's figures are its run with the median ` +
          `wall time (every run's, in order: ${rounds.join('; ')})`
        : `systems ran one after the other in this order: ${systems.join(', ')}; each on its own fresh dev server and SQLite file`,
      ...ratioNotes(results),
    ],
  };
}

/** One system's run: its stack set up, one DAG run measured, the stack stopped. */
async function alone(system: DagSystem, plan: Plan): Promise<Measured> {
  const cleanup = new Cleanup();
  try {
    return await (
      await runner(system, plan, cleanup)
    )(0);
  } catch (err) {
    return failed(err);
  } finally {
    await cleanup.run();
  }
}

/**
 * `plan.rounds` rounds over stacks set up first, one per system: each round runs one DAG run on each system, in
 * `systems`' order and then the other way round, so a machine that slows down for a while slows both. A system
 * that fails stops there, with that failure; the others go on.
 */
async function interleaved(plan: Plan, systems: DagSystem[], aborted: () => string | undefined) {
  const cleanup = new Cleanup();
  const runs = new Map<DagSystem, Measured[]>();
  const out = new Map<DagSystem, Measured>();
  try {
    const runners = new Map<DagSystem, (round: number) => Promise<Measured>>();
    for (const system of systems) {
      try {
        runners.set(system, await runner(system, plan, cleanup));
        runs.set(system, []);
      } catch (err) {
        out.set(system, failed(err));
      }
    }
    for (let round = 0; round < plan.rounds && !aborted(); round++) {
      for (const system of round % 2 === 0 ? systems : [...systems].reverse()) {
        const run = runners.get(system);
        if (!run || out.has(system)) continue;
        log(`${plan.scenario}: ${system}, round ${round + 1} of ${plan.rounds}`);
        const m = await run(round);
        if (m.ok) runs.get(system)!.push(m);
        else out.set(system, m);
      }
    }
  } finally {
    await cleanup.run();
  }
  for (const [system, all] of runs) {
    if (out.has(system) || all.length === 0) continue;
    const median = [...all].sort((a, b) => a.wallMs - b.wallMs)[Math.floor((all.length - 1) / 2)]!;
    out.set(system, { ...median, roundsMs: all.map((m) => m.wallMs) });
  }
  return out;
}

/** Sets up a system's stack (stopped by `cleanup`); what it returns measures one DAG run, over round `round`'s window. */
function runner(system: DagSystem, plan: Plan, cleanup: Cleanup): Promise<(round: number) => Promise<Measured>> {
  return system === 'pipectl' ? pipectlRunner(plan, cleanup) : rawRunner(plan, cleanup);
}

function setupOf(system: DagSystem, plan: Plan): string {
  const inline = shapeOf(plan.steps) !== 'children';
  const common =
    `Temporal CLI ${TEMPORAL_CLI_VERSION} dev server with a fresh SQLite file; in-process worker (RSS is the ` +
    `benchmark process's); maxParallel ${plan.maxParallel}, continue-as-new after ${plan.continueAsNewAfter} ` +
    (inline ? 'node runs; the DAG workflow and its local activities' : 'children; parent, children and activities') +
    ' on one task queue';
  if (plan.steps === 'fused') {
    return system === 'pipectl'
      ? `pipectl dagRun running each pipeline inside the DAG run (inline: true, localSteps: 'fused': no-op extract + ` +
          `load together as one local activity of the DAG run); no child workflows; embedded PostgreSQL for ` +
          `staging; ${common}`
      : `raw Temporal TS: rawDag running each node inside itself (inline, fused: no-op extract + load together as ` +
          `one local activity of rawDag); no child workflows; bench/raw/; ${common}`;
  }
  if (inline) {
    return system === 'pipectl'
      ? `pipectl dagRun running each pipeline inside the DAG run (inline: true, localSteps: no-op extract + load as ` +
          `local activities of the DAG run); no child workflows; embedded PostgreSQL for staging; ${common}`
      : `raw Temporal TS: rawDag running each node inside itself (inline: no-op extract + load as local activities of ` +
          `rawDag); no child workflows; bench/raw/; ${common}`;
  }
  const steps = plan.steps === 'local' ? 'local activities' : 'activities';
  return system === 'pipectl'
    ? `pipectl dagRun → runPipeline children (no-op extract + load as ${steps}${plan.steps === 'local' ? ', localSteps' : ''}); embedded PostgreSQL for staging; ${common}`
    : `raw Temporal TS: rawDag → rawNode children (no-op extract + load as ${steps}), bench/raw/; ${common}`;
}

/** pipectl's figures as multiples of the baseline's. */
function ratioNotes(results: SystemResult[]): string[] {
  const p = results.find((r) => r.system === 'pipectl' && r.ok);
  const t = results.find((r) => r.system === 'temporal' && r.ok);
  if (!p || !t) return [];
  const ratios = Object.entries(p.figures).flatMap(([k, v]) => {
    const base = t.figures[k];
    return base && !COUNTS.has(k) ? [`${k} ${round(v / base, 2)}×`] : [];
  });
  return ratios.length > 0 ? [`pipectl / temporal: ${ratios.join(', ')}`] : [];
}

/** pipectl: its stack; each measured run is one `dagRun` over no-op pipelines, started and awaited as `pipectl run` does. */
async function pipectlRunner(plan: Plan, cleanup: Cleanup): Promise<(round: number) => Promise<Measured>> {
  const catalog = catalogOf(
    noOpPipelines(plan.dag, {
      localSteps: plan.steps === 'fused' ? 'fused' : plan.steps !== 'activities',
      inline: shapeOf(plan.steps) !== 'children',
    }),
  );
  const taskQueue = `bench-${plan.scenario}`;
  const stack = await startBenchStack({ catalog, taskQueue, keep: plan.keep }, cleanup);
  return (round) => {
    const window = windowOf(round);
    const input = buildDagInput(catalog, catalog.pipelines.keys(), window, 'manual', taskQueue, {
      maxParallel: plan.maxParallel,
      continueAsNewAfter: plan.continueAsNewAfter,
    });
    const total = input.nodes.length;
    return measure(plan, stack, stack.workerStopped, async () => {
      const handle = await startDagRun(stack.client, input, taskQueue, { explicitList: true });
      return {
        workflowId: handle.workflowId,
        firstRunId: handle.firstExecutionRunId,
        ...(shapeOf(plan.steps) !== 'children' ? {} : { childId: (name: string) => pipelineWorkflowId(name, window) }),
        outcome: awaitDagRun(handle).then(
          (state) => {
            const nodes = Object.values(state.nodes);
            const succeeded = nodes.filter((n) => n.state === 'succeeded').length;
            if (state.status === 'succeeded' && succeeded === total) return { succeeded };
            const counts = new Map<string, number>();
            for (const n of nodes) counts.set(n.state, (counts.get(n.state) ?? 0) + 1);
            const states = [...counts].map(([s, c]) => `${s} ${c}`).join(', ');
            return { succeeded, error: `DAG run ${state.status}: ${succeeded} of ${total} succeeded (${states})` };
          },
          (err: unknown) => ({ succeeded: 0, error: `DAG run error: ${(err as Error).message}` }),
        ),
      };
    });
  };
}

/**
 * The raw Temporal baseline: its stack; each measured run is one `rawDag` over the same DAG, with the same
 * maxParallel and continue-as-new.
 */
async function rawRunner(plan: Plan, cleanup: Cleanup): Promise<(round: number) => Promise<Measured>> {
  const taskQueue = `bench-raw-${plan.scenario}`;
  const stack = await startServerStack({ keep: plan.keep }, cleanup);
  const worker = await startRawWorker({ address: stack.address, taskQueue }, cleanup);
  // Numbered like pipectl's input: names sorted, upstreams as indices.
  const names = [...plan.dag.upstream.keys()].sort();
  const index = new Map(names.map((n, i) => [n, i]));
  return (round) => {
    const idPrefix = `raw/${plan.scenario}${round > 0 ? `/${round}` : ''}`;
    const input: RawDagInput = {
      names,
      upstream: names.map((n) => plan.dag.upstream.get(n)!.map((u) => index.get(u)!)),
      maxParallel: plan.maxParallel,
      continueAsNewAfter: plan.continueAsNewAfter,
      idPrefix,
      localSteps: plan.steps !== 'activities',
      ...(shapeOf(plan.steps) !== 'children' ? { inline: true } : {}),
      ...(plan.steps === 'fused' ? { fused: true } : {}),
    };
    return measure(plan, stack, worker.stopped, async () => {
      const handle = await stack.client.workflow.start<typeof rawDag>('rawDag', {
        workflowId: `${idPrefix}/dag`,
        taskQueue,
        args: [input],
      });
      return {
        workflowId: handle.workflowId,
        firstRunId: handle.firstExecutionRunId,
        ...(shapeOf(plan.steps) !== 'children' ? {} : { childId: (name: string) => `${idPrefix}/${name}` }),
        outcome: handle.result().then(
          (r) => {
            if (r.failed.length === 0 && r.succeeded === names.length) return { succeeded: r.succeeded };
            const shown = r.failed.slice(0, 10).join(', ');
            return { succeeded: r.succeeded, error: `${r.succeeded} of ${names.length} succeeded; failed: ${shown}` };
          },
          (err: unknown) => ({ succeeded: 0, error: `raw DAG run error: ${(err as Error).message}` }),
        ),
      };
    });
  };
}

/** The window of a round: the scenario's day, one day later per round. */
function windowOf(round: number): Window {
  const day = 24 * 3_600_000;
  const start = Date.parse(WINDOW.start) + round * day;
  return { start: new Date(start).toISOString(), end: new Date(start + day).toISOString() };
}

function failed(err: unknown): Measured {
  log(`system failed: ${(err as Error).stack ?? String(err)}`);
  return {
    ok: false,
    error: (err as Error).message,
    wallMs: 0,
    succeeded: 0,
    rssAtStartBytes: 0,
    peakRssBytes: 0,
    sqliteGrowthBytes: 0,
  };
}

/**
 * Starts the parent workflow and waits for it (or the timeout, an abort, the worker stopping), sampling the process's
 * RSS and the SQLite file around it; reads the latency figures from the histories when the plan asks.
 */
async function measure(
  plan: Plan,
  stack: ServerStack,
  workerStopped: Promise<string>,
  start: () => Promise<StartedRun>,
): Promise<Measured> {
  const sqliteBefore = sqliteBytes(stack.dbFile);
  const rssAtStart = procRss(process.pid) ?? 0;
  // The worker runs in this process: its RSS is the benchmark's (client, samplers and all).
  const rss = new PeakSampler(() => procRss(process.pid), 100);
  const t0 = Date.now();
  const progress = setInterval(() => log(`still running after ${Math.round((Date.now() - t0) / 1000)} s`), 30_000);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<string>((r) => {
    timer = setTimeout(() => r(`timed out after ${plan.timeoutMs / 1000} s`), plan.timeoutMs);
  });
  let run: StartedRun | undefined;
  let result: { succeeded: number; error?: string };
  try {
    run = await start();
    const why = (p: Promise<string>) => p.then((error) => ({ succeeded: 0, error }));
    result = await Promise.race([
      run.outcome,
      why(timedOut),
      why(workerStopped),
      ...(plan.aborted ? [why(plan.aborted)] : []),
    ]);
  } finally {
    clearInterval(progress);
    clearTimeout(timer);
  }
  const wallMs = Date.now() - t0;
  const peakRssBytes = rss.stop();
  const sqliteGrowthBytes = sqliteBytes(stack.dbFile) - sqliteBefore;
  const ok = result.error === undefined;
  if (!ok) {
    // Stop the run so the server can shut down cleanly.
    await stack.client.workflow
      .getHandle(run.workflowId)
      .terminate(`benchmark: ${result.error}`)
      .catch(() => undefined);
  }
  const latency = ok && plan.latency ? await latencies(stack.client, run, plan.dag) : undefined;
  return {
    ok,
    ...(result.error !== undefined ? { error: result.error } : {}),
    wallMs,
    succeeded: result.succeeded,
    rssAtStartBytes: rssAtStart,
    peakRssBytes,
    sqliteGrowthBytes,
    ...(latency ? { latency } : {}),
  };
}

/** An event's time in ms since 1970, with the sub-millisecond part the server recorded. */
function eventMs(ts: temporal.api.history.v1.IHistoryEvent['eventTime']): number {
  return tsToMs(ts) + ((ts?.nanos ?? 0) % 1e6) / 1e6;
}

/**
 * For each node with upstreams: its last upstream's completion as the parent recorded it → the parent's start request
 * for it (decision) and → its own first event (started), over every run of the parent's continue-as-new chain.
 */
async function latencies(client: Client, run: StartedRun, dag: LayeredDag): Promise<LatencyFigures> {
  const { childId } = run;
  if (!childId) throw new Error('latency figures need child workflows: the nodes ran inside the DAG workflow');
  const completedAt = new Map<string, number>();
  const initiatedAt = new Map<string, number>();
  for (let runId: string | undefined = run.firstRunId; runId;) {
    const history = await client.workflow.getHandle(run.workflowId, runId).fetchHistory();
    runId = undefined;
    for (const event of history.events ?? []) {
      switch (event.eventType) {
        case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: {
          const id = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
          if (id) initiatedAt.set(id, eventMs(event.eventTime));
          break;
        }
        case EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: {
          const id = event.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId;
          if (id) completedAt.set(id, eventMs(event.eventTime));
          break;
        }
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
          runId = event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
          break;
      }
    }
  }
  const downstream = [...dag.upstream].filter(([, ups]) => ups.length > 0);
  const started: number[] = [];
  const decision: number[] = [];
  // A few child histories at a time: the server is the one under test, and reading them is not.
  for (let k = 0; k < downstream.length; k += 8) {
    await Promise.all(
      downstream.slice(k, k + 8).map(async ([name, ups]) => {
        const id = childId(name);
        const gate = Math.max(...ups.map((u) => completedAt.get(childId(u)) ?? NaN));
        const history = await client.workflow.getHandle(id).fetchHistory();
        const first = history.events?.[0];
        const init = initiatedAt.get(id);
        if (Number.isNaN(gate) || init === undefined || !first) {
          throw new Error(`the histories do not record when ${name} or its upstreams started or completed`);
        }
        decision.push(round(init - gate, 1));
        started.push(round(eventMs(first.eventTime) - gate, 1));
      }),
    );
  }
  return { started, decision };
}

/** Nearest-rank percentile (q = 1: the maximum); 0 for no values. */
function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

function packageVersion(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

function sdkVersion(): string {
  return packageVersion(join(ROOT, 'node_modules', '@temporalio', 'worker'));
}

// --- command line ---

const SCENARIOS = ['chain', 'fanout', 'large-dag', 'latency'] as const;

/** Command-line options. */
const CliOptions = z.object({
  scenario: z.enum(SCENARIOS),
  nodes: z.coerce.number().int().min(2).max(200_000).optional(),
  width: z.coerce.number().int().min(1).max(100_000).optional(),
  layers: z.coerce.number().int().min(1).optional(),
  seed: z.coerce.number().int().optional(),
  maxParallel: z.coerce.number().int().min(1).max(1000).optional(),
  continueAsNewAfter: z.coerce.number().int().min(1).optional(),
  timeoutMs: DurationOption.optional(),
  systems: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()))
    .pipe(z.array(z.enum(['pipectl', 'temporal'])).min(1))
    .optional(),
  keep: z.boolean().optional(),
  steps: z.enum(['local', 'activities', 'inline', 'fused']).optional(),
  rounds: z.coerce.number().int().min(1).max(99).optional(),
});
type CliOptions = z.infer<typeof CliOptions>;

const USAGE = `Usage: npx tsx bench/scenarios/dag.ts <scenario> [options]   (run \`npm run build\` first)

Scenarios (each run by the raw Temporal baseline, then pipectl, each on a fresh dev server + SQLite):
  chain        --nodes N (100) no-op pipelines in a line: wallMs, perNodeMs, nodesPerSec
  fanout       --width N (1000): 1 → N → 1: wallMs (makespan), nodesPerSec
  large-dag    --nodes N (10000) --layers N (100) --seed N (1): wallMs, nodesPerSec, peakRssBytes, sqliteGrowthBytes
  latency      --nodes N (50) in a line: upstream completed → downstream started, p50Ms/p99Ms/maxMs (and decision…);
               child workflows only (not --steps inline)

Options:
  --max-parallel N         nodes at once, both systems (chain/latency 8, fanout min(1000, width), large-dag 100)
  --continue-as-new-after N  node runs per parent run before continue-as-new, both systems (500)
  --timeout DURATION       give up on a system's run after this long (chain/latency 10m, fanout 20m, large-dag 90m)
  --systems LIST           systems to run, in order (temporal,pipectl)
  --steps KIND             how each node runs its no-op extract and load, both systems (local):
                             local       in a child workflow, as local activities (pipectl's localSteps)
                             activities  in a child workflow, as activities
                             inline      inside the DAG workflow, as local activities of it, no child workflows
                                         (pipectl's inline: true with localSteps: true)
                             fused       inside the DAG workflow, both steps as one local activity of it
                                         (pipectl's inline: true with localSteps: 'fused')
  --rounds N               DAG runs per system on its stack, each over its own window (1); the figures are the
                           run with the median wall time
  --keep                   keep the temporary folders (SQLite files, server logs)`;

function readOptions(argv: string[]): CliOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      nodes: { type: 'string' },
      width: { type: 'string' },
      layers: { type: 'string' },
      seed: { type: 'string' },
      'max-parallel': { type: 'string' },
      'continue-as-new-after': { type: 'string' },
      timeout: { type: 'string' },
      systems: { type: 'string' },
      keep: { type: 'boolean' },
      steps: { type: 'string' },
      rounds: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) throw new OptionsError(USAGE, 0);
  if (positionals.length !== 1) throw new OptionsError(`name one scenario: ${SCENARIOS.join(', ')}\n\n${USAGE}`);
  const parsed = CliOptions.safeParse({
    scenario: positionals[0],
    nodes: values.nodes,
    width: values.width,
    layers: values.layers,
    seed: values.seed,
    maxParallel: values['max-parallel'],
    continueAsNewAfter: values['continue-as-new-after'],
    timeoutMs: values.timeout,
    systems: values.systems,
    keep: values.keep,
    steps: values.steps,
    rounds: values.rounds,
  });
  if (!parsed.success) {
    throw new OptionsError(
      parsed.error.issues
        .map((i) => `${i.path[0] === 'scenario' ? 'scenario' : flagOf(i.path[0])}: ${i.message}`)
        .join('\n'),
    );
  }
  const o = parsed.data;
  const misplaced = (flag: string, where: string[]) =>
    !where.includes(o.scenario) ? [`${flag} applies to ${where.join(', ')} only`] : [];
  const mistakes = [
    ...(o.width !== undefined ? misplaced('--width', ['fanout']) : []),
    ...(o.nodes !== undefined ? misplaced('--nodes', ['chain', 'large-dag', 'latency']) : []),
    ...(o.layers !== undefined ? misplaced('--layers', ['large-dag']) : []),
    ...(o.seed !== undefined ? misplaced('--seed', ['large-dag']) : []),
    ...(o.scenario === 'large-dag' && (o.layers ?? 100) > (o.nodes ?? 10_000)
      ? ['--layers: must not exceed --nodes']
      : []),
    ...(o.scenario === 'latency' && shapeOf(o.steps ?? 'local') !== 'children' ? [INLINE_LATENCY] : []),
  ];
  if (mistakes.length > 0) throw new OptionsError(mistakes.join('\n'));
  return o;
}

/** Runs the scenario the command line names. */
function runScenario(o: CliOptions, aborted: Promise<string>): Promise<ScenarioResult> {
  const common: DagScenarioOptions = {
    aborted,
    ...(o.maxParallel !== undefined ? { maxParallel: o.maxParallel } : {}),
    ...(o.continueAsNewAfter !== undefined ? { continueAsNewAfter: o.continueAsNewAfter } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.systems ? { systems: o.systems } : {}),
    ...(o.keep ? { keep: true } : {}),
    ...(o.steps ? { steps: o.steps } : {}),
    ...(o.rounds !== undefined ? { rounds: o.rounds } : {}),
  };
  const nodes = o.nodes !== undefined ? { nodes: o.nodes } : {};
  switch (o.scenario) {
    case 'chain':
      return runChain({ ...common, ...nodes });
    case 'fanout':
      return runFanout({ ...common, ...(o.width !== undefined ? { width: o.width } : {}) });
    case 'large-dag':
      return runLargeDag({
        ...common,
        ...nodes,
        ...(o.layers !== undefined ? { layers: o.layers } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
      });
    case 'latency':
      return runLatency({ ...common, ...nodes });
  }
}

/** The result as a readable table: one column per system, and pipectl's figures as multiples of the baseline's. */
function table(r: ScenarioResult): string {
  const names = [...new Set(r.results.flatMap((s) => Object.keys(s.figures)))];
  const p = r.results.find((s) => s.system === 'pipectl');
  const t = r.results.find((s) => s.system === 'temporal');
  const header = ['figure', ...r.results.map((s) => s.system), ...(p && t ? ['pipectl/temporal'] : [])];
  const rows = names.map((k) => [
    k,
    ...r.results.map((s) => (s.figures[k] !== undefined ? String(s.figures[k]) : '-')),
    ...(p && t
      ? [p.figures[k] && t.figures[k] && !COUNTS.has(k) ? `${round(p.figures[k] / t.figures[k], 2)}×` : '-']
      : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    `${r.scenario} ${Object.entries(r.size)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}${r.shape && r.shape !== 'children' ? `, ${r.shape}` : ''}`,
    ...r.results.map((s) => `${s.system}: ${s.ok ? 'ok' : `FAILED: ${s.error}`} · ${s.setup ?? ''}`),
    '',
    line(header),
    ...rows.map(line),
  ].join('\n');
}

if (require.main === module) {
  let chosen = 'dag';
  runBench<CliOptions, ScenarioResult>({
    // Read after the run: the JSON file is named after the scenario (`scenario-chain-<time>.json`,
    // `scenario-chain-inline-<time>.json`).
    get name() {
      return `scenario-${chosen}`;
    },
    readOptions: (argv) => {
      const options = readOptions(argv);
      const shape = shapeOf(options.steps ?? 'local');
      chosen = shape === 'children' ? options.scenario : `${options.scenario}-${shape}`;
      return options;
    },
    run: (options, _cleanup, aborted) => runScenario(options, aborted),
    table,
    passed: (r) => r.results.every((s) => s.ok),
  });
}
