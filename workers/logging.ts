import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import type { LogLevel } from '@temporalio/common';

const LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

let installed = false;

function jsonLine(entry: LogEntry): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry.meta ?? {})) {
    // Errors from the workflow sandbox are not instances of this realm's Error: recognise them by shape.
    const isError = v instanceof Error || (typeof v === 'object' && v !== null && 'message' in v && 'name' in v);
    meta[k] = isError
      ? { name: (v as Error).name, message: (v as Error).message }
      : typeof v === 'bigint'
        ? v.toString()
        : v;
  }
  return JSON.stringify({ time, level: entry.level.toLowerCase(), msg: entry.message, ...meta });
}

/** Where the worker serves its Prometheus metrics. */
export interface MetricsEndpoint {
  host: string;
  port: number;
}

/**
 * `PIPECTL_METRICS_PORT` (and optionally `PIPECTL_METRICS_HOST`, default `0.0.0.0`): where the worker serves Prometheus
 * metrics at `/metrics`; unset means no metrics endpoint.
 */
export function metricsEndpointOf(env: NodeJS.ProcessEnv): MetricsEndpoint | undefined {
  const raw = env.PIPECTL_METRICS_PORT;
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`PIPECTL_METRICS_PORT=${raw}: expected a port number (1-65535)`);
  }
  return { host: env.PIPECTL_METRICS_HOST || '0.0.0.0', port };
}

/** The endpoint the process's runtime serves metrics on, once installed here. */
let served: MetricsEndpoint | undefined;

/**
 * Installs the worker's runtime once per process.
 * - Logs: one JSON object per line on stderr, carrying the SDK's attributes (workflow ID, run ID, activity type) and
 *   pipectl's (pipeline, group, window, run kind). `PIPECTL_LOG_LEVEL` sets the threshold (TRACE, DEBUG, INFO, WARN,
 *   ERROR; default INFO); `PIPECTL_LOG_FORMAT=pretty` keeps the SDK's format.
 * - Metrics: with an endpoint (see {@link metricsEndpointOf}), Prometheus metrics at `http://host:port/metrics`: the
 *   SDK's worker metrics (`temporal_…`) and pipectl's own (`pipectl_…`).
 */
export function installWorkerRuntime(env: NodeJS.ProcessEnv = process.env, metrics = metricsEndpointOf(env)): void {
  if (installed) {
    if (metrics && (served?.port !== metrics.port || served.host !== metrics.host)) {
      throw new Error(
        `cannot serve metrics on port ${metrics.port}: this process's worker runtime was set up before ${served ? `(metrics on port ${served.port})` : 'without metrics'}`,
      );
    }
    return;
  }
  const raw = (env.PIPECTL_LOG_LEVEL ?? 'INFO').toUpperCase();
  if (!LEVELS.includes(raw as LogLevel)) {
    throw new Error(`PIPECTL_LOG_LEVEL=${env.PIPECTL_LOG_LEVEL}: expected one of ${LEVELS.join(', ')}`);
  }
  const level = raw as LogLevel;
  const logger =
    env.PIPECTL_LOG_FORMAT === 'pretty'
      ? new DefaultLogger(level)
      : new DefaultLogger(level, (entry) => process.stderr.write(`${jsonLine(entry)}\n`));
  installed = true;
  try {
    Runtime.install({
      logger,
      ...(metrics
        ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `${metrics.host}:${metrics.port}` } } } }
        : {}),
    });
    served = metrics;
  } catch (err) {
    // A runtime already exists in this process (another worker was created first); its logger stays.
    if (metrics) throw new Error(`cannot serve metrics on port ${metrics.port}: ${(err as Error).message}`);
  }
}
