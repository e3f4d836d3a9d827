import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, HEARTBEAT_EVERY_MS } from '../activities';
import { PostgresPools } from '../activities/postgres/pools';
import { Staging } from '../activities/staging';
import { TransformThreadPools } from '../activities/transform-threads';
import type { Catalog } from '../catalog/load';
import { connectWorker, dataConverter } from '../temporal-config/connection';
import { SettingsError, type Settings } from '../temporal-config/settings';
import { BUNDLE_PATH, WORKFLOW_INTERCEPTORS } from './build-bundle';
import { connectionResolver, connectionsUsed, configuredConnections } from './connections';
import type { EmbeddedPostgresServer } from './embedded-postgres';
import { installWorkerRuntime, metricsEndpointOf, type MetricsEndpoint } from './logging';
import { stepInterceptors } from './metrics';
import { workerQueues, type QueueSpec } from './queues';
import { withoutLoaderInThreads } from './workflow-threads';
import { parseDuration } from '../core/duration';

/** Options of a worker process. */
export interface PipectlWorkerOptions {
  settings: Settings;
  catalog: Catalog;
  /**
   * Task queues to serve, each with an optional limit on steps at once (default: `PIPECTL_WORKER_QUEUES`, else the
   * settings' queue).
   */
  taskQueues?: QueueSpec[];
  /** Environment holding `PIPECTL_CONNECTION_<NAME>` variables. */
  env?: NodeJS.ProcessEnv;
  /** An embedded PostgreSQL already started by the caller (the dev command); otherwise started here when needed. */
  embedded?: EmbeddedPostgresServer;
  /** Port of the embedded PostgreSQL when this worker starts it. */
  embeddedPort?: number;
  /** Steps (activities) at once on each queue that sets no limit of its own. */
  maxConcurrentActivities?: number;
  /** Port of the Prometheus metrics endpoint (default `PIPECTL_METRICS_PORT`; none when neither is set). */
  metricsPort?: number;
  /** Progress lines for the user. */
  log?: (line: string) => void;
}

/** A built worker and what it owns. */
export interface PipectlWorker {
  workers: Worker[];
  /** Where Prometheus metrics are served, if they are. */
  metrics?: MetricsEndpoint;
  /** Runs until shutdown (SIGINT/SIGTERM or `shutdown()`), then releases connections. */
  run(): Promise<void>;
  shutdown(): void;
}

/** `PIPECTL_SHUTDOWN_GRACE` (default 30s): how long running steps may finish after a stop signal. */
/** `PIPECTL_HEARTBEAT_INTERVAL`: how often running steps heartbeat at most, 1 s to 1 min. */
function heartbeatIntervalMs(env: NodeJS.ProcessEnv): number {
  const text = env.PIPECTL_HEARTBEAT_INTERVAL;
  if (!text) return HEARTBEAT_EVERY_MS;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1_000 || ms > 60_000)
    throw new SettingsError(`PIPECTL_HEARTBEAT_INTERVAL=${text}: expected a duration from 1s to 1m (e.g. 10s)`);
  return ms;
}

function shutdownGraceMs(env: NodeJS.ProcessEnv): number {
  const ms = parseDuration(env.PIPECTL_SHUTDOWN_GRACE ?? '30s');
  if (ms === undefined)
    throw new Error(`PIPECTL_SHUTDOWN_GRACE=${env.PIPECTL_SHUTDOWN_GRACE}: not a duration (e.g. 30s)`);
  return ms;
}

/**
 * The workflow code and the interceptors: the prebuilt bundle (which carries the workflow interceptors), or, when it
 * is missing, workflows bundled on the fly (development only).
 */
export function workflowSource(
  log: (line: string) => void,
): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'interceptors'> {
  const activity = [stepInterceptors];
  if (existsSync(BUNDLE_PATH) && process.env.PIPECTL_BUNDLE_ON_THE_FLY !== '1') {
    return { workflowBundle: { codePath: BUNDLE_PATH }, interceptors: { activity } };
  }
  log(
    `No prebuilt workflow bundle at ${BUNDLE_PATH}: bundling workflows on the fly (run \`npm run build\` for production)`,
  );
  return {
    workflowsPath: require.resolve('../workflows'),
    interceptors: { activity, workflowModules: [WORKFLOW_INTERCEPTORS] },
  };
}

