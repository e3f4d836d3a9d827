import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Pool } from 'pg';
import { definePipeline, postgres } from '../../index';
import { startPipelineRun } from '../../cli/runs';
import { parseWindow } from '../../core/window';
import type { PipelineSpec } from '../../core/pipeline-spec';
import { catalogOf } from '../helpers/catalog';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';

/**
 * Worker pools: heavy pipelines on a queue of their own, with its own step limit, never take the slots of light
 * ones. The control case shows the starvation the pools prevent: on one shared queue, a light step waits until the
 * heavy steps that fill its slots end.
 */

const window = parseWindow('2026-11-20');
let url: string;
let db: Pool;
let client: Client;

/** What happened, in order: heavy steps starting, the gate opening, light steps running. */
let events: string[] = [];
let openGate: () => void = () => undefined;
let gate = Promise.resolve();
let heavyStarted: (n: number) => void = () => undefined;

function resetGate(): void {
  events = [];
  gate = new Promise<void>((resolve) => {
    openGate = () => {
      events.push('gate opened');
      resolve();
    };
  });
}

function heavy(name: string, taskQueue: string) {
  return definePipeline({
    name,
    taskQueue,
    extract: async () => {
      events.push(`${name} extract started`);
      heavyStarted(events.filter((e) => e.endsWith('extract started')).length);
      await gate;
      return [{ id: 1, name }];
    },
    load: postgres.upsert({ connection: 'warehouse', table: 'public.pool_rows', key: ['name'] }),
  });
}

function light(name: string, taskQueue: string) {
  return definePipeline({
    name,
    taskQueue,
    extract: () => {
      events.push(`${name} extract`);
      return [{ id: 2, name }];
    },
    load: postgres.upsert({ connection: 'warehouse', table: 'public.pool_rows', key: ['name'] }),
  });
}

/** Resolves once `n` heavy extracts have started. */
function heavyExtractsStarted(n: number): Promise<void> {
  return new Promise((resolve) => {
    heavyStarted = (count) => {
      if (count >= n) resolve();
    };
  });
}

function specOf(def: ReturnType<typeof definePipeline>, all: ReturnType<typeof definePipeline>[]): PipelineSpec {
  return catalogOf(all).pipelines.get(def.name)!.spec;
}

beforeAll(async () => {
  url = await createTestDatabase('pools');
  db = poolFor(url);
  await db.query('CREATE TABLE public.pool_rows (name text PRIMARY KEY, id int NOT NULL)');
  client = await testClient();
});

afterAll(async () => {
  await db?.end();
  await client?.connection.close();
});

test('a light pipeline on its own queue completes while heavy steps fill the heavy queue', async () => {
  resetGate();
  const heavyQueue = uniqueQueue('heavy');
  const lightQueue = uniqueQueue('light');
  const defs = [heavy('heavy_a', heavyQueue), heavy('heavy_b', heavyQueue), heavy('heavy_c', heavyQueue)];
  const lightDef = light('light_a', lightQueue);
  const all = [...defs, lightDef];
  const worker = await startTestWorker({
    catalog: catalogOf(all),
    taskQueue: heavyQueue,
    connections: { warehouse: url, pipectl: url },
    queues: [
      { name: heavyQueue, maxConcurrentActivities: 2 },
      { name: lightQueue, maxConcurrentActivities: 2 },
    ],
  });
  try {
    const started = heavyExtractsStarted(2);
    const heavyRuns = await Promise.all(
      defs.map((d) => startPipelineRun(client, specOf(d, all), window, 'manual', heavyQueue)),
    );
    await started;
    const lightRun = await startPipelineRun(client, specOf(lightDef, all), window, 'manual', heavyQueue);
    const result = await lightRun.result();
    expect(result.rowsLoaded).toBe(1);
    // The heavy queue's two slots are still held, and its third run still waits for one.
    expect(events).toContain('light_a extract');
    expect(events).not.toContain('gate opened');
    expect(events.filter((e) => e.startsWith('heavy')).length).toBe(2);
    openGate();
    for (const run of heavyRuns) await run.result();
    expect(events.filter((e) => e.startsWith('heavy')).length).toBe(3);
  } finally {
    openGate();
    await worker.stop();
  }
});

test('on one shared queue, a light step waits until the heavy steps holding its slots end', async () => {
  resetGate();
  const shared = uniqueQueue('shared');
  const defs = [heavy('heavy_d', shared), heavy('heavy_e', shared)];
  const lightDef = light('light_b', shared);
  const all = [...defs, lightDef];
  const worker = await startTestWorker({
    catalog: catalogOf(all),
    taskQueue: shared,
    connections: { warehouse: url, pipectl: url },
    queues: [{ name: shared, maxConcurrentActivities: 2 }],
  });
  try {
    const started = heavyExtractsStarted(2);
    const heavyRuns = await Promise.all(
      defs.map((d) => startPipelineRun(client, specOf(d, all), window, 'manual', shared)),
    );
    await started;
    const lightRun = await startPipelineRun(client, specOf(lightDef, all), window, 'manual', shared);
    // The light run's extract is scheduled but cannot start: both slots are taken.
    await waitFor(async () => {
      const { raw } = await lightRun.describe();
      return (raw.pendingActivities?.length ?? 0) > 0;
    });
    const { raw } = await lightRun.describe();
    expect(raw.pendingActivities?.[0]?.activityType?.name).toBe('extractRows');
    expect(raw.pendingActivities?.[0]?.state).toBe(
      temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED,
    );
    expect(events).not.toContain('light_b extract');
    openGate();
    await lightRun.result();
    for (const run of heavyRuns) await run.result();
    expect(events.indexOf('light_b extract')).toBeGreaterThan(events.indexOf('gate opened'));
  } finally {
    openGate();
    await worker.stop();
  }
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met in 60 s');
}
