import { randomBytes } from 'node:crypto';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Catalog } from '../../catalog/load';
import { msToTs } from '@temporalio/common/lib/time';
import { clientConnectionOptions, connectClient, dataConverter } from '../../temporal-config/connection';
import { registerSearchAttributes } from '../../temporal-config/dev-server';
import { readSettings } from '../../temporal-config/settings';
import type { QueueSpec } from '../../workers/queues';
import { createPipectlWorker, type PipectlWorker } from '../../workers/worker';

/** A client on the test run's Temporal server (namespace `default`), connected the way pipectl connects. */
export async function testClient(): Promise<Client> {
  return connectClient(readSettings({ ...process.env, TEMPORAL_NAMESPACE: 'default' }));
}

/**
 * A client on a namespace of its own on the test server, created (with pipectl's search attributes) if needed. A test
 * file that makes pipectl Schedules works in one, so no other file's `pipectl sync --prune` deletes them.
 */
export async function namespaceClient(namespace: string): Promise<Client> {
  const address = process.env.TEMPORAL_ADDRESS!;
  const s = readSettings({ ...process.env, TEMPORAL_NAMESPACE: namespace });
  const connection = await Connection.connect(clientConnectionOptions(s));
  await connection.workflowService
    .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(86_400_000) })
    .catch((err: { code?: number }) => {
      if (err.code !== 6) throw err; // already exists
    });
  for (let i = 0; ; i++) {
    try {
      await connection.workflowService.describeNamespace({ namespace });
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await registerSearchAttributes(address, namespace);
  return new Client({ connection, namespace, dataConverter: dataConverter(s) });
}

/** A task queue no other test file uses. */
export function uniqueQueue(prefix = 'test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * Starts an in-process worker on the test server for a catalog, with named connections from `connections`
 * (`{ warehouse: url }`) and the prebuilt workflow bundle. Call `stop()` at the end.
 */
export async function startTestWorker(options: {
  catalog: Catalog;
  taskQueue: string;
  connections: Record<string, string>;
  inlineLimitBytes?: number;
  /** `PIPECTL_HEARTBEAT_INTERVAL`, when not the default. */
  heartbeatInterval?: string;
  /** Namespace, when not `default`. */
  namespace?: string;
  /** Queues served, with their own step limits (default: `taskQueue` alone). */
  queues?: QueueSpec[];
}): Promise<PipectlWorker & { stop(): Promise<void> }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PIPECTL_TASK_QUEUE: options.taskQueue,
    PIPECTL_EMBEDDED_POSTGRES: '0',
    ...(options.namespace ? { TEMPORAL_NAMESPACE: options.namespace } : {}),
    ...(options.inlineLimitBytes !== undefined ? { PIPECTL_INLINE_LIMIT_BYTES: String(options.inlineLimitBytes) } : {}),
    ...(options.heartbeatInterval ? { PIPECTL_HEARTBEAT_INTERVAL: options.heartbeatInterval } : {}),
  };
  for (const [name, url] of Object.entries(options.connections)) env[`PIPECTL_CONNECTION_${name.toUpperCase()}`] = url;
  const worker = await createPipectlWorker({
    settings: readSettings(env),
    catalog: options.catalog,
    env,
    ...(options.queues ? { taskQueues: options.queues } : {}),
  });
  const running = worker.run();
  return {
    ...worker,
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}

/** The event types of a run's history; a local activity's marker as `LOCAL <its activity type>`. */
export async function eventTypes(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return history.events!.map((e) => {
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_local_activity') return temporal.api.enums.v1.EventType[e.eventType!];
    const data = marker.details?.data?.payloads?.[0]?.data;
    const activityType = data ? (JSON.parse(Buffer.from(data).toString()) as { activity_type?: string }) : {};
    return `LOCAL ${activityType.activity_type ?? '?'}`;
  });
}
