import { buildGraph } from '../../core/graph';
import { PipelineSpec, type PipelineDefinition } from '../../core/pipeline-spec';
import type { Catalog } from '../../catalog/load';

/** A catalog of in-memory definitions (validated like files are), for tests that define pipelines inline. */
export function catalogOf(defs: PipelineDefinition[]): Catalog {
  const pipelines = new Map<string, { spec: PipelineSpec; file: string }>();
  for (const def of defs) {
    const spec = PipelineSpec.parse({ ...def });
    pipelines.set(spec.name, { spec, file: '<test>' });
  }
  return { dir: '<test>', pipelines, graph: buildGraph([...pipelines.values()].map((e) => e.spec)) };
}
