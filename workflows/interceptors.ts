import {
  ContinueAsNew,
  isCancellation,
  metricMeter,
  workflowInfo,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';
import {
  PIPELINE_GROUP,
  PIPELINE_NAME,
  RUN_KIND,
  WINDOW_END,
  WINDOW_START,
} from '../temporal-config/search-attributes';

/** How a workflow run ended, as the `outcome` tag of the run counters. */
type Outcome = 'succeeded' | 'failed' | 'cancelled';

/**
 * What every log line of a pipectl workflow carries besides the SDK's workflow and run IDs: the pipeline, group,
 * window and run kind, read from the run's search attributes (a scheduled DAG run sets its window once it knows it).
 */
function runAttributes(): Record<string, string> {
  const info = workflowInfo();
  const sa = info.typedSearchAttributes;
  const out: Record<string, string> = {};
  const pipeline = sa.get(PIPELINE_NAME);
  const group = sa.get(PIPELINE_GROUP);
  const start = sa.get(WINDOW_START);
  const end = sa.get(WINDOW_END);
  const kind = sa.get(RUN_KIND);
  // A DAG run carries its first pipeline's name for the Web UI's filters: that is not the pipeline of its logs.
  if (pipeline && info.workflowType === 'runPipeline') out.pipeline = pipeline;
  if (group) out.group = group;
  if (start) out.windowStart = start.toISOString();
  if (end) out.windowEnd = end.toISOString();
  if (kind) out.runKind = kind;
  return out;
}

/**
 * Counts finished runs for the worker's Prometheus metrics — `pipectl_pipeline_runs` (by pipeline, group, kind and
 * outcome) and `pipectl_dag_runs` (by group, kind and outcome) — and adds the run's pipeline and window to its logs.
 * The SDK does not emit workflow metrics while a workflow replays, so a run is counted once, when it ends.
 */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      async execute(input, next) {
        const count = (outcome: Outcome) => {
          const type = workflowInfo().workflowType;
          const attrs = runAttributes();
          const tags = { group: attrs.group ?? '', kind: attrs.runKind ?? '', outcome };
          if (type === 'runPipeline') {
            metricMeter
              .createCounter('pipectl_pipeline_runs', 'runs', 'Pipeline runs that ended, by outcome')
              .add(1, { ...tags, pipeline: attrs.pipeline ?? '' });
          } else if (type === 'dagRun') {
            metricMeter.createCounter('pipectl_dag_runs', 'runs', 'DAG runs that ended, by outcome').add(1, tags);
          }
        };
        try {
          const result = await next(input);
          count('succeeded');
          return result;
        } catch (err) {
          // A run that continues as new has not ended: its last run counts.
          if (!(err instanceof ContinueAsNew)) count(isCancellation(err) ? 'cancelled' : 'failed');
          throw err;
        }
      },
    },
  ],
  outbound: [
    {
      getLogAttributes(input, next) {
        return next({ ...runAttributes(), ...input });
      },
    },
  ],
});
