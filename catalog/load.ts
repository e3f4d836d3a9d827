import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { register } from 'tsx/cjs/api';
import { buildGraph, findCycles, formatCycle, type PipelineGraph } from '../core/graph';
import { buildGroups, type PipelineGroup } from '../core/groups';
import { isPipelineDefinition, PipelineSpec } from '../core/pipeline-spec';
import { CatalogError, type DefinitionIssue } from './issues';

/** A validated pipeline and the file it came from. */
export interface CatalogEntry {
  spec: PipelineSpec;
  /** File path relative to the working directory. */
  file: string;
}

/** Every pipeline under a folder, validated, with its graph. */
export interface Catalog {
  /** Absolute folder the definitions were read from. */
  dir: string;
  pipelines: Map<string, CatalogEntry>;
  graph: PipelineGraph;
  /** Schedule groups by name. */
  groups: Map<string, PipelineGroup>;
}

/** The result of reading definitions: the valid ones and every problem found. */
export interface CatalogReport {
  catalog: Catalog;
  issues: DefinitionIssue[];
}

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;
const SKIP = /(\.d\.ts|\.test\.[cm]?[jt]s|\.spec\.[cm]?[jt]s)$/;

let tsxRegistered = false;

function definitionFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.') || name.startsWith('_') || name === 'node_modules') continue;
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (SOURCE.test(name) && !SKIP.test(name)) out.push(full);
    }
  };
  walk(dir);
  return out;
}

/** Loads a TypeScript or JavaScript module of the user's, compiling TypeScript on the fly. */
export function loadModule(file: string): Record<string, unknown> {
  // TypeScript definitions are compiled on the fly by tsx's require hook. Where a host already compiles TypeScript
  // (jest), its own require handles the file and the hook stays unused.
  if (!tsxRegistered) {
    register();
    tsxRegistered = true;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as Record<string, unknown>;
}

function pathOf(path: readonly PropertyKey[]): string | undefined {
  return path.length === 0 ? undefined : path.map(String).join('.');
}

/**
 * Reads and validates every definition under `dir`. Files starting with `_` or `.` and test files are skipped, so
 * shared helpers can live beside the definitions. Never throws for a user's mistake: problems come back as issues.
 */
export function readCatalog(dir: string): CatalogReport {
  const root = resolve(dir);
  const issues: DefinitionIssue[] = [];
  const pipelines = new Map<string, CatalogEntry>();
  const invalid = new Set<string>();
  let files: string[] = [];
  try {
    files = definitionFiles(root);
  } catch (err) {
    issues.push({
      file: relative(process.cwd(), root) || '.',
      message: `cannot read the pipelines folder: ${(err as Error).message}`,
    });
  }
  for (const full of files) {
    const file = relative(process.cwd(), full);
    let mod: Record<string, unknown>;
    try {
      mod = loadModule(full);
    } catch (err) {
      issues.push({ file, message: `cannot load the file: ${loadErrorMessage(err, file)}` });
      continue;
    }
    const exported = new Set<unknown>();
    for (const value of Object.values(mod)) {
      for (const v of Array.isArray(value) ? value : [value]) if (isPipelineDefinition(v)) exported.add(v);
    }
    for (const def of exported) {
      const raw = def as Record<string, unknown>;
      const label = typeof raw.name === 'string' && raw.name !== '' ? raw.name : undefined;
      const parsed = PipelineSpec.safeParse({ ...raw });
      if (!parsed.success) {
        if (label) invalid.add(label);
        for (const issue of parsed.error.issues) {
          const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys : undefined;
          // An unknown field is reported at the field itself, so the message reads like any other.
          const field = pathOf(unknownKeys?.length === 1 ? [...issue.path, unknownKeys[0]!] : issue.path);
          issues.push({
            file,
            ...(label ? { pipeline: label } : {}),
            ...(field ? { field } : {}),
            message: unknownKeys
              ? `unknown field${unknownKeys.length > 1 ? `s ${unknownKeys.join(', ')}` : ''}`
              : issue.message,
          });
        }
        continue;
      }
      const spec = parsed.data;
      const previous = pipelines.get(spec.name);
      if (previous) {
        issues.push({
          file,
          pipeline: spec.name,
          field: 'name',
          message: `duplicate name: '${spec.name}' is also defined in ${previous.file}`,
        });
        continue;
      }
      if (spec.dependsOn.includes(spec.name)) {
        issues.push({ file, pipeline: spec.name, field: 'dependsOn', message: 'a pipeline cannot depend on itself' });
      }
      pipelines.set(spec.name, { spec, file });
    }
  }
  const graph = buildGraph([...pipelines.values()].map((e) => e.spec));
  for (const { pipeline, dependsOn } of graph.unknownDependencies) {
    // An upstream whose own definition is invalid is already reported; naming it unknown would hide the cause.
    if (invalid.has(dependsOn)) continue;
    issues.push({
      file: pipelines.get(pipeline)!.file,
      pipeline,
      field: 'dependsOn',
      message: `unknown pipeline '${dependsOn}': no definition has that name`,
    });
  }
  for (const cycle of findCycles(graph)) {
    const first = cycle[0]!;
    const into = graph.edges.find((e) => e.from === cycle[cycle.length - 2] && e.to === first);
    issues.push({
      file: pipelines.get(first)!.file,
      pipeline: first,
      field: into?.dataset !== undefined ? 'inputs' : 'dependsOn',
      message: `cycle: ${formatCycle(cycle)}${into?.dataset !== undefined ? ` (through dataset ${into.dataset})` : ''}`,
    });
  }
  const { groups, issues: groupIssues } = buildGroups(pipelines, graph);
  for (const issue of groupIssues) issues.push({ file: pipelines.get(issue.pipeline)!.file, ...issue });
  return { catalog: { dir: root, pipelines, graph, groups }, issues };
}

/** What went wrong loading a file, with the position of a syntax error when the compiler gives one. */
function loadErrorMessage(err: unknown, file: string): string {
  const located = (err as { errors?: { text?: string; location?: { line?: number; column?: number } | null }[] })
    .errors?.[0];
  if (located?.text) {
    const at = located.location ? `${file}:${located.location.line}:${located.location.column}: ` : '';
    return `${at}${located.text}`;
  }
  const lines = (err instanceof Error ? err.message : String(err)).split('\n').map((l) => l.trim());
  return lines.find((l) => l !== '' && !/^Transform failed with \d+ error/.test(l)) ?? 'unknown error';
}

/** Reads the catalog and throws a `CatalogError` listing every problem if any definition is invalid. */
export function loadCatalog(dir: string): Catalog {
  const { catalog, issues } = readCatalog(dir);
  if (issues.length > 0) throw new CatalogError(issues);
  return catalog;
}
