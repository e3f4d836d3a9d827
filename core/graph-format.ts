/**
 * Renderings of the pipeline graph for `pipectl graph`: a text listing, Mermaid, Graphviz dot and JSON.
 * Pure: no I/O, so it can be tested on in-memory graphs and reused by anything that shows the DAG.
 */
import { countDescendants } from './dag-plan';
import { topologicalOrder, type PipelineGraph } from './graph';
import type { ScheduleSpec } from './pipeline-spec';

/** What the renderings need to know of a pipeline besides the graph; a catalog entry fits as is. */
export interface GraphEntry {
  spec: {
    schedule?: ScheduleSpec | undefined;
    inputs: readonly string[];
    outputs: readonly string[];
    dependsOn: readonly string[];
  };
  /** Definition file, shown in JSON. */
  file?: string;
}

/** The pipelines of a graph by name (a catalog's `pipelines`). */
export type GraphEntries = ReadonlyMap<string, GraphEntry>;

/** The output formats of `pipectl graph`. */
export const GRAPH_FORMATS = ['text', 'mermaid', 'dot', 'json'] as const;
/** One of {@link GRAPH_FORMATS}. */
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** Why B runs after A: every dataset A writes that B reads, and whether B names A in `dependsOn`. */
export interface GraphLink {
  from: string;
  to: string;
  /** Datasets written by `from` and read by `to`, in the order `to` lists its inputs; empty for a `dependsOn` link. */
  datasets: string[];
  /** True when `to` names `from` in `dependsOn`. */
  dependsOn: boolean;
}

