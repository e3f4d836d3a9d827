import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { backfillWorkflowId, buildBackfillInput, startBackfill } from '../../cli/backfill';
import { buildDagInput, startDagRun } from '../../cli/dag';
import { awaitDagRun } from '../../cli/dag-state';
import { startPipelineRun } from '../../cli/runs';
import { desiredSchedules } from '../../cli/sync';
import { NODE_STATES } from '../../core/dag-plan';
import { parseWindow } from '../../core/window';
import { definePipeline, type PipelineDefinition } from '../../index';
import { pauseBackfillSignal, resumeBackfillSignal } from '../../workflows/backfill-definitions';
import { dagStateQuery, pauseSignal, resumeSignal, retryNodeUpdate, skipNodeUpdate } from '../../workflows/definitions';
import type { dagRun } from '../../workflows/dag-run';
import { catalogOf } from '../helpers/catalog';
import { createTestDatabase } from '../helpers/postgres';
import { namespaceClient, startTestWorker } from '../helpers/temporal';

/**
 * Records the workflow histories the replay suite checks the workflow code against: every workflow type and every
 * control path, each run for real on the test server and written to test/replay/histories/<name>.json.
 * `npm run replay:record` runs this file (it is skipped otherwise); commit the histories it writes.
 */
const recording = process.env.PIPECTL_RECORD === '1';
const describeIf = recording ? describe : describe.skip;
const OUT = join(__dirname, 'histories');
const namespace = 'pipectl-record';
const queue = 'replay-record';
const FAILED = NODE_STATES.indexOf('failed');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Attempts of each pipeline's extract so far, and pipelines whose extract must fail (once, or always). */
const calls = new Map<string, number>();
const failing = new Map<string, 'once' | 'always' | 'nonretryable'>();
const slow = new Map<string, number>();

function pipeline(name: string, extra: Partial<PipelineDefinition> = {}): PipelineDefinition {
  return definePipeline({
    name,
    taskQueue: queue,
    retry: { maximumAttempts: 2, initialInterval: '100ms' },
    extract: async (ctx) => {
      const n = (calls.get(name) ?? 0) + 1;
      calls.set(name, n);
      await sleep(slow.get(name) ?? 0);
      const mode = failing.get(name);
      if (mode === 'nonretryable')
        throw ApplicationFailure.create({ type: 'SourceGone', nonRetryable: true, message: `${name}: source gone` });
      if (mode === 'always' || (mode === 'once' && n === 1)) throw new Error(`${name}: source not ready`);
      return [{ name, day: ctx.window.start }];
    },
    transform: (rows) => rows.map((r) => ({ ...r, seen: true })),
    load: (rows) => rows.length,
    ...extra,
  });
}

const catalog = catalogOf([
  pipeline('rec_ok'),
  pipeline('rec_flaky'),
  pipeline('rec_broken', { retry: { maximumAttempts: 1 } }),
  pipeline('rec_a'),
  pipeline('rec_b', { dependsOn: ['rec_a'] }),
  pipeline('rec_c', { dependsOn: ['rec_b'] }),
  pipeline('rec_side', { dependsOn: ['rec_a'] }),
  pipeline('rec_up', { schedule: { every: 'daily', group: 'rec-up' } }),
  pipeline('rec_down', { schedule: { every: 'daily', at: '01:00', group: 'rec-down' }, dependsOn: ['rec_up'] }),
  pipeline('rec_tick', { schedule: { every: 'daily', at: '02:00', group: 'rec-tick' } }),
  pipeline('rec_tock', { dependsOn: ['rec_tick'] }),
  pipeline('rec_local_flaky', { localSteps: true }),
  pipeline('rec_local_broken', { localSteps: true, retry: { maximumAttempts: 1 } }),
  pipeline('rec_overlap', { overlapLoad: true }),
  pipeline('rec_fused_flaky', { localSteps: 'fused' }),
  pipeline('rec_fused_broken', { localSteps: 'fused', retry: { maximumAttempts: 1 } }),
  pipeline('rec_in_fused_a', { inline: true, localSteps: 'fused' }),
  pipeline('rec_in_fused_b', { inline: true, localSteps: 'fused', dependsOn: ['rec_in_fused_a'] }),
  pipeline('rec_in_fused_bad', { inline: true, localSteps: 'fused', retry: { maximumAttempts: 1 } }),
  pipeline('rec_in_a', { inline: true, localSteps: true }),
  pipeline('rec_in_b', { inline: true, dependsOn: ['rec_in_a'] }),
  pipeline('rec_in_child', { dependsOn: ['rec_in_a'] }),
  pipeline('rec_in_flaky', { inline: true, retry: { maximumAttempts: 1 } }),
  pipeline('rec_in_slow', { inline: true, timeouts: { run: '2s' } }),
  // Local steps past the time limit: stopped by a local activity of the DAG run; the extract sees the abort.
  pipeline('rec_in_slow_local', {
    inline: true,
    localSteps: true,
    timeouts: { run: '2s' },
    extract: ({ signal }) =>
      new Promise((_, reject) => {
        const timer = setTimeout(() => reject(new Error('rec_in_slow_local: not stopped')), 60_000);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason as Error);
        });
      }),
  }),
  pipeline('rec_overlap_local_broken', {
    overlapLoad: true,
    localSteps: true,
    retry: { maximumAttempts: 1 },
    transform: () => {
      throw ApplicationFailure.create({
        type: 'BadRows',
        nonRetryable: true,
        message: 'rec_overlap_local_broken: bad',
      });
    },
  }),
  pipeline('rec_overlap_broken', {
    overlapLoad: true,
    retry: { maximumAttempts: 1 },
    transform: () => {
      throw ApplicationFailure.create({ type: 'BadRows', nonRetryable: true, message: 'rec_overlap_broken: bad rows' });
    },
  }),
]);

