import { ApplicationFailure } from '@temporalio/common';
import { StepStops } from '../../activities/step-stops';
import { STEP_STOPPED } from '../../core/run-input';

const reasonOf = (signal: AbortSignal) => signal.reason as ApplicationFailure;

test('stopping a run aborts its running steps with a non-retryable StepStopped, and no other run’s', () => {
  const stops = new StepStops();
  const transform = stops.begin('wf/run1', new AbortController().signal);
  const load = stops.begin('wf/run1', new AbortController().signal);
  const other = stops.begin('wf/run2', new AbortController().signal);
  expect(stops.stop('wf/run1', 'stopped: the load alongside it failed')).toBe(2);
  for (const step of [transform, load]) {
    expect(step.signal.aborted).toBe(true);
    expect(reasonOf(step.signal)).toBeInstanceOf(ApplicationFailure);
    expect(reasonOf(step.signal)).toMatchObject({
      type: STEP_STOPPED,
      nonRetryable: true,
      message: 'stopped: the load alongside it failed',
    });
  }
  expect(other.signal.aborted).toBe(false);
});

test('a step that ended is not counted; one that starts after the stop is stopped at once', () => {
  const stops = new StepStops();
  const ended = stops.begin('wf/run1', new AbortController().signal);
  ended.end();
  expect(stops.stop('wf/run1', 'stopped')).toBe(0);
  expect(ended.signal.aborted).toBe(false);
  const later = stops.begin('wf/run1', new AbortController().signal);
  expect(later.signal.aborted).toBe(true);
  expect(reasonOf(later.signal).type).toBe(STEP_STOPPED);
});

test('a cancellation still aborts the step with its own reason', () => {
  const stops = new StepStops();
  const cancel = new AbortController();
  const step = stops.begin('wf/run1', cancel.signal);
  const cancelled = new Error('cancelled');
  cancel.abort(cancelled);
  expect(step.signal.aborted).toBe(true);
  expect(step.signal.reason).toBe(cancelled);
});

test('a stop is forgotten after 15 minutes, when the next stop is made', () => {
  const stops = new StepStops();
  const t0 = Date.now();
  stops.stop('wf/old', 'stopped', t0);
  stops.stop('wf/new', 'stopped', t0 + 15 * 60_000 + 1);
  expect(stops.begin('wf/old', new AbortController().signal).signal.aborted).toBe(false);
  expect(stops.begin('wf/new', new AbortController().signal).signal.aborted).toBe(true);
});

test('a stop can fail the steps with a type of its own and be remembered longer', () => {
  const stops = new StepStops();
  const t0 = Date.now();
  const running = stops.begin('wf/late', new AbortController().signal);
  stops.stop('wf/late', 'past its time limit', t0, { type: 'RunTimedOut', rememberMs: 24 * 3_600_000 });
  expect(reasonOf(running.signal)).toMatchObject({ type: 'RunTimedOut', nonRetryable: true });
  stops.stop('wf/other', 'stopped', t0 + 3_600_000);
  const later = stops.begin('wf/late', new AbortController().signal);
  expect(later.signal.aborted).toBe(true);
  expect(reasonOf(later.signal).message).toBe('past its time limit');
});
