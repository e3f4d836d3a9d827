import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities, type Activities } from '../../activities';
import { PostgresPools, staticResolver } from '../../activities/postgres/pools';
import { Staging } from '../../activities/staging';
import type { PipelineDefinition, Row } from '../../core/pipeline-spec';
import type { StepData } from '../../core/run-input';
import { catalogOf } from '../helpers/catalog';
import { createTestDatabase, poolFor } from '../helpers/postgres';

/** Which workflow run and attempt an activity call pretends to belong to. */
export interface RunIdentity {
  workflowId: string;
  runId: string;
  attempt?: number;
}

/**
 * The activities over a fresh database of the test run's real PostgreSQL: connection `warehouse` (and staging on the
 * same database), a direct pool `db` for setup and assertions, and `run` to call an activity as a given run would.
 */
export interface ActivityHarness {
  url: string;
  db: Pool;
  pools: PostgresPools;
  staging: Staging;
  activities: Activities;
  run<A, R>(fn: (input: A) => Promise<R>, input: A, identity?: RunIdentity): Promise<R>;
  close(): Promise<void>;
}

/** Builds the activities over `defs` (validated like definition files) against a new database. */
export async function activityHarness(
  prefix: string,
  defs: PipelineDefinition[],
  options: { inlineLimitBytes?: number; filesDir?: string } = {},
): Promise<ActivityHarness> {
  const url = await createTestDatabase(prefix);
  const db = poolFor(url);
  const pools = new PostgresPools(staticResolver({ warehouse: url }));
  const staging = new Staging(() => pools.get('warehouse'));
  const catalog = catalogOf(defs);
  const activities = createActivities({
    pipeline: (name) => catalog.pipelines.get(name)?.spec,
    pools,
    staging,
    inlineLimitBytes: options.inlineLimitBytes ?? 256 * 1024,
    ...(options.filesDir !== undefined ? { filesDir: options.filesDir } : {}),
  });
  return {
    url,
    db,
    pools,
    staging,
    activities,
    run(fn, input, identity = newRun()) {
      const env = new MockActivityEnvironment(
        {
          workflowExecution: { workflowId: identity.workflowId, runId: identity.runId },
          attempt: identity.attempt ?? 1,
          heartbeatTimeoutMs: 30_000,
        },
        // Failed attempts are the point of many tests here; keep the SDK's own warnings out of the output.
        { logger: new DefaultLogger('ERROR') },
      );
      return env.run(fn, input);
    },
    async close() {
      await pools.close();
      await db.end();
    },
  };
}

/** A fresh run of a workflow: same workflow ID as other runs of the window when given, new run ID. */
export function newRun(workflowId = `pipeline/test/${randomUUID()}`): RunIdentity {
  return { workflowId, runId: randomUUID() };
}

/** Inline step data, as an earlier step would hand it over. */
export function inline(rows: Row[]): StepData {
  return { kind: 'inline', rows, rowCount: rows.length };
}

/** Stages `chunks` under a new reference, one staged chunk each, and returns the step data that points at them. */
export async function stagedChunks(staging: Staging, chunks: Row[][]): Promise<StepData> {
  const ref = `test/${randomUUID()}/chunks/1`;
  let bytes = 0;
  for (const [seq, rows] of chunks.entries()) {
    const body = JSON.stringify(rows);
    bytes += Buffer.byteLength(body);
    await staging.putChunk(ref, seq, rows.length, body);
  }
  return { kind: 'staged', ref, chunks: chunks.length, rowCount: chunks.reduce((n, c) => n + c.length, 0), bytes };
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure, but the call succeeded');
}

/** Asserts a non-retryable ApplicationFailure of `type` and returns it. */
export function expectPermanent(err: unknown, type: string): ApplicationFailure {
  expect(err).toBeInstanceOf(ApplicationFailure);
  const failure = err as ApplicationFailure;
  expect({ type: failure.type, nonRetryable: failure.nonRetryable }).toEqual({ type, nonRetryable: true });
  return failure;
}
