/**
 * `npm run bench`: every scenario for pipectl and the raw Temporal baseline, the peer orchestrators on chain and
 * fan-out, the goals judged, a table on stdout, and JSON, markdown and an SVG plot under bench/results/<time>/.
 * Chain, fan-out and large DAG run in three shapes of DAG run, each a scenario result of its own: each pipeline a child
 * workflow (`children`); each pipeline inside the DAG run's workflow with local steps (`inline`); and the same with all
 * of a pipeline's steps one local activity (`fused`). The peers run once per size and are shown with every shape.
 *
 *   npm run bench                                   (all scenarios at the issue's sizes, every installed peer)
 *   npm run bench -- --only chain,fanout --peers none
 *   npm run bench -- --shapes inline                (the DAG scenarios with inline pipelines only)
 *   npm run bench -- --smoke                        (tiny sizes, no peers: checks the suite works, nothing else)
 *   npm run bench -- --publish                      (also copy the report to bench/report/, linked from the README)
 *
 * Each scenario also runs alone: `npx tsx bench/scenarios/dag.ts chain --nodes 100`, `npx tsx bench/scenarios/ops.ts
 * sync --pipelines 1000`, `npx tsx bench/peers/run.ts --tool airflow --scenario chain --nodes 100`.
 * Install the peers first with `bash bench/peers/install.sh` (into the git-ignored bench/.peers/).
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres } from '../workers/embedded-postgres';
import { changedFiles, checkBundle, gitCommit, log, ROOT } from './harness';
import { freePort } from '../test/helpers/ports';
import { peersInstalled, runPeer, type DagsterExecutor, type PeerResult } from './peers/run';
import { DAG_SHAPES, judgeGoals, markdownReport, overheadPlot, sizeOf } from './report';
import type { DagShape, ScenarioName, ScenarioResult, SystemResult } from './scenario';
import { runChain, runFanout, runLargeDag, runLatency, type StepKind } from './scenarios/dag';
import { runColdStart, runEtl, runSync } from './scenarios/ops';

const SCENARIOS: ScenarioName[] = ['chain', 'fanout', 'large-dag', 'latency', 'sync', 'cold-start', 'etl'];
const PEERS = ['airflow', 'prefect', 'dagster'] as const;
type Peer = (typeof PEERS)[number];
/** How the DAG scenarios run each shape: child workflows with local steps (pipectl's default), inline, or fused. */
const STEPS: Record<DagShape, StepKind> = { children: 'local', inline: 'inline', fused: 'fused' };

/** Sizes of a run. */
interface Sizes {
  chain: number[];
  fanout: number;
  largeNodes: number;
  largeLayers: number;
  latency: number;
  sync: number;
  coldStartRuns: number;
  /** DAG runs per system in each chain scenario; the figures are the median run's. */
  chainRounds: number;
  etlRows: number;
  /** Chain lengths the peers run (a subset of `chain`). */
  peerChain: number[];
  /** Fan-out width the peers run (pipectl and raw Temporal run it too, when it differs from `fanout`). */
  peerFanout: number;
}

const FULL: Sizes = {
  chain: [10, 30, 100],
  fanout: 1000,
  largeNodes: 10_000,
  largeLayers: 100,
  latency: 50,
  sync: 1000,
  coldStartRuns: 5,
  chainRounds: 5,
  etlRows: 1_000_000,
  peerChain: [10, 30, 100],
  peerFanout: 100,
};
const SMOKE: Sizes = {
  chain: [5],
  fanout: 10,
  largeNodes: 40,
  largeLayers: 4,
  latency: 5,
  sync: 10,
  coldStartRuns: 1,
  chainRounds: 3,
  etlRows: 2_000,
  peerChain: [5],
  peerFanout: 10,
};

