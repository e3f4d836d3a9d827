import type { Client } from '@temporalio/client';
import { desiredSchedules } from '../../cli/sync';
import { awaitDagRun } from '../../cli/dag-state';
import { definePipeline } from '../../index';
import { TEMPORAL_SCHEDULED_START_TIME, WINDOW_END, WINDOW_START } from '../../temporal-config/search-attributes';
import type { dagRun } from '../../workflows/dag-run';
import { catalogOf } from '../helpers/catalog';
import { createTestDatabase } from '../helpers/postgres';
import { namespaceClient, startTestWorker, uniqueQueue } from '../helpers/temporal';

/**
 * Schedules made by `pipectl sync` really fire and run their group for the right window. This file works in its own
 * namespace, so no other test's `pipectl sync --prune` can delete its Schedules.
 */
const namespace = 'pipectl-firing';
const queue = uniqueQueue('firing');
const seen: string[] = [];
const step = (name: string) => ({
  taskQueue: queue,
  extract: (ctx: { window: { start: string; end: string } }) => {
    seen.push(`${name} ${ctx.window.start} ${ctx.window.end}`);
    return [{ name }];
  },
  load: (rows: unknown[]) => rows.length,
});
const catalog = catalogOf([
  definePipeline({
    name: 'tick',
    schedule: { every: '1 minute', group: 'firing-minute' },
    outputs: ['t.tick'],
    ...step('tick'),
  }),
  definePipeline({ name: 'tock', inputs: ['t.tick'], ...step('tock') }),
  definePipeline({
    name: 'nightly',
    schedule: { every: 'daily', at: '00:00', group: 'firing-daily' },
    ...step('nightly'),
  }),
]);
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;

beforeAll(async () => {
  client = await namespaceClient(namespace);
  const url = await createTestDatabase('firing');
  worker = await startTestWorker({ catalog, taskQueue: queue, connections: { pipectl: url }, namespace });
  for (const desired of desiredSchedules(catalog, queue).values()) {
    await client.schedule.create(desired.options).catch((err: Error) => {
      if (err.name !== 'ScheduleAlreadyRunning') throw err;
    });
  }
});

afterAll(async () => {
  for (const id of ['pipectl-firing-minute', 'pipectl-firing-daily'])
    await client?.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  await worker?.stop();
  await client?.connection.close();
});

/** The first DAG run of a group, once the schedule started one. */
async function firstRun(group: string) {
  for (let i = 0; i < 600; i++) {
    for await (const run of client.workflow.list({ query: `WorkflowType = 'dagRun' AND PipelineGroup = '${group}'` }))
      return client.workflow.getHandle<typeof dagRun>(run.workflowId, run.runId);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no DAG run of ${group} was started`);
}

test('a firing runs its group for the window from the previous firing to the firing', async () => {
  const handle = await firstRun('firing-minute');
  const result = await awaitDagRun(handle);
  await client.schedule.getHandle('pipectl-firing-minute').pause('test done');
  const d = await handle.describe();
  const firedAt = d.typedSearchAttributes.get(TEMPORAL_SCHEDULED_START_TIME)!.getTime();
  expect(firedAt % 60_000).toBe(0);
  const window = { start: new Date(firedAt - 60_000).toISOString(), end: new Date(firedAt).toISOString() };
  expect(result.window).toEqual(window);
  expect(result.group).toBe('firing-minute');
  expect(result.kind).toBe('scheduled');
  expect(Object.fromEntries(Object.entries(result.nodes).map(([n, s]) => [n, s.state]))).toEqual({
    tick: 'succeeded',
    tock: 'succeeded',
  });
  expect(seen).toEqual(
    expect.arrayContaining([`tick ${window.start} ${window.end}`, `tock ${window.start} ${window.end}`]),
  );
  expect(handle.workflowId).toBe(`dag/firing-minute-${new Date(firedAt).toISOString().replace('.000Z', 'Z')}`);
  expect(d.typedSearchAttributes.get(WINDOW_START)?.toISOString()).toBe(window.start);
  expect(d.typedSearchAttributes.get(WINDOW_END)?.toISOString()).toBe(window.end);
}, 120_000);

test('a run triggered between firings processes the latest complete window', async () => {
  await client.schedule.getHandle('pipectl-firing-daily').trigger();
  const handle = await firstRun('firing-daily');
  const result = await awaitDagRun(handle);
  const d = await handle.describe();
  const triggeredAt = d.typedSearchAttributes.get(TEMPORAL_SCHEDULED_START_TIME)!.getTime();
  const midnight = Math.floor(triggeredAt / 86_400_000) * 86_400_000;
  expect(result.window).toEqual({
    start: new Date(midnight - 86_400_000).toISOString(),
    end: new Date(midnight).toISOString(),
  });
  expect(result.nodes.nightly!.state).toBe('succeeded');
});