/**
 * Builds a worker for the catalog's pipelines: PostgreSQL pools for named connections (embedded PostgreSQL when some
 * used connection has no variable), staging, the step activities and the workflow bundle.
 */
export async function createPipectlWorker(options: PipectlWorkerOptions): Promise<PipectlWorker> {
  const { settings, catalog } = options;
  const log = options.log ?? (() => undefined);
  const env = options.env ?? process.env;
  const heartbeatEveryMs = heartbeatIntervalMs(env);
  const queues = options.taskQueues?.length ? options.taskQueues : workerQueues(undefined, env, settings.taskQueue);
  const metrics =
    options.metricsPort !== undefined
      ? { host: env.PIPECTL_METRICS_HOST || '0.0.0.0', port: options.metricsPort }
      : metricsEndpointOf(env);
  installWorkerRuntime(env, metrics);
  let embedded = options.embedded;
  let ownsEmbedded = false;
  const configured = configuredConnections(env);
  const needed = connectionsUsed([...catalog.pipelines.values()].map((e) => e.spec));
  needed.add(settings.stagingConnection);
  if (!embedded && [...needed].some((n) => !configured.has(n)) && env.PIPECTL_EMBEDDED_POSTGRES !== '0') {
    const { startEmbeddedPostgres } = await import('./embedded-postgres');
    embedded = await startEmbeddedPostgres({
      dataDir: join(settings.stateDir, 'postgres'),
      port: options.embeddedPort ?? Number(env.PIPECTL_POSTGRES_PORT || 55432),
      log,
    });
    ownsEmbedded = embedded.started;
  }
  const pools = new PostgresPools(connectionResolver(env, embedded));
  const staging = new Staging(() => pools.get(settings.stagingConnection));
  const transformThreads = new TransformThreadPools();
  const activities = createActivities({
    pipeline: (name) => catalog.pipelines.get(name)?.spec,
    // A catalog built in memory (tests, benchmarks) names no file a thread could load: its transforms stay here.
    pipelineFile: (name) => {
      const file = catalog.pipelines.get(name)?.file;
      return file !== undefined && existsSync(file) ? resolve(file) : undefined;
    },
    pools,
    staging,
    inlineLimitBytes: settings.inlineLimitBytes,
    filesDir: settings.filesDir,
    transformThreads,
    heartbeatEveryMs,
  });
  const connection = await connectWorker(settings);
  const source = workflowSource(log);
  const workers = await Promise.all(
    queues.map((queue) => {
      // Each queue is a Temporal worker of its own with its own slots, so a queue of heavy steps never takes the
      // slots of a light one.
      const maxActivities = queue.maxConcurrentActivities ?? options.maxConcurrentActivities;
      return withoutLoaderInThreads(() =>
        Worker.create({
          connection,
          namespace: settings.namespace,
          dataConverter: dataConverter(settings),
          taskQueue: queue.name,
          activities,
          ...source,
          // On SIGINT/SIGTERM running steps get this long to finish before they are cancelled (and retried elsewhere).
          shutdownGraceTime: shutdownGraceMs(env),
          // A step learns that it was cancelled (a run cancelled, or the step beside it failed: overlapLoad) from the
          // answer to a heartbeat. The SDK sends at most one per 80% of the heartbeat timeout (48 s for the default
          // minute); steps heartbeat every PIPECTL_HEARTBEAT_INTERVAL, and this sends them on as often.
          maxHeartbeatThrottleInterval: heartbeatEveryMs,
          ...(maxActivities ? { maxConcurrentActivityTaskExecutions: maxActivities } : {}),
        }),
      );
    }),
  );
  return {
    workers,
    ...(metrics ? { metrics } : {}),
    async run() {
      try {
        await Promise.all(workers.map((w) => w.run()));
      } finally {
        await transformThreads.close();
        await pools.close();
        await connection.close();
        if (ownsEmbedded) await embedded?.stop();
      }
    },
    shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