const USAGE = `Usage: npm run bench -- [options]

  --only LIST        scenarios to run, comma-separated (${SCENARIOS.join(',')}); default all
  --shapes LIST      shapes of DAG run for chain, fan-out and large DAG (${DAG_SHAPES.join(',')}); default all three:
                     children = each pipeline a child workflow (local steps), inline = each pipeline inside the DAG
                     run (inline: true, local steps), fused = inline with all of a pipeline's steps one local
                     activity (localSteps: 'fused'); latency runs with child workflows only
  --peers LIST       peers for chain and fan-out (${PEERS.join(',')}, or none); default: every installed one;
                     they run once per size, shown with each shape
  --smoke            tiny sizes and no peers: checks the suite works, its figures mean nothing
  --publish          also copy the report, JSON and plot to bench/report/
  --chain N,N,..     chain lengths (${FULL.chain.join(',')}); the plot draws per-node overhead against them
  --fanout N         fan-out width (${FULL.fanout}); the peers run width ${FULL.peerFanout} (--peer-fanout), and so do
                     pipectl and raw Temporal, to compare at the same size
  --large N          large-DAG pipelines (${FULL.largeNodes}), in --layers layers (${FULL.largeLayers})
  --latency N        chain length of the latency scenario (${FULL.latency})
  --sync N           pipelines of the sync scenario (${FULL.sync})
  --etl-rows N       rows of the ETL scenario (${FULL.etlRows})
  --rounds N         DAG runs per system in each chain scenario, one after the other on its stack (${FULL.chainRounds});
                     the figures are the run with the median wall time`;

