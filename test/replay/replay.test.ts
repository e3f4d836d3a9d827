import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromRecording, replayHistories, type RecordedHistory } from '../../workers/replay';

/**
 * Every recorded history (test/replay/histories, written by `npm run replay:record`) replays against the current
 * workflow code — the prebuilt bundle workers run — so a change that would break runs in flight fails here.
 */
const DIR = join(__dirname, 'histories');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const recordings = files.map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as RecordedHistory);
const typeOf = (r: RecordedHistory) =>
  (r.history as { events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] })
    .events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;

test('the recorded set covers every workflow type and control path', () => {
  expect(new Set(recordings.map(typeOf))).toEqual(new Set(['runPipeline', 'dagRun', 'backfill']));
  const names = files.map((f) => f.replace(/(\.\d+)?\.json$/, ''));
  expect(new Set(names)).toEqual(
    new Set([
      'run-pipeline-success',
      'run-pipeline-retried-step',
      'run-pipeline-failure',
      'run-pipeline-notify-failure',
      'run-pipeline-local-retried-step',
      'run-pipeline-local-failure',
      'run-pipeline-overlap-success',
      'run-pipeline-overlap-failure',
      'run-pipeline-overlap-local-stopped',
      'run-pipeline-fused-retried',
      'run-pipeline-fused-failure',
      'dag-run-failure',
      'dag-run-retry-node',
      'dag-run-skip-node',
      'dag-run-pause-resume',
      'dag-run-cancelled',
      'dag-run-paused-pipeline',
      'dag-run-continue-as-new',
      'dag-run-cross-group-wait',
      'dag-run-scheduled',
      'dag-run-inline',
      'dag-run-inline-before-step-limits',
      'dag-run-inline-fused',
      'backfill-pause-continue-as-new',
    ]),
  );
  // The continue-as-new recordings hold the whole chain, not just its first run.
  expect(files).toContain('dag-run-continue-as-new.2.json');
  expect(files).toContain('backfill-pause-continue-as-new.2.json');
});

test('every recorded history replays against the current workflow code', async () => {
  const outcomes = await replayHistories(recordings.map(fromRecording));
  expect(outcomes).toHaveLength(recordings.length);
  expect(outcomes.filter((o) => o.error)).toEqual([]);
});

test('a nondeterministic change (one more activity call) is caught', async () => {
  const pipelineRuns = recordings.filter((r) => typeOf(r) === 'runPipeline');
  const outcomes = await replayHistories(pipelineRuns.map(fromRecording), {
    workflowsPath: require.resolve('./nondeterministic-workflows'),
  });
  expect(outcomes.length).toBe(pipelineRuns.length);
  for (const o of outcomes) expect(o.error?.kind).toBe('nondeterminism');
}, 120_000);