let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;
let day = 1;
/** A window of its own for each recording, so no two share a pipeline run's workflow ID. */
const nextWindow = () => parseWindow(`2025-01-${String(day++).padStart(2, '0')}`, 'UTC');

/** Writes every run of a workflow (the whole continue-as-new chain) as `<name>.json`, `<name>.2.json`, …. */
async function save(name: string, handle: WorkflowHandle): Promise<void> {
  const runs: { runId: string; start: number }[] = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` }))
    runs.push({ runId: run.runId, start: run.startTime.getTime() });
  runs.sort((a, b) => a.start - b.start);
  for (const [i, run] of runs.entries()) {
    const history = await client.workflow.getHandle(handle.workflowId, run.runId).fetchHistory();
    const file = join(OUT, `${name}${i === 0 ? '' : `.${i + 1}`}.json`);
    const json = { workflowId: handle.workflowId, history: JSON.parse(historyToJSON(history)) as unknown };
    writeFileSync(file, `${JSON.stringify(json, null, 1)}\n`);
  }
}

const dagInput = (names: string[], opts: Parameters<typeof buildDagInput>[5] = {}) =>
  buildDagInput(catalog, names, nextWindow(), 'manual', queue, { maxParallel: 4, ...opts });

/** Waits until a node of a running DAG run has failed. */
async function untilFailed(handle: WorkflowHandle<typeof dagRun>, node: string): Promise<void> {
  for (;;) {
    const s = await handle.query(dagStateQuery);
    if (s.states.nodes[s.names.indexOf(node)]![0] === FAILED) return;
    await sleep(100);
  }
}

const closed = (handle: WorkflowHandle) => handle.result().catch(() => undefined);

describeIf('recording replay histories', () => {
  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    client = await namespaceClient(namespace);
    const url = await createTestDatabase('record');
    worker = await startTestWorker({ catalog, taskQueue: queue, connections: { pipectl: url }, namespace });
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
  });

  beforeEach(() => {
    calls.clear();
    failing.clear();
    slow.clear();
  });

  test('runPipeline: success, a retried step, a failure', async () => {
    const spec = (name: string) => catalog.pipelines.get(name)!.spec;
    const ok = await startPipelineRun(client, spec('rec_ok'), nextWindow(), 'manual', queue);
    await ok.result();
    await save('run-pipeline-success', ok);
    failing.set('rec_flaky', 'once');
    const flaky = await startPipelineRun(client, spec('rec_flaky'), nextWindow(), 'manual', queue);
    await flaky.result();
    await save('run-pipeline-retried-step', flaky);
    failing.set('rec_broken', 'nonretryable');
    const broken = await startPipelineRun(client, spec('rec_broken'), nextWindow(), 'manual', queue);
    await closed(broken);
    await save('run-pipeline-failure', broken);
  });

  test('runPipeline with local steps: a retried step, a failure', async () => {
    const spec = (name: string) => catalog.pipelines.get(name)!.spec;
    failing.set('rec_local_flaky', 'once');
    const flaky = await startPipelineRun(client, spec('rec_local_flaky'), nextWindow(), 'manual', queue);
    await flaky.result();
    await save('run-pipeline-local-retried-step', flaky);
    failing.set('rec_local_broken', 'nonretryable');
    const broken = await startPipelineRun(client, spec('rec_local_broken'), nextWindow(), 'manual', queue);
    await closed(broken);
    await save('run-pipeline-local-failure', broken);
  });

  test('runPipeline with fused steps: a retried attempt, a failure; a DAG run of fused inline pipelines', async () => {
    const spec = (name: string) => catalog.pipelines.get(name)!.spec;
    failing.set('rec_fused_flaky', 'once');
    const flaky = await startPipelineRun(client, spec('rec_fused_flaky'), nextWindow(), 'manual', queue);
    await flaky.result();
    await save('run-pipeline-fused-retried', flaky);
    failing.set('rec_fused_broken', 'nonretryable');
    const broken = await startPipelineRun(client, spec('rec_fused_broken'), nextWindow(), 'manual', queue);
    await closed(broken);
    await save('run-pipeline-fused-failure', broken);
    // A line of two and one that fails, retried by the update once it can succeed while a slow child keeps the DAG
    // run open.
    failing.set('rec_in_fused_bad', 'always');
    slow.set('rec_ok', 3_000);
    const names = ['rec_in_fused_a', 'rec_in_fused_b', 'rec_in_fused_bad', 'rec_ok'];
    const dag = await startDagRun(client, dagInput(names), queue);
    await untilFailed(dag, 'rec_in_fused_bad');
    failing.delete('rec_in_fused_bad');
    await dag.executeUpdate(retryNodeUpdate, { args: ['rec_in_fused_bad'] });
    await awaitDagRun(dag);
    await save('dag-run-inline-fused', dag);
  });

  test('runPipeline with the load alongside the transform: a success, a transform that fails for good', async () => {
    const spec = (name: string) => catalog.pipelines.get(name)!.spec;
    const ok = await startPipelineRun(client, spec('rec_overlap'), nextWindow(), 'manual', queue);
    await ok.result();
    await save('run-pipeline-overlap-success', ok);
    const broken = await startPipelineRun(client, spec('rec_overlap_broken'), nextWindow(), 'manual', queue);
    await closed(broken);
    await save('run-pipeline-overlap-failure', broken);
    // With local steps, the load following the failed transform is stopped by a local activity of the run.
    const local = await startPipelineRun(client, spec('rec_overlap_local_broken'), nextWindow(), 'manual', queue);
    await closed(local);
    await save('run-pipeline-overlap-local-stopped', local);
  });

  test('dagRun: a failure, a retry-node update, a skip-node update', async () => {
    failing.set('rec_b', 'always');
    const failed = await startDagRun(client, dagInput(['rec_a', 'rec_b', 'rec_c', 'rec_side']), queue);
    await awaitDagRun(failed);
    await save('dag-run-failure', failed);

    // rec_b fails while rec_side is slow; it is retried inside the same DAG run, which then succeeds.
    failing.set('rec_b', 'always');
    slow.set('rec_side', 3_000);
    const retried = await startDagRun(client, dagInput(['rec_a', 'rec_b', 'rec_c', 'rec_side']), queue);
    await untilFailed(retried, 'rec_b');
    failing.delete('rec_b');
    await retried.executeUpdate(retryNodeUpdate, { args: ['rec_b'] });
    await awaitDagRun(retried);
    await save('dag-run-retry-node', retried);

    failing.set('rec_b', 'always');
    slow.set('rec_side', 3_000);
    const skipped = await startDagRun(client, dagInput(['rec_a', 'rec_b', 'rec_c', 'rec_side']), queue);
    await untilFailed(skipped, 'rec_b');
    await skipped.executeUpdate(skipNodeUpdate, { args: ['rec_b'] });
    await awaitDagRun(skipped);
    await save('dag-run-skip-node', skipped);
  });

  test('dagRun with inline pipelines: local and activity steps beside a child, a retried node, time limits', async () => {
    // rec_in_flaky fails and is retried while rec_in_slow runs on; rec_in_slow then outlives its time limit, as does
    // rec_in_slow_local (local steps).
    failing.set('rec_in_flaky', 'always');
    slow.set('rec_in_slow', 6_000);
    const names = ['rec_in_a', 'rec_in_b', 'rec_in_child', 'rec_in_flaky', 'rec_in_slow', 'rec_in_slow_local'];
    const handle = await startDagRun(client, dagInput(names), queue);
    await untilFailed(handle, 'rec_in_flaky');
    failing.delete('rec_in_flaky');
    await handle.executeUpdate(retryNodeUpdate, { args: ['rec_in_flaky'] });
    await awaitDagRun(handle);
    await save('dag-run-inline', handle);
  });

  test('dagRun: pause and resume, cancel, a pipeline paused inside its group', async () => {
    slow.set('rec_a', 1_500);
    const paused = await startDagRun(client, dagInput(['rec_a', 'rec_b', 'rec_c']), queue);
    await paused.signal(pauseSignal);
    await sleep(2_500);
    await paused.signal(resumeSignal);
    await awaitDagRun(paused);
    await save('dag-run-pause-resume', paused);

    slow.set('rec_a', 3_000);
    const cancelled = await startDagRun(client, dagInput(['rec_a', 'rec_b']), queue);
    await sleep(1_000);
    await cancelled.cancel();
    await closed(cancelled);
    await save('dag-run-cancelled', cancelled);

    slow.clear();
    const input = {
      ...dagInput(['rec_a', 'rec_b', 'rec_c', 'rec_side']),
      pausedPipelines: { rec_b: { downstream: 'skip' as const, since: '2025-01-01T00:00:00.000Z', note: 'migration' } },
    };
    const withPaused = await startDagRun(client, input, queue);
    await awaitDagRun(withPaused);
    await save('dag-run-paused-pipeline', withPaused);
  });

  test('dagRun: a large DAG continuing as new', async () => {
    const chain = await startDagRun(
      client,
      dagInput(['rec_a', 'rec_b', 'rec_c', 'rec_side'], { continueAsNewAfter: 2, maxParallel: 1 }),
      queue,
    );
    await awaitDagRun(chain);
    await save('dag-run-continue-as-new', chain);
  });

  test('dagRun: a wait for an upstream in another group', async () => {
    const window = nextWindow();
    const input = buildDagInput(catalog, ['rec_down'], window, 'scheduled', queue, {
      group: 'rec-down',
      upstreamPollMs: 500,
    });
    const waiting = await startDagRun(client, input, queue);
    await sleep(2_000);
    const up = await startPipelineRun(
      client,
      catalog.pipelines.get('rec_up')!.spec,
      window,
      'scheduled',
      queue,
      'rec-up',
    );
    await up.result();
    await awaitDagRun(waiting);
    await save('dag-run-cross-group-wait', waiting);
  });

  test('dagRun started by a Schedule', async () => {
    const desired = desiredSchedules(catalog, queue).get('rec-tick')!;
    const handle = await client.schedule.create({ ...desired.options, state: { paused: true } });
    try {
      await handle.trigger();
      let workflowId: string | undefined;
      while (!workflowId) {
        workflowId = (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId;
        await sleep(200);
      }
      const run = client.workflow.getHandle(workflowId);
      await closed(run);
      await save('dag-run-scheduled', run);
    } finally {
      await handle.delete();
    }
  });

  test('backfill: pause and resume, continuing as new', async () => {
    slow.set('rec_tick', 300);
    const req = { target: 'rec-tick', from: '2024-03-01', to: '2024-03-09', parallel: 2, continueAsNewAfter: 4 };
    const handle = await startBackfill(client, buildBackfillInput(catalog, req, queue), backfillWorkflowId(req), queue);
    await sleep(500);
    await handle.signal(pauseBackfillSignal);
    await sleep(1_500);
    await handle.signal(resumeBackfillSignal);
    await handle.result();
    await save('backfill-pause-continue-as-new', handle);
  });

  test('runPipeline: a failure notified to an HTTP endpoint', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const spec = { ...catalog.pipelines.get('rec_broken')!.spec, notify: [{ url, on: ['failure' as const] }] };
      failing.set('rec_broken', 'nonretryable');
      const notified = await startPipelineRun(client, spec, nextWindow(), 'manual', queue);
      await closed(notified);
      await save('run-pipeline-notify-failure', notified);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
