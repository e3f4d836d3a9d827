import { z } from 'zod';

/** A task queue a worker serves, with its own limit on steps running at once. */
export const QueueSpec = z.object({
  /** Temporal task queue name (a pipeline's `taskQueue`). */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,200}$/, 'a task queue is letters, digits, _, . and -'),
  /** Most steps (activities) of this queue running at once in this worker; the worker's default when absent. */
  maxConcurrentActivities: z.number().int().min(1, 'at least 1').max(10_000, 'at most 10000').optional(),
});
export type QueueSpec = z.infer<typeof QueueSpec>;

/**
 * Parses a worker's queue option, `name` or `name:N` (N = steps at once on that queue), e.g. `heavy:2`.
 * Throws an error naming the option and the value.
 */
export function parseQueueSpec(text: string, source = '--task-queue'): QueueSpec {
  const match = /^([^:]*)(?::(.*))?$/.exec(text.trim());
  const name = match?.[1] ?? '';
  const limit = match?.[2];
  if (limit !== undefined && !/^\d+$/.test(limit)) {
    throw new Error(`${source} ${JSON.stringify(text)}: the limit after ':' must be a whole number, e.g. heavy:2`);
  }
  const parsed = QueueSpec.safeParse({
    name,
    ...(limit !== undefined ? { maxConcurrentActivities: Number(limit) } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${source} ${JSON.stringify(text)}: ${String(issue.path[0])}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * The queues of one worker from the `--task-queue` values, or `PIPECTL_WORKER_QUEUES` (comma-separated, same syntax),
 * or the default queue. A queue named twice is an error: its limit would be ambiguous.
 */
export function workerQueues(options: string[] | undefined, env: NodeJS.ProcessEnv, defaultQueue: string): QueueSpec[] {
  const fromEnv = env.PIPECTL_WORKER_QUEUES?.split(',').filter((s) => s.trim() !== '');
  const [texts, source] = options?.length
    ? [options, '--task-queue']
    : fromEnv?.length
      ? [fromEnv, 'PIPECTL_WORKER_QUEUES']
      : [[defaultQueue], 'PIPECTL_TASK_QUEUE'];
  const queues = texts.map((t) => parseQueueSpec(t, source));
  const seen = new Set<string>();
  for (const q of queues) {
    if (seen.has(q.name)) throw new Error(`${source}: task queue '${q.name}' is named twice`);
    seen.add(q.name);
  }
  return queues;
}

/**
 * Notes for the user about pipelines whose task queue this worker does not serve: they need another worker. Empty when
 * the worker serves every queue of the catalog.
 */
export function unservedQueues(
  catalog: { pipelines: Map<string, { spec: { name: string; taskQueue?: string | undefined } }> },
  served: QueueSpec[],
  defaultQueue: string,
): string[] {
  const names = new Set(served.map((q) => q.name));
  const byQueue = new Map<string, string[]>();
  for (const { spec } of catalog.pipelines.values()) {
    const queue = spec.taskQueue ?? defaultQueue;
    if (!names.has(queue)) byQueue.set(queue, [...(byQueue.get(queue) ?? []), spec.name]);
  }
  return [...byQueue].map(([queue, pipelines]) => {
    const shown =
      pipelines.length > 5
        ? `${pipelines.slice(0, 5).join(', ')} and ${pipelines.length - 5} more`
        : pipelines.join(', ');
    return `note: this worker does not serve task queue '${queue}' (pipelines ${shown}); another worker must (pipectl worker --task-queue ${queue})`;
  });
}

/** Every queue a catalog's pipelines use, the default first: what a single all-in-one worker (`pipectl dev`) serves. */
export function catalogQueues(
  catalog: { pipelines: Map<string, { spec: { taskQueue?: string | undefined } }> },
  defaultQueue: string,
): QueueSpec[] {
  const names = new Set([defaultQueue]);
  for (const { spec } of catalog.pipelines.values()) if (spec.taskQueue) names.add(spec.taskQueue);
  return [...names].map((name) => ({ name }));
}
