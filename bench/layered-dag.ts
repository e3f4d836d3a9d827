import { definePipeline, type PipelineDefinition } from '../index';

/** Shape of a generated DAG. */
export interface LayeredDagOptions {
  /** Pipelines in all. */
  nodes: number;
  /** Layers; every node of layer k > 0 depends on nodes of layer k - 1 only. */
  layers: number;
  /** Seed of the pseudo-random edges: the same seed gives the same DAG. */
  seed: number;
}

/** A generated DAG: node names by layer and their upstreams. */
export interface LayeredDag {
  layers: string[][];
  upstream: Map<string, string[]>;
  edges: number;
}

/** mulberry32: a tiny, fast, seedable generator; enough for reproducible benchmark graphs. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Builds `nodes` pipeline names in `layers` layers of (nearly) equal size; each node after the first layer depends on
 * 1–3 distinct nodes of the previous layer, chosen pseudo-randomly from `seed`.
 */
export function layeredDag(options: LayeredDagOptions): LayeredDag {
  const { nodes, layers: layerCount, seed } = options;
  if (layerCount < 1 || nodes < layerCount) throw new Error(`cannot lay ${nodes} nodes out in ${layerCount} layers`);
  const next = random(seed);
  const layerWidth = String(layerCount - 1).length;
  const nodeWidth = String(Math.ceil(nodes / layerCount) - 1).length;
  const layers: string[][] = [];
  const upstream = new Map<string, string[]>();
  let edges = 0;
  for (let k = 0; k < layerCount; k++) {
    const size = Math.floor(nodes / layerCount) + (k < nodes % layerCount ? 1 : 0);
    const names = Array.from(
      { length: size },
      (_, i) => `bench-l${String(k).padStart(layerWidth, '0')}-n${String(i).padStart(nodeWidth, '0')}`,
    );
    const previous = layers[k - 1] ?? [];
    for (const name of names) {
      const want = previous.length === 0 ? 0 : Math.min(previous.length, 1 + Math.floor(next() * 3));
      const picked = new Set<string>();
      while (picked.size < want) picked.add(previous[Math.floor(next() * previous.length)]!);
      upstream.set(name, [...picked].sort());
      edges += picked.size;
    }
    layers.push(names);
  }
  return { layers, upstream, edges };
}

/** How {@link noOpPipelines} runs its pipelines. */
export interface NoOpPipelineOptions {
  /** Run the two steps as local activities, or together as one (the pipelines' `localSteps`); default false. */
  localSteps?: boolean | 'fused';
  /** Run each pipeline inside its group's DAG run rather than as a child workflow (the pipelines' `inline`). */
  inline?: boolean;
}

/**
 * No-op pipeline definitions for a DAG: an extract of no rows and a load of none, so only orchestration is measured;
 * `options` set the pipelines' `localSteps` and `inline`.
 */
export function noOpPipelines(dag: LayeredDag, options: NoOpPipelineOptions = {}): PipelineDefinition[] {
  const { localSteps = false, inline } = options;
  return [...dag.upstream].map(([name, dependsOn]) =>
    definePipeline({ name, dependsOn, localSteps, ...(inline ? { inline } : {}), extract: () => [], load: () => 0 }),
  );
}
