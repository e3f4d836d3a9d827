import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { Catalog } from '../../catalog/load';
import { readSettings } from '../../temporal-config/settings';
import { createPipectlWorker, type PipectlWorker } from '../../workers/worker';

/** A client on the test run's Temporal server. */
export async function testClient(): Promise<Client> {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  return new Client({ connection, namespace: 'default' });
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
}): Promise<PipectlWorker & { stop(): Promise<void> }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PIPECTL_TASK_QUEUE: options.taskQueue,
    PIPECTL_EMBEDDED_POSTGRES: '0',
    ...(options.inlineLimitBytes !== undefined ? { PIPECTL_INLINE_LIMIT_BYTES: String(options.inlineLimitBytes) } : {}),
  };
  for (const [name, url] of Object.entries(options.connections)) env[`PIPECTL_CONNECTION_${name.toUpperCase()}`] = url;
  const worker = await createPipectlWorker({ settings: readSettings(env), catalog: options.catalog, env });
  const running = worker.run();
  return {
    ...worker,
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}
