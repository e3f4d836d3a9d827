import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { buildDagInput, startDagRun } from '../../cli/dag';
import { expandDagState, type DagRunState } from '../../core/dag-input';
import { awaitDagRun, failedSnapshot } from '../../cli/dag-state';
import type { NodeState } from '../../core/dag-plan';
import { parseWindow } from '../../core/window';
import { definePipeline, type PipelineDefinition } from '../../index';
import type { dagRun } from '../../workflows/dag-run';
import { dagStateQuery, pauseSignal, resumeSignal, retryNodeUpdate, skipNodeUpdate } from '../../workflows/definitions';
import { catalogOf } from '../helpers/catalog';
import { untilDagState } from '../helpers/dag';
import { createTestDatabase } from '../helpers/postgres';
import { startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';

const queue = uniqueQueue('dag');
const journal: string[] = [];
/** Per-pipeline behaviour of the extract step; absent means: succeed at once. */
const behaviour = new Map<string, () => Promise<void>>();
const gates = new Map<string, { open: () => void; promise: Promise<void> }>();

function gate(name: string): Promise<void> {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  gates.set(name, { open, promise });
  return promise;
}

function pipeline(name: string, dependsOn: string[] = []): PipelineDefinition {
  return definePipeline({
    name,
    dependsOn,
    taskQueue: queue,
    retry: { maximumAttempts: 1 },
    extract: async () => {
      journal.push(`start ${name}`);
      await behaviour.get(name)?.();
      journal.push(`end ${name}`);
      return [{ name }];
    },
    load: (rows) => rows.length,
  });
}

const defs = [
  // Diamond.
  pipeline('da'),
  pipeline('db', ['da']),
  pipeline('dc', ['da']),
  pipeline('dd', ['db', 'dc']),
  // Fan-out / fan-in.
  pipeline('fsrc'),
  ...[1, 2, 3, 4, 5].map((i) => pipeline(`f${i}`, ['fsrc'])),
  pipeline('fsink', ['f1', 'f2', 'f3', 'f4', 'f5']),
  // Failure isolation: ibad fails; iafter is downstream of it; igood/igood2 are an independent branch.
  pipeline('iroot'),
  pipeline('ibad', ['iroot']),
  pipeline('iafter', ['ibad']),
  pipeline('igood', ['iroot']),
  pipeline('igood2', ['igood']),
  // Priority: with one slot, the ready node with the most descendants starts first.
  pipeline('pa'),
  pipeline('pb'),
  pipeline('pb1', ['pb']),
  pipeline('pb2', ['pb1']),
  pipeline('pc'),
  pipeline('pc1', ['pc']),
  // Control: a slow node to pause around, a node to retry, a node to skip.
  pipeline('cslow'),
  pipeline('cnext', ['cslow']),
  pipeline('cflaky'),
  pipeline('cflaky_down', ['cflaky']),
  pipeline('chold'),
  pipeline('cskip'),
  pipeline('cskip_down', ['cskip']),
];
const catalog = catalogOf(defs);
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;
let windowDay = 1;

beforeAll(async () => {
  const url = await createTestDatabase('dag');
  client = await testClient();
  worker = await startTestWorker({ catalog, taskQueue: queue, connections: { pipectl: url } });
});

afterAll(async () => {
  for (const g of gates.values()) g.open();
  await worker?.stop();
  await client?.connection.close();
});

async function start(names: string[], maxParallel = 8) {
  const window = parseWindow(`2026-10-${String(windowDay++).padStart(2, '0')}`);
  const input = buildDagInput(catalog, names, window, 'manual', queue, { maxParallel });
  return startDagRun(client, input, queue, { explicitList: true });
}

async function failedState(handle: WorkflowHandle<typeof dagRun>): Promise<DagRunState> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const snapshot = failedSnapshot(err);
  expect(snapshot).toBeDefined();
  return expandDagState(snapshot!);
}

const states = (s: DagRunState) => Object.fromEntries(Object.entries(s.nodes).map(([n, v]) => [n, v.state]));

const until = untilDagState;

/** The run a workflow run continued as, if it did. */
async function continuedAs(workflowId: string, runId: string): Promise<string | undefined> {
  const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  return events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
}

const order = (names: string[]) => journal.filter((l) => names.some((n) => l.endsWith(` ${n}`)));

