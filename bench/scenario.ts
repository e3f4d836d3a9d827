/**
 * What every benchmark scenario reports, so `npm run bench` can put pipectl, raw Temporal and the peer orchestrators
 * side by side and judge the goals.
 */

/** The systems a scenario can measure. `temporal` is the raw Temporal TypeScript baseline doing the same work. */
export type System = 'pipectl' | 'temporal' | 'airflow' | 'prefect' | 'dagster';

/** The scenarios of `npm run bench`. */
export type ScenarioName = 'chain' | 'fanout' | 'large-dag' | 'latency' | 'sync' | 'cold-start' | 'etl';

/**
 * How a DAG run runs its pipelines: each as a child workflow of the DAG run (`children`), or each inside the DAG run's
 * own workflow, its steps local activities of it (`inline`: pipectl's `inline: true` with `localSteps: true`), or all
 * of a pipeline's steps as one local activity of it (`fused`: pipectl's `inline: true` with `localSteps: 'fused'`).
 */
export type DagShape = 'children' | 'inline' | 'fused';

/**
 * Figures of one system in one scenario, each in the unit its name says. The names the report and the goals read:
 * - `wallMs`: from submitting the work to its completion;
 * - `perNodeMs`: wall time / nodes (chain);
 * - `nodesPerSec`: nodes / wall time (fan-out, large DAG);
 * - `p50Ms`, `p99Ms`, `maxMs`: upstream completed → downstream started (latency);
 * - `peakRssBytes`: peak resident memory of the worker process; `sqliteGrowthBytes`: growth of the server's SQLite;
 * - `firstSyncMs`, `noopSyncMs`: `pipectl sync` of a fresh folder, then again with nothing changed;
 * - `coldStartMs`: process start to polling;
 * - `rowsPerSec`: rows moved per second (ETL).
 * Other figures may be added; the report shows them as they are.
 */
export type Figures = Record<string, number>;

/** One system's run of a scenario. */
export interface SystemResult {
  system: System;
  /** Version of the system (`temporal` and `pipectl`: the SDK and package versions). */
  version?: string;
  /** How it was set up, in a few words (executor, database, ...). */
  setup?: string;
  /** Whether it completed and every task succeeded; a failed run keeps its error and no figures count. */
  ok: boolean;
  error?: string;
  figures: Figures;
}

/** One scenario's results. */
export interface ScenarioResult {
  scenario: ScenarioName;
  /** The DAG scenarios' shape of DAG run; `children` when absent (and for the scenarios that run no DAG). */
  shape?: DagShape;
  /** The size it ran at (`{ nodes: 100 }`, `{ rows: 1000000 }`). */
  size: Record<string, number>;
  startedAt: string;
  results: SystemResult[];
  notes?: string[];
}
