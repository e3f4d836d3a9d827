import type { Command } from 'commander';

/** `pipectl worker`: the worker process. */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a worker: executes pipeline runs from the task queue until SIGINT/SIGTERM')
    .option('-d, --dir <folder>', 'folder of pipeline definitions')
    .option(
      '-q, --task-queue <queue...>',
      'task queues to serve, each with an optional limit of steps at once, e.g. heavy:2 light ' +
        '(default: $PIPECTL_WORKER_QUEUES, comma-separated, else $PIPECTL_TASK_QUEUE or pipectl)',
    )
    .option('--max-concurrent-activities <n>', 'steps run at once on each queue without a limit of its own', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new Error(`--max-concurrent-activities must be a positive integer, got ${v}`);
      return n;
    })
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics on this port at /metrics (default: $PIPECTL_METRICS_PORT; none when unset)',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 65535)
          throw new Error(`--metrics-port must be a port number, got ${v}`);
        return n;
      },
    )
    .action(
      async (opts: { dir?: string; taskQueue?: string[]; maxConcurrentActivities?: number; metricsPort?: number }) => {
        const { catalogFor, commandSettings } = await import('../context');
        const { createPipectlWorker } = await import('../../workers/worker');
        const { workerQueues, unservedQueues } = await import('../../workers/queues');
        const { UserError } = await import('../errors');
        const s = commandSettings(opts);
        const catalog = catalogFor(s);
        const log = (line: string) => process.stderr.write(`${line}\n`);
        let queues;
        try {
          queues = workerQueues(opts.taskQueue, process.env, s.taskQueue);
        } catch (err) {
          throw new UserError((err as Error).message);
        }
        for (const line of unservedQueues(catalog, queues, s.taskQueue)) log(line);
        const worker = await createPipectlWorker({
          settings: s,
          catalog,
          log,
          taskQueues: queues,
          ...(opts.maxConcurrentActivities ? { maxConcurrentActivities: opts.maxConcurrentActivities } : {}),
          ...(opts.metricsPort ? { metricsPort: opts.metricsPort } : {}),
        });
        if (worker.metrics) log(`worker metrics on http://${worker.metrics.host}:${worker.metrics.port}/metrics`);
        const served = queues.map((q) =>
          q.maxConcurrentActivities ? `${q.name} (${q.maxConcurrentActivities} steps at once)` : q.name,
        );
        log(
          `worker polling ${served.join(', ')} on ${s.temporalAddress} (${catalog.pipelines.size} pipelines); Ctrl-C to stop`,
        );
        await worker.run();
        log('worker stopped');
      },
    );
}
