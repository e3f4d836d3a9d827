import type { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/** The pipeline steps, by the activity that runs them. */
const STEPS: Record<string, 'extract' | 'transform' | 'load'> = {
  extractRows: 'extract',
  transformRows: 'transform',
  loadRows: 'load',
};

/** The row counter of each step. */
const ROW_COUNTERS = {
  extract: 'pipectl_rows_extracted',
  transform: 'pipectl_rows_transformed',
  load: 'pipectl_rows_loaded',
} as const;

/** What a step request says about its run: pipeline and window. */
function runOf(arg: unknown): { pipeline?: string; windowStart?: string; windowEnd?: string } {
  if (typeof arg !== 'object' || arg === null) return {};
  const { pipeline, window } = arg as { pipeline?: unknown; window?: { start?: unknown; end?: unknown } };
  return {
    ...(typeof pipeline === 'string' ? { pipeline } : {}),
    ...(typeof window?.start === 'string' ? { windowStart: window.start } : {}),
    ...(typeof window?.end === 'string' ? { windowEnd: window.end } : {}),
  };
}

/** Rows a step's result reports: `rowCount` of staged or inline data, `rows` of a load that was not a replay. */
function rowsOf(step: 'extract' | 'transform' | 'load', result: unknown): number | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  if (step === 'load') {
    const { rows, replayed } = result as { rows?: unknown; replayed?: unknown };
    return typeof rows === 'number' && replayed !== true ? rows : undefined;
  }
  const { rowCount } = result as { rowCount?: unknown };
  return typeof rowCount === 'number' ? rowCount : undefined;
}

/**
 * The worker's activity interceptors. Every log line of a step carries its pipeline and window (the SDK adds the
 * workflow and activity IDs), and each step attempt feeds pipectl's Prometheus metrics:
 * - `pipectl_step_duration_seconds` (histogram, by pipeline, step and outcome);
 * - `pipectl_rows_extracted`, `pipectl_rows_transformed`, `pipectl_rows_loaded` (counters, by pipeline). A load that
 *   had already committed in an earlier attempt is not counted again.
 * The SDK adds its own tags (namespace, task queue, activity type) and serves them with its runtime metrics.
 */
export const stepInterceptors: ActivityInterceptorsFactory = (ctx: Context) => {
  let run: ReturnType<typeof runOf> = {};
  return {
    inbound: {
      async execute(input, next) {
        run = runOf(input.args[0]);
        const step = STEPS[ctx.info.activityType];
        if (!step || !run.pipeline) return next(input);
        const pipeline = run.pipeline;
        const began = performance.now();
        const finish = (outcome: 'succeeded' | 'failed' | 'cancelled') =>
          ctx.metricMeter
            .createHistogram(
              'pipectl_step_duration_seconds',
              'float',
              'seconds',
              'Duration of pipeline step attempts (extract, transform, load)',
            )
            .record((performance.now() - began) / 1000, { pipeline, step, outcome });
        try {
          const result = await next(input);
          finish('succeeded');
          const rows = rowsOf(step, result);
          if (rows !== undefined) {
            ctx.metricMeter
              .createCounter(ROW_COUNTERS[step], 'rows', `Rows written by the ${step} steps of pipeline runs`)
              .add(rows, { pipeline });
          }
          return result;
        } catch (err) {
          finish(err instanceof CancelledFailure ? 'cancelled' : 'failed');
          throw err;
        }
      },
    },
    outbound: {
      getLogAttributes(input, next) {
        return next({ ...run, ...input });
      },
    },
  };
};