/** The shape `pipectl graph --format json` prints. */
export interface GraphJson {
  /** Pipelines in dependency order: every upstream before its downstreams. */
  pipelines: {
    name: string;
    file?: string;
    schedule?: ScheduleSpec;
    inputs: string[];
    outputs: string[];
    dependsOn: string[];
    /** Direct upstreams, sorted. */
    upstream: string[];
    /** Direct downstreams, sorted. */
    downstream: string[];
    /** How many pipelines are downstream of this one, directly or not: the DAG run starts the largest first. */
    descendants: number;
  }[];
  edges: GraphLink[];
  /** Inputs no pipeline produces, with the pipelines that read them. */
  externalDatasets: { dataset: string; readers: string[] }[];
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/**
 * A schedule in a few words: `every 1 day at 04:00 Europe/Paris`, `cron 0 5 * * *`, `hourly; hours 9,10; Mon,Fri`.
 * The time zone is left out when it is UTC, the default.
 */
export function describeSchedule(schedule: ScheduleSpec): string {
  let head = schedule.cron !== undefined ? `cron ${schedule.cron}` : (schedule.every ?? '');
  if (/^\d/.test(head)) head = `every ${head}`;
  if (schedule.at !== undefined) head += /^\d{4}-/.test(schedule.at) ? ` from ${schedule.at}` : ` at ${schedule.at}`;
  if (schedule.timezone && schedule.timezone !== 'UTC') head += ` ${schedule.timezone}`;
  const parts = [head];
  if (schedule.hours?.length) parts.push(`hours ${schedule.hours.join(',')}`);
  if (schedule.weekdays?.length) parts.push(schedule.weekdays.map((d) => WEEKDAYS[d] ?? String(d)).join(','));
  if (schedule.months?.length) parts.push(`months ${schedule.months.join(',')}`);
  return parts.join('; ');
}

/** Pipelines in dependency order; a graph with a cycle (never a validated catalog's) falls back to name order. */
function pipelineOrder(graph: PipelineGraph): string[] {
  try {
    return topologicalOrder(graph);
  } catch {
    return [...graph.nodes].sort();
  }
}

/**
 * Every edge of the graph with all its reasons. The graph keeps one edge per pair of pipelines; two pipelines linked
 * by several datasets (or by a dataset and `dependsOn`) get one link naming them all. Ordered by the upstream's
 * position in dependency order, then the downstream's.
 */
export function graphLinks(graph: PipelineGraph, pipelines: GraphEntries): GraphLink[] {
  const position = new Map(pipelineOrder(graph).map((name, i) => [name, i]));
  const rank = (name: string) => position.get(name) ?? Number.MAX_SAFE_INTEGER;
  return graph.edges
    .map(({ from, to }) => {
      const writes = new Set(pipelines.get(from)?.spec.outputs ?? []);
      const reader = pipelines.get(to)?.spec;
      const datasets = [...new Set((reader?.inputs ?? []).filter((d) => writes.has(d)))];
      return { from, to, datasets, dependsOn: reader?.dependsOn.includes(from) ?? false };
    })
    .sort((a, b) => rank(a.from) - rank(b.from) || rank(a.to) - rank(b.to));
}

/** How many pipelines are downstream of each pipeline, directly or transitively. */
export function descendantCounts(graph: PipelineGraph): Map<string, number> {
  const index = new Map(graph.nodes.map((n, i) => [n, i]));
  const upstream = graph.nodes.map((n) => [...(graph.upstream.get(n) ?? [])].map((u) => index.get(u)!));
  const counts = countDescendants(upstream);
  return new Map(graph.nodes.map((n, i) => [n, counts[i]!]));
}

const externals = (graph: PipelineGraph) =>
  [...graph.externalDatasets.entries()].map(([dataset, readers]) => ({ dataset, readers: [...readers] }));

/** The label of a link: its datasets, or `dependsOn` when only `dependsOn` links the pair. */
const linkLabel = (link: GraphLink) => (link.datasets.length > 0 ? link.datasets.join(', ') : 'dependsOn');

/** The schedule of a pipeline in parentheses, or nothing. */
function scheduleOf(pipelines: GraphEntries, name: string): string | undefined {
  const schedule = pipelines.get(name)?.spec.schedule;
  return schedule ? `(${describeSchedule(schedule)})` : undefined;
}

/**
 * A listing in dependency order: each pipeline with its schedule, then one line per downstream pipeline naming the
 * datasets that link them; external datasets and their readers at the end.
 *
 * ```text
 * orders_daily (every 1 day)
 *   → customer_ltv    via analytics.orders_daily
 *   → revenue_report  via analytics.orders_daily
 * customer_ltv
 *
 * external datasets
 *   raw.orders  → orders_daily
 * ```
 */
export function toText(graph: PipelineGraph, pipelines: GraphEntries): string {
  const links = graphLinks(graph, pipelines);
  const lines: string[] = [];
  for (const name of pipelineOrder(graph)) {
    const schedule = scheduleOf(pipelines, name);
    lines.push(schedule ? `${name} ${schedule}` : name);
    const out = links.filter((l) => l.from === name);
    const width = Math.max(0, ...out.map((l) => l.to.length));
    for (const link of out) {
      const why = link.datasets.length > 0 ? `via ${link.datasets.join(', ')}` : '(dependsOn)';
      lines.push(`  → ${link.to.padEnd(width)}  ${why}`);
    }
  }
  const external = externals(graph);
  if (external.length > 0) {
    const width = Math.max(...external.map((e) => e.dataset.length));
    lines.push('', 'external datasets');
    for (const { dataset, readers } of external) lines.push(`  ${dataset.padEnd(width)}  → ${readers.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

// Words that end or restructure a Mermaid flowchart when used as a node ID.
const MERMAID_KEYWORDS = new Set([
  'end',
  'graph',
  'flowchart',
  'subgraph',
  'direction',
  'style',
  'linkstyle',
  'classdef',
  'class',
  'click',
  'call',
  'href',
  'default',
  'interpolate',
  'acctitle',
  'accdescr',
]);

/**
 * Mermaid node IDs: letters, digits and `_` only, never a keyword, unique. A name that is already such an ID keeps it;
 * others (`ingest-orders`, `raw.orders`) become `ingest_orders`, `raw_orders`, with `_2`, `_3`… on a clash.
 */
function mermaidIds(
  pipelineNames: readonly string[],
  datasets: readonly string[],
): (kind: 'p' | 'd', name: string) => string {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  const safe = (name: string) => /^[A-Za-z0-9_]+$/.test(name) && !MERMAID_KEYWORDS.has(name.toLowerCase());
  const claim = (key: string, wanted: string) => {
    let id = wanted;
    for (let n = 2; used.has(id); n++) id = `${wanted}_${n}`;
    used.add(id);
    ids.set(key, id);
  };
  const all = [...pipelineNames.map((n) => `p:${n}`), ...datasets.map((d) => `d:${d}`)];
  // Names that are already safe first, so `by_day` stays `by_day` even when `by-day` also exists.
  for (const key of all) if (safe(key.slice(2)) && !used.has(key.slice(2))) claim(key, key.slice(2));
  for (const key of all) {
    if (ids.has(key)) continue;
    const base = key.slice(2).replace(/[^A-Za-z0-9_]/g, '_');
    claim(key, safe(base) ? base : `${base}_`);
  }
  return (kind, name) => ids.get(`${kind}:${name}`)!;
}

/** Text inside a quoted Mermaid label: quotes and angle brackets as entity codes, which Mermaid decodes. */
const mermaidText = (text: string) => text.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');

/**
 * A Mermaid flowchart (left to right). Pipelines are boxes, with their schedule on a second line; external datasets
 * are cylinders with an arrow into each reader; an arrow between pipelines is labelled with the datasets that link
 * them, and is dotted and labelled `dependsOn` when only `dependsOn` does.
 */
export function toMermaid(graph: PipelineGraph, pipelines: GraphEntries): string {
  const order = pipelineOrder(graph);
  const external = externals(graph);
  const id = mermaidIds(
    order,
    external.map((e) => e.dataset),
  );
  const lines = ['flowchart LR'];
  for (const name of order) {
    const schedule = scheduleOf(pipelines, name);
    lines.push(`  ${id('p', name)}["${mermaidText(name)}${schedule ? `<br/>${mermaidText(schedule)}` : ''}"]`);
  }
  for (const { dataset } of external) lines.push(`  ${id('d', dataset)}[("${mermaidText(dataset)}")]`);
  for (const { dataset, readers } of external) {
    for (const reader of readers) lines.push(`  ${id('d', dataset)} --> ${id('p', reader)}`);
  }
  for (const link of graphLinks(graph, pipelines)) {
    const arrow = link.datasets.length > 0 ? '-->' : '-.->';
    lines.push(`  ${id('p', link.from)} ${arrow}|"${mermaidText(linkLabel(link))}"| ${id('p', link.to)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A DOT double-quoted string; a line break becomes the two characters `\n`, Graphviz's centred line break. */
const dotString = (text: string) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

/**
 * A Graphviz digraph (left to right; render with `dot -Tsvg`). Node IDs are the quoted pipeline names, and
 * `dataset:<name>` for external datasets, which are cylinders; edges are labelled like {@link toMermaid}'s, and
 * dashed for `dependsOn`.
 */
export function toDot(graph: PipelineGraph, pipelines: GraphEntries): string {
  const order = pipelineOrder(graph);
  const external = externals(graph);
  const datasetId = (dataset: string) => dotString(`dataset:${dataset}`);
  const lines = ['digraph pipelines {', '  rankdir=LR;', '  node [shape=box];'];
  for (const name of order) {
    const schedule = scheduleOf(pipelines, name);
    lines.push(`  ${dotString(name)} [label=${dotString(schedule ? `${name}\n${schedule}` : name)}];`);
  }
  for (const { dataset } of external) {
    lines.push(`  ${datasetId(dataset)} [label=${dotString(dataset)}, shape=cylinder];`);
  }
  for (const { dataset, readers } of external) {
    for (const reader of readers) lines.push(`  ${datasetId(dataset)} -> ${dotString(reader)};`);
  }
  for (const link of graphLinks(graph, pipelines)) {
    const style = link.datasets.length > 0 ? '' : ', style=dashed';
    lines.push(`  ${dotString(link.from)} -> ${dotString(link.to)} [label=${dotString(linkLabel(link))}${style}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** The graph as data: pipelines in dependency order with their links and descendant counts, edges, external datasets. */
export function toJson(graph: PipelineGraph, pipelines: GraphEntries): GraphJson {
  const descendants = descendantCounts(graph);
  return {
    pipelines: pipelineOrder(graph).map((name) => {
      const entry = pipelines.get(name);
      const spec = entry?.spec;
      return {
        name,
        ...(entry?.file !== undefined ? { file: entry.file } : {}),
        ...(spec?.schedule ? { schedule: spec.schedule } : {}),
        inputs: [...(spec?.inputs ?? [])],
        outputs: [...(spec?.outputs ?? [])],
        dependsOn: [...(spec?.dependsOn ?? [])],
        upstream: [...(graph.upstream.get(name) ?? [])].sort(),
        downstream: [...(graph.downstream.get(name) ?? [])].sort(),
        descendants: descendants.get(name) ?? 0,
      };
    }),
    edges: graphLinks(graph, pipelines),
    externalDatasets: externals(graph),
  };
}
