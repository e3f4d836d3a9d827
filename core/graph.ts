/**
 * The pipeline graph: an edge A → B when one of A's outputs is one of B's inputs, or B names A in dependsOn.
 * Pure: used by validation, the CLI and (later) the DAG run workflow.
 */

/** What the graph needs to know of a pipeline. */
export interface GraphNode {
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  dependsOn: readonly string[];
}

/** Why an edge exists. */
export interface GraphEdge {
  from: string;
  to: string;
  /** The dataset that links them, or `undefined` for a `dependsOn` edge. */
  dataset?: string;
}

/** The graph of a catalog. */
export interface PipelineGraph {
  nodes: string[];
  edges: GraphEdge[];
  /** Upstreams of each pipeline. */
  upstream: Map<string, Set<string>>;
  /** Downstreams of each pipeline. */
  downstream: Map<string, Set<string>>;
  /** Inputs no pipeline produces, with the pipelines that read them. */
  externalDatasets: Map<string, string[]>;
  /** `dependsOn` entries naming no pipeline. */
  unknownDependencies: { pipeline: string; dependsOn: string }[];
}

/** Builds the graph. Unknown `dependsOn` names are collected, not thrown. */
export function buildGraph(nodes: readonly GraphNode[]): PipelineGraph {
  const names = nodes.map((n) => n.name);
  const known = new Set(names);
  const producers = new Map<string, string[]>();
  for (const n of nodes) {
    for (const out of n.outputs) producers.set(out, [...(producers.get(out) ?? []), n.name]);
  }
  const upstream = new Map<string, Set<string>>(names.map((n) => [n, new Set<string>()]));
  const downstream = new Map<string, Set<string>>(names.map((n) => [n, new Set<string>()]));
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  const addEdge = (from: string, to: string, dataset?: string) => {
    if (from === to) return;
    const key = `${from}\u0000${to}`;
    if (seen.has(key)) return;
    seen.add(key);
    edges.push(dataset === undefined ? { from, to } : { from, to, dataset });
    upstream.get(to)?.add(from);
    downstream.get(from)?.add(to);
  };
  const externalDatasets = new Map<string, string[]>();
  const unknownDependencies: PipelineGraph['unknownDependencies'] = [];
  for (const n of nodes) {
    for (const input of n.inputs) {
      const from = producers.get(input);
      if (!from) externalDatasets.set(input, [...(externalDatasets.get(input) ?? []), n.name]);
      else for (const p of from) addEdge(p, n.name, input);
    }
    for (const dep of n.dependsOn) {
      if (known.has(dep)) addEdge(dep, n.name);
      else unknownDependencies.push({ pipeline: n.name, dependsOn: dep });
    }
  }
  return { nodes: names, edges, upstream, downstream, externalDatasets, unknownDependencies };
}

/**
 * Cycles as paths, names with the first repeated at the end (`['a', 'b', 'c', 'a']`): at least one cycle in each group
 * of pipelines that depend on each other — enough to point at every group to break — each reported once, starting at
 * its alphabetically first member.
 */
export function findCycles(graph: PipelineGraph): string[][] {
  const cycles: string[][] = [];
  const reported = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (start: string) => {
    // Iterative depth-first search: definitions may form very long chains.
    const iters: Iterator<string>[] = [];
    const push = (n: string) => {
      state.set(n, 'open');
      stack.push(n);
      iters.push([...(graph.downstream.get(n) ?? [])].sort()[Symbol.iterator]());
    };
    push(start);
    while (iters.length > 0) {
      const next = iters[iters.length - 1]!.next();
      if (next.done) {
        state.set(stack.pop()!, 'done');
        iters.pop();
        continue;
      }
      const child = next.value;
      const s = state.get(child);
      if (s === 'open') {
        const loop = stack.slice(stack.indexOf(child));
        const first = [...loop].sort()[0]!;
        const rotated = [...loop.slice(loop.indexOf(first)), ...loop.slice(0, loop.indexOf(first))];
        const key = rotated.join('\u0000');
        if (!reported.has(key)) {
          reported.add(key);
          cycles.push([...rotated, first]);
        }
      } else if (s === undefined) {
        push(child);
      }
    }
  };
  for (const n of [...graph.nodes].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

/** Pipelines in an order where every upstream comes first (ties broken by name). Throws on a cycle. */
export function topologicalOrder(graph: PipelineGraph, subset?: Iterable<string>): string[] {
  const members = new Set(subset ?? graph.nodes);
  const indegree = new Map<string, number>();
  for (const n of members) {
    indegree.set(n, [...(graph.upstream.get(n) ?? [])].filter((u) => members.has(u)).length);
  }
  const ready = [...members].filter((n) => indegree.get(n) === 0).sort();
  const order: string[] = [];
  while (ready.length > 0) {
    const n = ready.shift()!;
    order.push(n);
    for (const d of [...(graph.downstream.get(n) ?? [])].sort()) {
      if (!members.has(d)) continue;
      const left = indegree.get(d)! - 1;
      indegree.set(d, left);
      if (left === 0) ready.push(d);
    }
  }
  if (order.length !== members.size) throw new Error('the pipelines form a cycle');
  return order;
}

/** Formats a cycle path for messages: `a → b → c → a`. */
export function formatCycle(cycle: readonly string[]): string {
  return cycle.join(' → ');
}
