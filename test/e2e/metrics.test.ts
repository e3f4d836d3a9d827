import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { freePort } from '../helpers/ports';
import { exited, ROOT, runCli, spawnWorker } from '../helpers/spawn';
import { uniqueQueue } from '../helpers/temporal';

/**
 * A real `pipectl worker --metrics-port` process: after a successful run and a DAG run with a failure, its
 * Prometheus endpoint shows pipectl's counters and the SDK's runtime metrics, and its log lines are JSON objects that
 * carry the pipeline, the window and the workflow ID.
 */
const dir = join(ROOT, 'test', 'fixtures', 'cli');
const queue = uniqueQueue('metrics');
let url: string;
let db: Pool;
let worker: ChildProcess & { output: () => string };
let metricsPort: number;
const env = () => ({ PIPECTL_TASK_QUEUE: queue, PIPECTL_CONNECTION_WAREHOUSE: url, PIPECTL_CONNECTION_PIPECTL: url });

/** One sample of the Prometheus text format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const [, name, rawLabels = '', value] = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line) ?? [];
    if (!name || value === undefined) continue;
    const labels: Record<string, string> = {};
    for (const [, key = '', v = ''] of rawLabels.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[key] = v;
    samples.push({ name, labels, value: Number(value) });
  }
  return { text, samples };
}

/** The sum of the samples of `name` whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string>): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Scrapes until `check` passes (the SDK hands workflow metrics over after the workflow task completes). */
async function eventually(check: (samples: Sample[]) => void, timeoutMs = 15_000): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { samples } = await scrape();
    try {
      check(samples);
      return samples;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/** The worker's stderr lines that are JSON log objects. */
function logLines(): Record<string, unknown>[] {
  return worker
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  url = await createTestDatabase('metrics');
  db = poolFor(url);
  await db.query('CREATE TABLE public.greetings (day date, id int, word text, PRIMARY KEY (day, id))');
  metricsPort = await freePort();
  worker = await spawnWorker(['--dir', dir, '--metrics-port', String(metricsPort)], {
    ...env(),
    PIPECTL_LOG_LEVEL: 'INFO',
  });
});

afterAll(async () => {
  worker?.kill('SIGTERM');
  if (worker) await exited(worker);
  await db?.end();
});

test('the worker says where it serves metrics', () => {
  expect(worker.output()).toContain(`worker metrics on http://0.0.0.0:${metricsPort}/metrics`);
});

test("after runs, the endpoint shows runs by pipeline and outcome, rows, step durations and the SDK's metrics", async () => {
  const ok = await runCli(['run', 'greetings', '--window', '2031-01-05', '--dir', dir], env());
  expect(ok.code).toBe(0);
  const dag = await runCli(['run', 'greetings', 'doomed', '--window', '2031-01-06', '--dir', dir], env());
  expect(dag.code).toBe(1);

  const samples = await eventually((s) => {
    expect(total(s, 'pipectl_pipeline_runs', { pipeline: 'greetings', outcome: 'succeeded' })).toBe(2);
    expect(total(s, 'pipectl_pipeline_runs', { pipeline: 'doomed', outcome: 'failed' })).toBe(1);
    expect(total(s, 'pipectl_dag_runs', { group: 'manual', outcome: 'failed' })).toBe(1);
  });
  expect(total(samples, 'pipectl_pipeline_runs', { pipeline: 'greetings', outcome: 'failed' })).toBe(0);
  const run = samples.find((s) => s.name === 'pipectl_pipeline_runs' && s.labels.pipeline === 'doomed');
  // The SDK tags metrics made through its meter with the namespace, task queue and workflow or activity type.
  expect(run?.labels).toMatchObject({
    kind: 'manual',
    group: 'manual',
    namespace: 'default',
    taskQueue: queue,
    workflowType: 'runPipeline',
  });

  // Three rows per greetings window; doomed never extracted anything.
  expect(total(samples, 'pipectl_rows_extracted', { pipeline: 'greetings' })).toBe(6);
  expect(total(samples, 'pipectl_rows_transformed', { pipeline: 'greetings' })).toBe(6);
  expect(total(samples, 'pipectl_rows_loaded', { pipeline: 'greetings' })).toBe(6);
  expect(total(samples, 'pipectl_rows_extracted', { pipeline: 'doomed' })).toBe(0);

  // Every step attempt is timed: two of each greetings step, one failed (non-retryable) doomed extract.
  for (const step of ['extract', 'transform', 'load']) {
    expect(
      total(samples, 'pipectl_step_duration_seconds_count', { pipeline: 'greetings', step, outcome: 'succeeded' }),
    ).toBe(2);
  }
  expect(
    total(samples, 'pipectl_step_duration_seconds_count', { pipeline: 'doomed', step: 'extract', outcome: 'failed' }),
  ).toBe(1);
  const sum = total(samples, 'pipectl_step_duration_seconds_sum', { pipeline: 'greetings', step: 'load' });
  expect(sum).toBeGreaterThan(0);
  expect(sum).toBeLessThan(60);

  // The SDK's own worker metrics come from the same endpoint.
  const names = new Set(samples.map((s) => s.name));
  expect([...names].filter((n) => n.startsWith('temporal_')).length).toBeGreaterThan(5);
  expect(total(samples, 'temporal_workflow_completed', { workflow_type: 'runPipeline' })).toBeGreaterThanOrEqual(2);
  expect(total(samples, 'temporal_activity_execution_failed', { activity_type: 'extractRows' })).toBe(1);
});

test('worker logs are JSON lines carrying the pipeline, the window and the workflow ID', () => {
  const lines = logLines();
  expect(lines.length).toBeGreaterThan(0);
  for (const l of lines) expect(l).toMatchObject({ time: expect.any(String), level: expect.any(String) });

  // A workflow's own log line.
  const done = lines.find((l) => l.msg === 'pipeline run succeeded' && l.windowStart === '2031-01-05T00:00:00.000Z');
  expect(done).toMatchObject({
    level: 'info',
    pipeline: 'greetings',
    windowEnd: '2031-01-06T00:00:00.000Z',
    workflowId: 'pipeline/greetings/2031-01-05T00:00:00.000Z',
    workflowType: 'runPipeline',
    runKind: 'manual',
  });

  // A DAG run's lines carry its group and window, and no pipeline of their own.
  const dag = lines.find((l) => l.workflowType === 'dagRun' && l.msg === 'Workflow failed');
  expect(dag).toMatchObject({ group: 'manual', windowStart: '2031-01-06T00:00:00.000Z', runKind: 'manual' });
  expect(dag).not.toHaveProperty('pipeline');

  // The SDK's log line of a failed step attempt carries the same.
  const failed = lines.find((l) => l.activityType === 'extractRows' && l.pipeline === 'doomed' && l.level === 'warn');
  expect(failed).toMatchObject({
    windowStart: '2031-01-06T00:00:00.000Z',
    windowEnd: '2031-01-07T00:00:00.000Z',
    workflowId: 'pipeline/doomed/2031-01-06T00:00:00.000Z',
  });
});

test('a bad metrics port is refused at start-up, naming the option', async () => {
  const res = await runCli(['worker', '--dir', dir, '--metrics-port', '70000'], env());
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain('--metrics-port must be a port number, got 70000');
  const bad = await runCli(['worker', '--dir', dir], { ...env(), PIPECTL_METRICS_PORT: 'nine' });
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('PIPECTL_METRICS_PORT=nine: expected a port number (1-65535)');
});
