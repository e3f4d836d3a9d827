/**
 * The state machine of a DAG run, pure and deterministic: which nodes are ready, which are blocked by a failure, and
 * in what order ready nodes start. Nodes are numbered (their index in the DAG run's input) and every per-node fact is
 * an array, so a DAG of 10,000 pipelines plans in microseconds and its state packs small enough to carry through
 * continue-as-new.
 */

/** A node's state in a DAG run. */
export type NodeState =
  'pending' | 'waiting' | 'running' | 'succeeded' | 'failed' | 'upstream_failed' | 'skipped' | 'cancelled';

/** Every state, in the order of their packed codes. */
export const NODE_STATES: readonly NodeState[] = [
  'pending',
  'waiting',
  'running',
  'succeeded',
  'failed',
  'upstream_failed',
  'skipped',
  'cancelled',
];
const CODE = new Map(NODE_STATES.map((s, i) => [s, i]));

/** Why a node failed. */
export interface NodeError {
  type: string;
  message: string;
}

/** One node of a DAG run's input: name, upstream node indices, descendant count, run-profile index. */
export type DagNode = [name: string, upstream: number[], descendants: number, profile: number];

/**
 * A DAG run's node states packed for history: per node `[state code, attempts, started, finished, rows loaded]`,
 * times in ms since `epoch` (-1 when absent), rows -1 when unknown; errors by node index.
 */
export interface PackedStates {
  epoch: number;
  nodes: Array<[state: number, attempts: number, startedAt: number, finishedAt: number, rowsLoaded: number]>;
  errors: Record<number, NodeError>;
}

const SATISFIED: ReadonlySet<NodeState> = new Set(['succeeded', 'skipped']);
const BLOCKING: ReadonlySet<NodeState> = new Set(['failed', 'upstream_failed', 'cancelled']);

/** Orders node indices so every upstream comes first (Kahn's algorithm, ties by index). Throws on a cycle. */
export function topoOrder(upstream: readonly (readonly number[])[]): number[] {
  const n = upstream.length;
  const indegree = upstream.map((u) => u.length);
  const children = childrenOf(upstream);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (indegree[i] === 0) out.push(i);
  for (let k = 0; k < out.length; k++) {
    for (const c of children[out[k]!]!) if (--indegree[c]! === 0) out.push(c);
  }
  if (out.length !== n) throw new Error('the DAG has a cycle');
  return out;
}

/**
 * How many nodes are downstream of each node, transitively: bitsets merged in reverse topological order, so a DAG of
 * 10,000 nodes counts in milliseconds.
 */
export function countDescendants(upstream: readonly (readonly number[])[]): number[] {
  const n = upstream.length;
  const words = Math.ceil(n / 32);
  const children = childrenOf(upstream);
  const order = topoOrder(upstream);
  const sets: Uint32Array[] = new Array<Uint32Array>(n);
  const counts = new Array<number>(n).fill(0);
  for (let k = n - 1; k >= 0; k--) {
    const i = order[k]!;
    const set = new Uint32Array(words);
    for (const c of children[i]!) {
      set[c >>> 5]! |= 1 << (c & 31);
      const sub = sets[c]!;
      for (let w = 0; w < words; w++) set[w]! |= sub[w]!;
    }
    sets[i] = set;
    let count = 0;
    for (let w = 0; w < words; w++) {
      let v = set[w]!;
      while (v !== 0) {
        v &= v - 1;
        count++;
      }
    }
    counts[i] = count;
  }
  return counts;
}

function childrenOf(upstream: readonly (readonly number[])[]): number[][] {
  const children: number[][] = upstream.map(() => []);
  upstream.forEach((ups, i) => {
    for (const u of ups) children[u]!.push(i);
  });
  return children;
}

/**
 * The plan of one DAG run: node states with their attempts, times, rows and errors, and the set of nodes ready to
 * start (pending, every upstream succeeded or skipped). Finishing a node updates its downstream incrementally; a retry
 * or skip re-plans everything with {@link DagPlan.replan}.
 */
export class DagPlan {
  readonly size: number;
  readonly names: readonly string[];
  readonly upstream: readonly (readonly number[])[];
  readonly children: readonly (readonly number[])[];
  readonly descendants: readonly number[];
  readonly order: readonly number[];
  readonly index: ReadonlyMap<string, number>;
  readonly state: NodeState[];
  readonly attempts: number[];
  readonly startedAt: number[];
  readonly finishedAt: number[];
  readonly rowsLoaded: number[];
  readonly errors = new Map<number, NodeError>();
  /** Time origin of the packed times (ms since 1970). */
  readonly epoch: number;
  /** Upstreams not yet succeeded or skipped, per node. */
  private readonly unmet: number[];
  /** Ready nodes as a binary heap, best first. */
  private heap: number[] = [];