test('the Web UI sees a node table in the DAG run details, step rows in each run, row counts in activity summaries', async () => {
  const handle = await start(['da', 'db', 'dc', 'dd']);
  const result = await awaitDagRun(handle);
  const metadata = await client.workflow
    .getHandle(handle.workflowId)
    .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  expect(metadata.currentDetails).toContain('**4 of 4 pipelines succeeded** · 4 succeeded');
  expect(metadata.currentDetails).toContain('| pipeline | state | attempts | rows loaded | error |');
  expect(metadata.currentDetails).toContain('| da | succeeded | 1 | 1 |  |');

  const child = client.workflow.getHandle(result.nodes.db!.workflowId!);
  const childMeta = await child.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  expect(childMeta.currentDetails).toBe(
    '- extract: succeeded · 1 rows\n- transform: skipped\n- load: succeeded · 1 rows',
  );
  const summaries: string[] = [];
  for (const e of (await child.fetchHistory()).events ?? []) {
    const summary = e.activityTaskScheduledEventAttributes ? e.userMetadata?.summary : undefined;
    if (summary) summaries.push(defaultPayloadConverter.fromPayload<string>(summary));
  }
  expect(summaries).toEqual(['extract · db', 'load · db · 1 rows']);
});

test('a diamond runs each pipeline once its upstreams succeeded', async () => {
  const result = await awaitDagRun(await start(['da', 'db', 'dc', 'dd']));
  expect(states(result)).toEqual({ da: 'succeeded', db: 'succeeded', dc: 'succeeded', dd: 'succeeded' });
  const lines = order(['da', 'db', 'dc', 'dd']);
  expect(lines.indexOf('end da')).toBeLessThan(lines.indexOf('start db'));
  expect(lines.indexOf('end da')).toBeLessThan(lines.indexOf('start dc'));
  expect(lines.indexOf('end db')).toBeLessThan(lines.indexOf('start dd'));
  expect(lines.indexOf('end dc')).toBeLessThan(lines.indexOf('start dd'));
  for (const n of ['da', 'db', 'dc', 'dd']) {
    expect(result.nodes[n]).toMatchObject({ attempts: 1, workflowId: `pipeline/${n}/${result.window.start}` });
    expect(Date.parse(result.nodes[n]!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(result.nodes[n]!.startedAt!));
  }
});

test('fan-out then fan-in: the five middle pipelines run in parallel, the sink after all of them', async () => {
  const release = gate('fan');
  let inFlight = 0;
  let peak = 0;
  for (let i = 1; i <= 5; i++) {
    behaviour.set(`f${i}`, async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      if (inFlight === 5) gates.get('fan')!.open();
      await release;
      inFlight--;
    });
  }
  const result = await awaitDagRun(await start(['fsrc', 'f1', 'f2', 'f3', 'f4', 'f5', 'fsink']));
  expect(peak).toBe(5);
  expect(Object.values(result.nodes).every((n) => n.state === 'succeeded')).toBe(true);
  const lines = order(['f1', 'f2', 'f3', 'f4', 'f5', 'fsink']);
  expect(lines[lines.length - 2]).toBe('start fsink');
});

test('a failure blocks only its downstream; the independent branch finishes', async () => {
  behaviour.set('ibad', async () => {
    throw ApplicationFailure.create({ type: 'SourceDown', nonRetryable: true, message: 'the source is down' });
  });
  const state = await failedState(await start(['iroot', 'ibad', 'iafter', 'igood', 'igood2']));
  expect(states(state)).toEqual({
    iroot: 'succeeded',
    ibad: 'failed',
    iafter: 'upstream_failed',
    igood: 'succeeded',
    igood2: 'succeeded',
  });
  expect(state.nodes.ibad!.error).toEqual({ type: 'SourceDown', message: 'extractRows: the source is down' });
  expect(state.nodes.iafter!.attempts).toBe(0);
  expect(journal).not.toContain('start iafter');
});

test('with maxParallel 1, ready pipelines start in order of their descendant counts', async () => {
  await awaitDagRun(await start(['pa', 'pb', 'pb1', 'pb2', 'pc', 'pc1'], 1));
  const starts = order(['pa', 'pb', 'pb1', 'pb2', 'pc', 'pc1']).filter((l) => l.startsWith('start'));
  // pb has 2 descendants, pc 1, pa 0; then pb1 and pc (1 each) tie and go by name; then pa, pb2, pc1 (0 each).
  expect(starts).toEqual(['start pb', 'start pb1', 'start pc', 'start pa', 'start pb2', 'start pc1']);
});

