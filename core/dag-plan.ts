/**
 * The state machine of a DAG run, pure and deterministic: which nodes are ready, which are blocked by a failure,
 * and in what order ready nodes start. The `dagRun` workflow keeps only the states a node reached by running (or by
 * an operator's skip); everything else is derived here, so a retry or a skip re-plans the downstream at once.
 */

/** A node's state in a DAG run. */
export type NodeState = 'pending' | 'running' | 'succeeded' | 'failed' | 'upstream_failed' | 'skipped' | 'cancelled';

/** What the DAG run records about a node. */
export interface NodeStatus {
  state: NodeState;
  /** Child runs started for this node in this DAG run (a retry update adds one). */
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  /** The child workflow of the latest attempt. */
  workflowId?: string;
  rowsLoaded?: number;
  /** Type and message of the latest failure. */
  error?: { type: string; message: string };
}

/** A node of the plan: its upstreams inside this DAG run and how many pipelines depend on it. */
export interface PlanNode {
  name: string;
  upstream: readonly string[];
  /** Pipelines transitively downstream; more start first. */
  descendants: number;
}

const SATISFIED: ReadonlySet<NodeState> = new Set(['succeeded', 'skipped']);
const BLOCKING: ReadonlySet<NodeState> = new Set(['failed', 'upstream_failed', 'cancelled']);

/**
 * Re-derives `pending` and `upstream_failed` for nodes that have not run, in topological order: a node is
 * `upstream_failed` when any upstream failed (or is itself blocked), `pending` otherwise.
 */
export function derive(order: readonly PlanNode[], states: Map<string, NodeStatus>): void {
  for (const node of order) {
    const s = states.get(node.name)!;
    if (s.state !== 'pending' && s.state !== 'upstream_failed') continue;
    const blocked = node.upstream.some((u) => BLOCKING.has(states.get(u)?.state ?? 'pending'));
    s.state = blocked ? 'upstream_failed' : 'pending';
  }
}

/** Pending nodes whose upstreams all succeeded or were skipped, most descendants first, then by name. */
export function readyNodes(order: readonly PlanNode[], states: Map<string, NodeStatus>): PlanNode[] {
  return order
    .filter(
      (n) =>
        states.get(n.name)!.state === 'pending' &&
        n.upstream.every((u) => SATISFIED.has(states.get(u)?.state ?? 'pending')),
    )
    .sort((a, b) => b.descendants - a.descendants || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Every node downstream of `name` (transitively), in `order`'s order. */
export function downstreamOf(order: readonly PlanNode[], name: string): string[] {
  const hit = new Set([name]);
  const out: string[] = [];
  for (const n of order) {
    if (n.upstream.some((u) => hit.has(u))) {
      hit.add(n.name);
      out.push(n.name);
    }
  }
  return out;
}

/** Orders nodes so every upstream comes first (Kahn's algorithm, ties by name). Throws on a cycle. */
export function orderPlan(nodes: readonly PlanNode[]): PlanNode[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const indegree = new Map(nodes.map((n) => [n.name, n.upstream.filter((u) => byName.has(u)).length]));
  const children = new Map<string, string[]>(nodes.map((n) => [n.name, []]));
  for (const n of nodes) for (const u of n.upstream) children.get(u)?.push(n.name);
  const ready = nodes
    .filter((n) => indegree.get(n.name) === 0)
    .map((n) => n.name)
    .sort();
  const out: PlanNode[] = [];
  for (let i = 0; i < ready.length; i++) {
    const name = ready[i]!;
    out.push(byName.get(name)!);
    for (const c of children.get(name)!.sort()) {
      const left = indegree.get(c)! - 1;
      indegree.set(c, left);
      if (left === 0) ready.push(c);
    }
  }
  if (out.length !== nodes.length) throw new Error('the DAG has a cycle');
  return out;
}

/** Counts of nodes per state. */
export function countStates(states: Map<string, NodeStatus>): Record<NodeState, number> {
  const counts: Record<NodeState, number> = {
    pending: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    upstream_failed: 0,
    skipped: 0,
    cancelled: 0,
  };
  for (const s of states.values()) counts[s.state]++;
  return counts;
}
