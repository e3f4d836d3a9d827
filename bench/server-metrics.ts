/** Figures from the dev server's Prometheus endpoint that explain where a DAG run's time goes on the server. */
export interface ServerMetrics {
  /** History tasks refused because their workflow's lock was held too long (`ResourceExhausted: BusyWorkflow`), by task type. */
  busyWorkflowThrottles: Record<string, number>;
  /** Transfer tasks that start child workflows: how many, how many attempts, mean time queued (ms). */
  startChild: { tasks: number; attempts: number; meanQueueMs: number };
  /** Getting a workflow's mutable state with its lock: calls and mean wait (ms). */
  mutableStateLock: { calls: number; meanMs: number };
  /** History's persistence writes of a workflow execution: calls and mean latency (ms). */
  updateWorkflowExecution: { calls: number; meanMs: number };
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Reads the server's metrics once; undefined when the endpoint does not answer. */
export async function serverMetrics(metricsPort: number): Promise<ServerMetrics | undefined> {
  let text: string;
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) return undefined;
    text = await res.text();
  } catch {
    return undefined;
  }
  const samples = parse(text);
  const sum = (name: string, match: (l: Record<string, string>) => boolean) =>
    samples.filter((s) => s.name === name && match(s.labels)).reduce((t, s) => t + s.value, 0);
  const startChild = (l: Record<string, string>) => l.task_type === 'TransferActiveTaskStartChildExecution';
  const getOrCreate = (l: Record<string, string>) =>
    l.cache_type === 'mutablestate' && l.operation === 'HistoryCacheGetOrCreate';
  const update = (l: Record<string, string>) =>
    l.service_name === 'history' && l.operation === 'UpdateWorkflowExecution';
  const busy: Record<string, number> = {};
  for (const s of samples) {
    if (s.name === 'task_errors_throttled' && s.labels.resource_exhausted_cause === 'BusyWorkflow') {
      const type = s.labels.task_type ?? s.labels.operation ?? 'unknown';
      busy[type] = (busy[type] ?? 0) + s.value;
    }
  }
  const mean = (total: number, count: number) => (count > 0 ? Math.round((total / count) * 1000) : 0);
  const queued = sum('task_latency_queue_count', startChild);
  const locks = sum('cache_latency_count', getOrCreate);
  const updates = sum('persistence_latency_count', update);
  return {
    busyWorkflowThrottles: busy,
    startChild: {
      tasks: sum('task_attempt_count', startChild),
      attempts: sum('task_attempt_sum', startChild),
      meanQueueMs: mean(sum('task_latency_queue_sum', startChild), queued),
    },
    mutableStateLock: { calls: locks, meanMs: mean(sum('cache_latency_sum', getOrCreate), locks) },
    updateWorkflowExecution: { calls: updates, meanMs: mean(sum('persistence_latency_sum', update), updates) },
  };
}
