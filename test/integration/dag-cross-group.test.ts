import type { Client } from '@temporalio/client';
import { buildDagInput, groupPipelines, startDagRun } from '../../cli/dag';
import { awaitDagRun } from '../../cli/dag-state';
import { startPipelineRun } from '../../cli/runs';
import { expandDagState } from '../../core/dag-input';
import { parseWindow, type Window } from '../../core/window';
import { definePipeline } from '../../index';
import { dagStateQuery } from '../../workflows/definitions';
import { catalogOf } from '../helpers/catalog';
import { createTestDatabase } from '../helpers/postgres';
import { startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';

const queue = uniqueQueue('xgroup');
const ran: string[] = [];

const noop = (name: string) => ({
  taskQueue: queue,
  retry: { maximumAttempts: 1 },
  extract: () => {
    ran.push(name);
    return [{ name }];
  },
  load: (rows: unknown[]) => rows.length,
});

// Group `early` (01:00) produces; group `late` (05:00) reads what `early` produced.
const catalog = catalogOf([
  definePipeline({ name: 'xa', schedule: { every: 'daily', at: '01:00', group: 'early' }, ...noop('xa') }),
  definePipeline({ name: 'xlost', schedule: { every: 'daily', at: '01:00', group: 'early' }, ...noop('xlost') }),
  definePipeline({ name: 'xh', schedule: { every: 'hourly', group: 'hourly' }, ...noop('xh') }),
  definePipeline({
    name: 'xb',
    schedule: { every: 'daily', at: '05:00', group: 'late' },
    dependsOn: ['xa'],
    ...noop('xb'),
  }),
  definePipeline({ name: 'xb_after', dependsOn: ['xb'], ...noop('xb_after') }),
  definePipeline({
    name: 'xc',
    schedule: { every: 'daily', at: '06:00', group: 'stuck' },
    dependsOn: ['xlost'],
    timeouts: { upstream: '3s' },
    ...noop('xc'),
  }),
  definePipeline({ name: 'xc_after', dependsOn: ['xc'], ...noop('xc_after') }),
  definePipeline({
    name: 'xd',
    schedule: { every: 'daily', group: 'span' },
    dependsOn: ['xh'],
    ...noop('xd'),
  }),
]);
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;

beforeAll(async () => {
  const url = await createTestDatabase('xgroup');
  client = await testClient();
  worker = await startTestWorker({ catalog, taskQueue: queue, connections: { pipectl: url } });
});

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
});

async function startGroup(group: string, window: Window) {
  const input = buildDagInput(catalog, groupPipelines(catalog, group), window, 'scheduled', queue, {
    group,
    upstreamPollMs: 300,
  });
  return startDagRun(client, input, queue);
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition never met');
}

test('a group holds only its own pipelines and the unscheduled ones downstream of them', () => {
  expect(groupPipelines(catalog, 'late')).toEqual(['xb', 'xb_after']);
  expect(groupPipelines(catalog, 'early')).toEqual(['xa', 'xlost']);
  const input = buildDagInput(catalog, groupPipelines(catalog, 'late'), parseWindow('2026-08-01'), 'scheduled', queue, {
    group: 'late',
  });
  expect(input.waits).toEqual([{ node: 0, upstream: ['xa'], timeoutMs: 6 * 3_600_000 }]);
});

test('a pipeline waits for its upstream in another group, then runs once that upstream succeeded for the window', async () => {
  const window = parseWindow('2026-08-02');
  const handle = await startGroup('late', window);
  await until(async () => expandDagState(await handle.query(dagStateQuery)).nodes.xb!.state === 'waiting');
  const waiting = expandDagState(await handle.query(dagStateQuery));
  expect(waiting.nodes.xb_after!.state).toBe('pending');
  expect(ran).not.toContain('xb');

  // A run of the upstream for another window does not count.
  await (
    await startPipelineRun(client, catalog.pipelines.get('xa')!.spec, parseWindow('2026-08-01'), 'manual', queue)
  ).result();
  await new Promise((r) => setTimeout(r, 1500));
  expect(expandDagState(await handle.query(dagStateQuery)).nodes.xb!.state).toBe('waiting');

  await (await startGroup('early', window)).result();
  const result = await awaitDagRun(handle);
  expect(result.status).toBe('succeeded');
  expect(result.nodes.xb).toMatchObject({ state: 'succeeded', attempts: 1 });
  expect(result.nodes.xb_after!.state).toBe('succeeded');
});

test('an upstream that never succeeds for the window fails the waiting pipeline with UpstreamLate after its timeout', async () => {
  const window = parseWindow('2026-08-03');
  const result = await awaitDagRun(await startGroup('stuck', window));
  expect(result.status).toBe('failed');
  expect(result.nodes.xc!.state).toBe('failed');
  expect(result.nodes.xc!.error).toEqual({
    type: 'UpstreamLate',
    message: 'xlost had no successful run covering 2026-08-03 → 2026-08-04 after waiting 3.0s',
  });
  expect(result.nodes.xc!.attempts).toBe(0);
  expect(result.nodes.xc_after!.state).toBe('upstream_failed');
  expect(ran).not.toContain('xc');
});

test('several shorter upstream runs together cover a longer window', async () => {
  const window = parseWindow('2026-08-04T00:00:00Z/2026-08-04T02:00:00Z');
  const handle = await startGroup('span', window);
  await until(async () => expandDagState(await handle.query(dagStateQuery)).nodes.xd!.state === 'waiting');
  const xh = catalog.pipelines.get('xh')!.spec;
  await (
    await startPipelineRun(
      client,
      xh,
      parseWindow('2026-08-04T00:00:00Z/2026-08-04T01:00:00Z'),
      'scheduled',
      queue,
      'hourly',
    )
  ).result();
  await new Promise((r) => setTimeout(r, 1500));
  expect(expandDagState(await handle.query(dagStateQuery)).nodes.xd!.state).toBe('waiting');
  await (
    await startPipelineRun(
      client,
      xh,
      parseWindow('2026-08-04T01:00:00Z/2026-08-04T02:00:00Z'),
      'scheduled',
      queue,
      'hourly',
    )
  ).result();
  const result = await awaitDagRun(handle);
  expect(result.nodes.xd!.state).toBe('succeeded');
});
