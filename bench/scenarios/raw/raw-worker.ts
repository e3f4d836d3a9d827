/**
 * The raw Temporal cold-start baseline: a worker process with nothing of pipectl in it — connect, `Worker.create` with
 * a prebuilt bundle of a trivial workflow, say so, poll until SIGTERM. Self-contained (it is compiled to plain
 * JavaScript before the timed runs and run with `node`, as pipectl's compiled CLI is).
 *
 * Environment: TEMPORAL_ADDRESS, RAW_TASK_QUEUE, RAW_BUNDLE (path of the prebuilt workflow bundle).
 */
import { NativeConnection, Worker } from '@temporalio/worker';

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  const taskQueue = process.env.RAW_TASK_QUEUE ?? 'raw-cold-start';
  const codePath = process.env.RAW_BUNDLE;
  if (!codePath) throw new Error('RAW_BUNDLE: the path of the prebuilt workflow bundle is required');
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({ connection, taskQueue, workflowBundle: { codePath }, activities: {} });
  // The same marker as pipectl's worker prints, at the same point: built, about to poll.
  process.stderr.write(`worker polling ${taskQueue} on ${address}\n`);
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