  constructor(nodes: readonly DagNode[], carried: PackedStates | undefined, now: number) {
    this.size = nodes.length;
    this.names = nodes.map((n) => n[0]);
    this.upstream = nodes.map((n) => n[1]);
    this.descendants = nodes.map((n) => n[2]);
    this.children = childrenOf(this.upstream);
    this.order = topoOrder(this.upstream);
    this.index = new Map(this.names.map((name, i) => [name, i]));
    this.epoch = carried?.epoch ?? now;
    const packed = carried?.nodes;
    this.state = this.names.map((_, i) => NODE_STATES[packed?.[i]?.[0] ?? 0] ?? 'pending');
    this.attempts = this.names.map((_, i) => packed?.[i]?.[1] ?? 0);
    this.startedAt = this.names.map((_, i) => packed?.[i]?.[2] ?? -1);
    this.finishedAt = this.names.map((_, i) => packed?.[i]?.[3] ?? -1);
    this.rowsLoaded = this.names.map((_, i) => packed?.[i]?.[4] ?? -1);
    for (const [i, e] of Object.entries(carried?.errors ?? {})) this.errors.set(Number(i), e);
    this.unmet = new Array<number>(this.size).fill(0);
    this.replan();
  }

  /** Packs the states for continue-as-new or a result. */
  pack(): PackedStates {
    const errors: Record<number, NodeError> = {};
    for (const [i, e] of this.errors) errors[i] = e;
    return {
      epoch: this.epoch,
      nodes: this.state.map((s, i) => [
        CODE.get(s)!,
        this.attempts[i]!,
        this.startedAt[i]!,
        this.finishedAt[i]!,
        this.rowsLoaded[i]!,
      ]),
      errors,
    };
  }

  /**
   * Re-derives `pending` and `upstream_failed` for nodes that have not run, the unmet-upstream counts and the ready
   * set, in topological order: a node is `upstream_failed` when an upstream failed or is itself blocked.
   */
  replan(): void {
    this.heap = [];
    for (const i of this.order) {
      const s = this.state[i]!;
      let unmet = 0;
      let blocked = false;
      for (const u of this.upstream[i]!) {
        const us = this.state[u]!;
        if (!SATISFIED.has(us)) unmet++;
        if (BLOCKING.has(us)) blocked = true;
      }
      this.unmet[i] = unmet;
      if (s !== 'pending' && s !== 'upstream_failed') continue;
      this.state[i] = blocked ? 'upstream_failed' : 'pending';
      if (!blocked && unmet === 0) this.push(i);
    }
  }

  /** Records a node's end state and updates its downstream: freed when satisfied, blocked when failed. */
  finish(i: number, state: 'succeeded' | 'failed' | 'skipped' | 'cancelled', at: number): void {
    this.state[i] = state;
    this.finishedAt[i] = at - this.epoch;
    if (SATISFIED.has(state)) {
      for (const c of this.children[i]!) {
        if (--this.unmet[c]! === 0 && this.state[c] === 'pending') this.push(c);
      }
      return;
    }
    const stack = [...this.children[i]!];
    while (stack.length > 0) {
      const c = stack.pop()!;
      if (this.state[c] !== 'pending') continue;
      this.state[c] = 'upstream_failed';
      stack.push(...this.children[c]!);
    }
  }

  /** Marks a node started (running, or waiting for upstreams outside the DAG run). */
  begin(i: number, state: 'running' | 'waiting', at: number): void {
    this.state[i] = state;
    if (state === 'running') this.attempts[i]! += 1;
    this.startedAt[i] = at - this.epoch;
    this.finishedAt[i] = -1;
    this.errors.delete(i);
  }

  /** Puts a node that finished waiting back among the ready ones. */
  release(i: number): void {
    this.state[i] = 'pending';
    this.push(i);
  }

  /** Takes the best ready node; -1 when none. Nodes that stopped being pending since they were added are dropped. */
  take(): number {
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      const last = this.heap.pop()!;
      if (this.heap.length > 0) {
        this.heap[0] = last;
        this.siftDown(0);
      }
      if (this.state[top] === 'pending' && this.unmet[top] === 0) return top;
    }
    return -1;
  }

  /** Counts of nodes per state. */
  counts(): Record<NodeState, number> {
    const counts = Object.fromEntries(NODE_STATES.map((s) => [s, 0])) as Record<NodeState, number>;
    for (const s of this.state) counts[s]++;
    return counts;
  }

  /** True while a node is pending or waiting: the DAG run has more to start. */
  hasPending(): boolean {
    return this.state.some((s) => s === 'pending' || s === 'waiting');
  }

  private better(a: number, b: number): boolean {
    const d = this.descendants[a]! - this.descendants[b]!;
    if (d !== 0) return d > 0;
    const na = this.names[a]!;
    const nb = this.names[b]!;
    return na < nb;
  }

  private push(i: number): void {
    const h = this.heap;
    h.push(i);
    let k = h.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (!this.better(h[k]!, h[p]!)) break;
      [h[k], h[p]] = [h[p]!, h[k]!];
      k = p;
    }
  }

  private siftDown(k: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * k + 1;
      const r = l + 1;
      let best = k;
      if (l < h.length && this.better(h[l]!, h[best]!)) best = l;
      if (r < h.length && this.better(h[r]!, h[best]!)) best = r;
      if (best === k) return;
      [h[k], h[best]] = [h[best]!, h[k]!];
      k = best;
    }
  }
}