test('pause stops new starts while the running pipeline finishes; resume goes on', async () => {
  const release = gate('slow');
  behaviour.set('cslow', () => release);
  const handle = await start(['cslow', 'cnext']);
  await until(handle, (s) => s.nodes.cslow!.state === 'running');
  await handle.signal(pauseSignal);
  gates.get('slow')!.open();
  const paused = await until(handle, (s) => s.nodes.cslow!.state === 'succeeded');
  expect(paused.paused).toBe(true);
  await new Promise((r) => setTimeout(r, 1500));
  expect(expandDagState(await handle.query(dagStateQuery)).nodes.cnext!.state).toBe('pending');
  await handle.signal(resumeSignal);
  const result = await awaitDagRun(handle);
  expect(states(result)).toEqual({ cslow: 'succeeded', cnext: 'succeeded' });
});

test('a retry-node update runs a failed node and its downstream again inside the same DAG run', async () => {
  let fixed = false;
  behaviour.set('cflaky', async () => {
    if (!fixed) throw ApplicationFailure.create({ type: 'Broken', nonRetryable: true, message: 'not yet' });
  });
  const hold = gate('hold');
  behaviour.set('chold', () => hold);
  const handle = await start(['cflaky', 'cflaky_down', 'chold']);
  await until(handle, (s) => s.nodes.cflaky!.state === 'failed' && s.nodes.cflaky_down!.state === 'upstream_failed');
  await expect(handle.executeUpdate(retryNodeUpdate, { args: ['chold'] })).rejects.toMatchObject({
    cause: { message: "node 'chold' is running: only a failed or cancelled node can be retried" },
  });
  fixed = true;
  const after = await handle.executeUpdate(retryNodeUpdate, { args: ['cflaky'] });
  expect(expandDagState(after).nodes.cflaky!.state).toBe('pending');
  await until(handle, (s) => s.nodes.cflaky_down!.state === 'succeeded');
  gates.get('hold')!.open();
  const result = await awaitDagRun(handle);
  expect(states(result)).toEqual({ cflaky: 'succeeded', cflaky_down: 'succeeded', chold: 'succeeded' });
  expect(result.nodes.cflaky!.attempts).toBe(2);
});

test('a skip-node update skips a node and lets its downstream run', async () => {
  behaviour.set('cskip', async () => {
    throw ApplicationFailure.create({ type: 'Broken', nonRetryable: true, message: 'skip me' });
  });
  const hold = gate('hold2');
  behaviour.set('chold', () => hold);
  const handle = await start(['cskip', 'cskip_down', 'chold']);
  await until(handle, (s) => s.nodes.cskip!.state === 'failed');
  const skipped = await handle.executeUpdate(skipNodeUpdate, { args: ['cskip'] });
  expect(expandDagState(skipped).nodes.cskip!.state).toBe('skipped');
  await until(handle, (s) => s.nodes.cskip_down!.state === 'succeeded');
  gates.get('hold2')!.open();
  const result = await awaitDagRun(handle);
  const expected: Record<string, NodeState> = { cskip: 'skipped', cskip_down: 'succeeded', chold: 'succeeded' };
  expect(states(result)).toEqual(expected);
});

test('a large DAG continues as new at a low threshold, carrying its state, and completes', async () => {
  const window = parseWindow('2026-09-01');
  const input = buildDagInput(
    catalog,
    ['pa', 'pb', 'pb1', 'pb2', 'pc', 'pc1', 'da', 'db', 'dc', 'dd'],
    window,
    'manual',
    queue,
    { maxParallel: 2, continueAsNewAfter: 3 },
  );
  const handle = await startDagRun(client, input, queue, { explicitList: true });
  const result = await awaitDagRun(handle);
  expect(Object.values(result.nodes).every((n) => n.state === 'succeeded' && n.attempts === 1)).toBe(true);
  // Four workflow runs, 3 + 3 + 3 + 1 children: follow the chain of continue-as-new from the first run.
  let runId: string | undefined = handle.firstExecutionRunId;
  let runs = 0;
  while (runId) {
    runs++;
    runId = await continuedAs(handle.workflowId, runId);
  }
  expect(runs).toBe(4);
});
