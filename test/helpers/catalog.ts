import { buildGraph } from '../../core/graph';
import { buildGroups } from '../../core/groups';
import { PipelineSpec, type PipelineDefinition } from '../../core/pipeline-spec';
import type { Catalog } from '../../catalog/load';

/** A catalog of in-memory definitions (validated like files are), for tests that define pipelines inline. */
export function catalogOf(defs: PipelineDefinition[]): Catalog {
  const pipelines = new Map<string, { spec: PipelineSpec; file: string }>();
  for (const def of defs) {
    const spec = PipelineSpec.parse({ ...def });
    pipelines.set(spec.name, { spec, file: '<test>' });
  }
  const graph = buildGraph([...pipelines.values()].map((e) => e.spec));
  const { groups, issues } = buildGroups(pipelines, graph);
  if (issues.length > 0) throw new Error(issues.map((i) => `${i.pipeline}: ${i.field}: ${i.message}`).join('\n'));
  return { dir: '<test>', pipelines, graph, groups };
}

/** The validated spec of one in-memory definition. */
export function specOf(def: PipelineDefinition): PipelineSpec {
  return catalogOf([def]).pipelines.values().next().value!.spec;
}
