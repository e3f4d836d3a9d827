/**
 * The raw Temporal baseline's worker, in the benchmark's process: the workflows of ./workflows.ts (bundled once per
 * process, before any measurement) and the no-op activities, on a task queue of a given server.
 */
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { Cleanup } from '../harness';
import { createRawActivities } from './activities';
import { withoutLoaderInThreads } from '../../workers/workflow-threads';

let bundle: Promise<{ code: string }> | undefined;

/** The baseline's workflow bundle, built on the first call and reused after. */
export function rawWorkflowBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    logger: new DefaultLogger('WARN'),
  });
  return bundle;
}

/** A running baseline worker. */
export interface RawWorker {
  /** Settles with a reason if the worker stops before the benchmark is done with it. */
  stopped: Promise<string>;
}

/**
 * Starts a baseline worker on `taskQueue` of the server at `address`, with the SDK's default worker options (as
 * pipectl's worker has) and the same 5 s shutdown grace as the benchmarks give pipectl's; registers its stop with
 * `cleanup`.
 */
export async function startRawWorker(
  options: { address: string; taskQueue: string; namespace?: string },
  cleanup: Cleanup,
): Promise<RawWorker> {
  try {
    // The first worker of a process sets the runtime's logger; pipectl's worker installs its own the same way.
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // A runtime already exists in this process (pipectl's worker ran first): it serves this worker too.
  }
  const workflowBundle = await rawWorkflowBundle();
  const connection = await NativeConnection.connect({ address: options.address });
  cleanup.add('close the baseline worker connection', () => connection.close());
  // As pipectl's worker does: its workflow threads start without the TypeScript loader the benchmark runs under.
  const worker = await withoutLoaderInThreads(() =>
    Worker.create({
      connection,
      namespace: options.namespace ?? 'default',
      taskQueue: options.taskQueue,
      workflowBundle,
      activities: createRawActivities(),
      shutdownGraceTime: 5_000,
    }),
  );
  const run = worker.run();
  cleanup.add('stop the baseline worker', async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await run;
  });
  return {
    stopped: run.then(
      () => 'the baseline worker stopped (a signal?)',
      (err: unknown) => `the baseline worker failed: ${(err as Error).message}`,
    ),
  };
}