function positive(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive whole number, got ${v}`);
  return n;
}

function readOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      only: { type: 'string' },
      shapes: { type: 'string' },
      peers: { type: 'string' },
      smoke: { type: 'boolean' },
      publish: { type: 'boolean' },
      chain: { type: 'string' },
      fanout: { type: 'string' },
      'peer-fanout': { type: 'string' },
      large: { type: 'string' },
      layers: { type: 'string' },
      latency: { type: 'string' },
      sync: { type: 'string' },
      'etl-rows': { type: 'string' },
      rounds: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : SCENARIOS;
  const unknown = only.filter((s) => !SCENARIOS.includes(s as ScenarioName));
  if (unknown.length)
    throw new Error(`--only: unknown scenario ${unknown.join(', ')} (known: ${SCENARIOS.join(', ')})`);
  const shapes = values.shapes ? values.shapes.split(',').map((s) => s.trim()) : [...DAG_SHAPES];
  const unknownShapes = shapes.filter((s) => !DAG_SHAPES.includes(s as DagShape));
  if (unknownShapes.length)
    throw new Error(`--shapes: unknown shape ${unknownShapes.join(', ')} (known: ${DAG_SHAPES.join(', ')})`);
  const base = values.smoke ? SMOKE : FULL;
  const chain = values.chain ? values.chain.split(',').map((v) => positive('--chain', v)!) : base.chain;
  const sizes: Sizes = {
    ...base,
    chain,
    peerChain: values.chain ? chain : base.peerChain,
    fanout: positive('--fanout', values.fanout) ?? base.fanout,
    peerFanout: positive('--peer-fanout', values['peer-fanout']) ?? base.peerFanout,
    largeNodes: positive('--large', values.large) ?? base.largeNodes,
    largeLayers: positive('--layers', values.layers) ?? base.largeLayers,
    latency: positive('--latency', values.latency) ?? base.latency,
    sync: positive('--sync', values.sync) ?? base.sync,
    etlRows: positive('--etl-rows', values['etl-rows']) ?? base.etlRows,
    chainRounds: positive('--rounds', values.rounds) ?? base.chainRounds,
  };
  let peers: Peer[];
  if (values.smoke || values.peers === 'none') peers = [];
  else if (values.peers) {
    const list = values.peers.split(',').map((s) => s.trim());
    const bad = list.filter((p) => !PEERS.includes(p as Peer));
    if (bad.length) throw new Error(`--peers: unknown ${bad.join(', ')} (known: ${PEERS.join(', ')}, none)`);
    const missing = list.filter((p) => !peersInstalled(p as Peer));
    if (missing.length)
      throw new Error(`--peers: ${missing.join(', ')} not installed: run bash bench/peers/install.sh`);
    peers = list as Peer[];
  } else peers = PEERS.filter((p) => peersInstalled(p));
  return {
    only: only as ScenarioName[],
    shapes: DAG_SHAPES.filter((s) => shapes.includes(s)),
    sizes,
    peers,
    publish: values.publish ?? false,
    smoke: values.smoke ?? false,
  };
}

/** The note on a scenario whose peers' runs are shown with other shapes too. */
const PEERS_SHARED =
  "the peers ran once at this size: their figures are the same runs in every shape's table at this size";

/** A peer's result as a system of a scenario. */
function peerSystem(r: PeerResult): SystemResult {
  const figures: Record<string, number> = {
    wallMs: r.wallMs,
    perNodeMs: r.perNodeMs,
    setupMs: r.setupMs,
    tasks: r.tasks,
    loadAvg1m: r.loadAvg1m,
  };
  if (r.nodesPerSec !== null) figures.nodesPerSec = r.nodesPerSec;
  if (r.recordedMs !== undefined) figures.recordedMs = r.recordedMs;
  return { system: r.tool, version: r.version, setup: r.variant, ok: true, figures };
}

/** The table printed at the end: one line per goal. */
function goalTable(scenarios: ScenarioResult[]): string {
  const goals = judgeGoals(scenarios);
  const w = Math.max(...goals.map((g) => g.text.length));
  return goals.map((g) => `${g.text.padEnd(w)}  ${g.status.padEnd(9)}  ${g.figure ?? ''}`).join('\n');
}

async function main(): Promise<number> {
  let options: ReturnType<typeof readOptions>;
  try {
    options = readOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  if (!options) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  checkBundle('bench/run-all.ts');
  const { only, shapes, sizes, peers } = options;
  const startedAt = new Date().toISOString();
  const outDir = join(ROOT, 'bench', 'results', `bench-${startedAt.replace(/[:.]/g, '-')}`);
  mkdirSync(outDir, { recursive: true });
  const scenarios: ScenarioResult[] = [];
  const save = () => writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(scenarios, null, 2)}\n`);
  const step = async (name: string, fn: () => Promise<ScenarioResult>, shape?: DagShape) => {
    log(`— ${name}`);
    try {
      scenarios.push(await fn());
    } catch (err) {
      log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
      scenarios.push({
        scenario: name.split(' ')[0] as ScenarioName,
        ...(shape ? { shape } : {}),
        size: {},
        startedAt: new Date().toISOString(),
        results: [{ system: 'pipectl', ok: false, error: (err as Error).message, figures: {} }],
      });
    }
    save();
  };

  // Each DAG scenario in each shape: a step of its own, named like `chain 100`, `chain 100 inline`, `chain 100 fused`.
  const shaped = (shape: DagShape) => (shape === 'children' ? '' : ` ${shape}`);
  if (only.includes('chain')) {
    for (const shape of shapes) {
      for (const nodes of sizes.chain) {
        await step(
          `chain ${nodes}${shaped(shape)}`,
          () => runChain({ nodes, steps: STEPS[shape], rounds: sizes.chainRounds }),
          shape,
        );
      }
    }
  }
  if (only.includes('fanout')) {
    for (const shape of shapes) {
      for (const width of new Set([sizes.peerFanout, sizes.fanout])) {
        // One DAG run for the whole fan-out (no continue-as-new in the middle), for both systems.
        await step(
          `fanout ${width}${shaped(shape)}`,
          () => runFanout({ width, continueAsNewAfter: width + 2, steps: STEPS[shape] }),
          shape,
        );
      }
    }
  }
  if (only.includes('large-dag')) {
    for (const shape of shapes) {
      await step(
        `large-dag ${sizes.largeNodes}${shaped(shape)}`,
        () =>
          runLargeDag({
            nodes: sizes.largeNodes,
            layers: sizes.largeLayers,
            timeoutMs: 30 * 60_000,
            steps: STEPS[shape],
          }),
        shape,
      );
    }
  }
  if (only.includes('latency')) await step(`latency ${sizes.latency}`, () => runLatency({ nodes: sizes.latency }));
  if (only.includes('sync')) await step(`sync ${sizes.sync}`, () => runSync({ pipelines: sizes.sync }));
  if (only.includes('cold-start')) await step('cold-start', () => runColdStart({ runs: sizes.coldStartRuns }));
  if (only.includes('etl')) await step(`etl ${sizes.etlRows}`, () => runEtl({ rows: sizes.etlRows }));

  // The peers run chain and fan-out at the same sizes, after pipectl, each against its own durable state (Airflow
  // and Dagster in a PostgreSQL database of their own; Prefect with its server's SQLite). Dagster runs with all ops
  // in one process (its fastest) and, on the shortest chain only, with its default executor (a process per op).
  // A peer has no shapes: each run is added to the scenario result of every shape at its size.
  const peerRuns = (tool: Peer): { scenario: 'chain' | 'fanout'; nodes: number; executor?: DagsterExecutor }[] => {
    const executor = tool === 'dagster' ? { executor: 'in_process' as const } : {};
    return [
      ...(only.includes('chain')
        ? sizes.peerChain.map((nodes) => ({ scenario: 'chain' as const, nodes, ...executor }))
        : []),
      ...(only.includes('fanout') ? [{ scenario: 'fanout' as const, nodes: sizes.peerFanout, ...executor }] : []),
      ...(tool === 'dagster' && only.includes('chain')
        ? [{ scenario: 'chain' as const, nodes: Math.min(...sizes.peerChain), executor: 'multiprocess' as const }]
        : []),
    ];
  };
  if (peers.length && (only.includes('chain') || only.includes('fanout'))) {
    const pgDir = mkdtempSync(join(tmpdir(), 'pipectl-bench-peers-'));
    chmodSync(pgDir, 0o755);
    const pg = await startEmbeddedPostgres({ dataDir: join(pgDir, 'postgres'), port: await freePort(), log });
    try {
      for (const tool of peers) {
        for (const run of peerRuns(tool)) {
          const label = `${tool}${run.executor ? ` (${run.executor})` : ''} ${run.scenario} ${run.nodes}`;
          log(`— ${label}`);
          const targets = scenarios.filter((s) => s.scenario === run.scenario && sizeOf(s) === run.nodes);
          const stateDir = mkdtempSync(join(pgDir, `${tool}-${run.scenario}-`));
          let result: SystemResult;
          try {
            result = peerSystem(await runPeer({ tool, ...run, stateDir, pgUrl: pg.baseUrl }));
          } catch (err) {
            result = { system: tool, ok: false, error: (err as Error).message, figures: {} };
          }
          log(`${label}: ${result.ok ? JSON.stringify(result.figures) : result.error}`);
          for (const target of targets) {
            target.results.push(result);
            if (targets.length > 1 && !target.notes?.includes(PEERS_SHARED)) {
              target.notes = [...(target.notes ?? []), PEERS_SHARED];
            }
          }
          save();
        }
      }
    } finally {
      await pg.stop();
      rmSync(pgDir, { recursive: true, force: true });
    }
  }

  const finishedAt = new Date().toISOString();
  const plot = overheadPlot(scenarios);
  if (plot) writeFileSync(join(outDir, 'overhead.svg'), plot);
  const context = {
    startedAt,
    finishedAt,
    ...(gitCommit() ? { commit: gitCommit() } : {}),
    dirty: changedFiles(),
    machine: `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}`,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  };
  const md = markdownReport(context, scenarios, plot ? 'overhead.svg' : undefined);
  writeFileSync(join(outDir, 'report.md'), md);
  save();
  if (options.publish && !options.smoke) {
    const pub = join(ROOT, 'bench', 'report');
    mkdirSync(pub, { recursive: true });
    for (const f of ['report.md', 'results.json', ...(plot ? ['overhead.svg'] : [])]) {
      copyFileSync(join(outDir, f), join(pub, f));
    }
    log(`published to ${pub}`);
  }
  process.stdout.write(`\n${goalTable(scenarios)}\n\nreport: ${join(outDir, 'report.md')}\n`);
  return scenarios.every((s) => s.results.every((r) => r.ok)) ? 0 : 2;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
