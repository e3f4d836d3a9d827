import {
  ActivityCancellationType,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RunPipelineInput, RunPipelineResult, StepData, StepProgress } from '../core/run-input';
import { progressQuery } from './definitions';

type StepName = 'extract' | 'transform' | 'load';

function proxies(input: RunPipelineInput) {
  const retry = {
    maximumAttempts: input.retry.maximumAttempts,
    initialInterval: input.retry.initialIntervalMs,
    backoffCoefficient: input.retry.backoffCoefficient,
    ...(input.retry.maximumIntervalMs !== undefined ? { maximumInterval: input.retry.maximumIntervalMs } : {}),
    nonRetryableErrorTypes: input.retry.nonRetryableErrorTypes,
  };
  // A cancelled run closes only once its running step has stopped (the step learns of the cancellation from its
  // heartbeats), so no step writes after the run reports cancelled. Without the option the SDK uses TRY_CANCEL (its
  // docs say otherwise: temporalio/sdk-typescript#2442) and the run closed at once; runs started so keep it on replay.
  const cancellationType = patched('steps-wait-for-cancellation')
    ? ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    : ActivityCancellationType.TRY_CANCEL;
  const step = (startToCloseTimeout: number, summary: string) =>
    proxyActivities<Activities>({
      startToCloseTimeout,
      heartbeatTimeout: input.timeouts.heartbeatMs,
      retry,
      summary,
      cancellationType,
    });
  return {
    extract: step(input.timeouts.extractMs, `extract · ${input.pipeline}`),
    // The Web UI shows each activity's summary: transform and load say how many rows they were given.
    transform: (rows: number) => step(input.timeouts.transformMs, `transform · ${input.pipeline} · ${rows} rows in`),
    load: (rows: number) => step(input.timeouts.loadMs, `load · ${input.pipeline} · ${rows} rows`),
    cleanup: proxyActivities<Activities>({
      startToCloseTimeout: 60_000,
      retry: { maximumAttempts: 5 },
      summary: 'drop staged data',
    }),
  };
}

/**
 * One pipeline run: extract → transform → load as activities, for one window. Large step results travel as
 * references to staged data; the staged data is dropped when the run succeeds.
 */
export async function runPipeline(input: RunPipelineInput): Promise<RunPipelineResult> {
  const acts = proxies(input);
  const steps: Record<StepName, StepProgress> = {
    extract: { state: 'pending' },
    transform: { state: input.hasTransform ? 'pending' : 'skipped' },
    load: { state: 'pending' },
  };
  let current: StepName | undefined;
  setHandler(progressQuery, () => ({
    pipeline: input.pipeline,
    window: input.window,
    steps,
    ...(current ? { current } : {}),
  }));

  /** The Web UI's current details: each step's state and rows. */
  const showSteps = () =>
    setCurrentDetails(
      (['extract', 'transform', 'load'] as const)
        .map((name) => {
          const p = steps[name];
          return `${name}: ${p.state}${p.rows !== undefined ? ` · ${p.rows} rows` : ''}${p.staged ? ' (staged)' : ''}`;
        })
        .join('\n'),
    );
  const request = { pipeline: input.pipeline, window: input.window };
  async function run<T>(
    name: StepName,
    fn: () => Promise<T>,
    rows: (t: T) => number,
    staged?: (t: T) => boolean,
  ): Promise<T> {
    current = name;
    steps[name] = { state: 'running', startedAt: new Date().toISOString() };
    showSteps();
    try {
      const out = await fn();
      steps[name] = {
        ...steps[name],
        state: 'succeeded',
        rows: rows(out),
        finishedAt: new Date().toISOString(),
        ...(staged ? { staged: staged(out) } : {}),
      };
      return out;
    } catch (err) {
      steps[name] = { ...steps[name], state: 'failed', finishedAt: new Date().toISOString() };
      throw err;
    } finally {
      current = undefined;
      showSteps();
    }
  }
  const count = (d: StepData) => d.rowCount;
  const isStaged = (d: StepData) => d.kind === 'staged';

  const extracted = await run('extract', () => acts.extract.extractRows(request), count, isStaged);
  const transformed = input.hasTransform
    ? await run(
        'transform',
        () => acts.transform(extracted.rowCount).transformRows({ ...request, data: extracted }),
        count,
        isStaged,
      )
    : extracted;
  const loaded = await run(
    'load',
    () => acts.load(transformed.rowCount).loadRows({ ...request, data: transformed }),
    (r) => r.rows,
  );
  if (extracted.kind === 'staged' || transformed.kind === 'staged') {
    await acts.cleanup.dropStaged({ workflowId: workflowInfo().workflowId });
  }
  log.info('pipeline run succeeded', { pipeline: input.pipeline, rowsLoaded: loaded.rows });
  if (loaded.replayed) log.info('the load had already committed in an earlier attempt; it was not repeated');
  return {
    pipeline: input.pipeline,
    window: input.window,
    rowsExtracted: extracted.rowCount,
    rowsLoaded: loaded.rows,
    loadReplayed: loaded.replayed,
    steps,
  };
}
