import { buildGraph, type PipelineGraph } from '../../core/graph';
import {
  describeSchedule,
  descendantCounts,
  graphLinks,
  toDot,
  toJson,
  toMermaid,
  toText,
  type GraphEntries,
  type GraphEntry,
} from '../../core/graph-format';
import { ScheduleSpec } from '../../core/pipeline-spec';

interface Def {
  name: string;
  inputs?: string[];
  outputs?: string[];
  dependsOn?: string[];
  schedule?: Record<string, unknown>;
  file?: string;
}

/** A graph and its entries, built the way the catalog builds them. */
function graphOf(defs: Def[]): [PipelineGraph, GraphEntries] {
  const entries = new Map<string, GraphEntry & { spec: { name: string } }>();
  for (const d of defs) {
    const spec = {
      name: d.name,
      inputs: d.inputs ?? [],
      outputs: d.outputs ?? [],
      dependsOn: d.dependsOn ?? [],
      ...(d.schedule ? { schedule: ScheduleSpec.parse(d.schedule) } : {}),
    };
    entries.set(d.name, d.file ? { spec, file: d.file } : { spec });
  }
  return [buildGraph([...entries.values()].map((e) => e.spec)), entries];
}

/** raw.orders → orders → {by_day, by_customer} → report, with raw.calendar into by_day: a diamond. */
const diamond: Def[] = [
  { name: 'report', inputs: ['analytics.by_day', 'analytics.by_customer'], outputs: ['files.report'] },
  { name: 'by_customer', inputs: ['staging.orders'], outputs: ['analytics.by_customer'] },
  {
    name: 'orders',
    inputs: ['raw.orders'],
    outputs: ['staging.orders'],
    schedule: { every: '1 day', at: '04:00', timezone: 'Europe/Paris' },
  },
  { name: 'by_day', inputs: ['staging.orders', 'raw.calendar'], outputs: ['analytics.by_day'] },
];

/** One producer, three readers, one of them linked only by dependsOn; names with '-' and datasets with '.'. */
const fanOut: Def[] = [
  { name: 'ingest-orders', inputs: ['raw.orders'], outputs: ['staging.orders'], schedule: { cron: '0 5 * * *' } },
  { name: 'by-day', inputs: ['staging.orders'], outputs: ['analytics.by_day'] },
  { name: 'by_day', inputs: ['staging.orders'] },
  { name: 'audit', dependsOn: ['ingest-orders'] },
];

const MERMAID_ID = /^[A-Za-z0-9_]+$/;
const MERMAID_KEYWORDS = ['end', 'graph', 'flowchart', 'subgraph', 'style', 'class', 'classdef', 'click', 'default'];

/**
 * Reads a flowchart the way Mermaid would for the few statement forms pipectl writes, failing on anything else: node
 * declarations `id["label"]` (box) and `id[("label")]` (cylinder), and links `a --> b`, `a -->|"label"| b`,
 * `a -.->|"label"| b`. Returns links by the nodes' labels, so a test reads names, not IDs.
 */
function readMermaid(text: string) {
  const [header, ...body] = text.trimEnd().split('\n');
  expect(header).toBe('flowchart LR');
  const nodes = new Map<string, { label: string; shape: 'box' | 'cylinder' }>();
  const links: { from: string; to: string; label?: string; dotted: boolean }[] = [];
  for (const line of body) {
    const node = /^ {2}(\S+)\[(\()?"([^"]*)"\)?\]$/.exec(line);
    const link = /^ {2}(\S+) (-->|-\.->)(?:\|"([^"]*)"\|)? (\S+)$/.exec(line);
    if (node) {
      const [, id, paren, label] = node;
      expect(nodes.has(id!)).toBe(false);
      nodes.set(id!, { label: label!.split('<br/>')[0]!, shape: paren ? 'cylinder' : 'box' });
    } else if (link) {
      const [, from, arrow, label, to] = link;
      const name = (id: string) => {
        expect(nodes.has(id)).toBe(true);
        return nodes.get(id)!.label;
      };
      links.push({ from: name(from!), to: name(to!), ...(label ? { label } : {}), dotted: arrow === '-.->' });
    } else {
      throw new Error(`not a statement pipectl writes: ${JSON.stringify(line)}`);
    }
  }
  for (const id of nodes.keys()) {
    expect(id).toMatch(MERMAID_ID);
    expect(MERMAID_KEYWORDS).not.toContain(id.toLowerCase());
  }
  return { nodes: [...nodes.values()], links };
}

/** A DOT double-quoted string's value: the escapes pipectl writes (\", \\, \n) are JSON's too. */
const unquote = (s: string) => JSON.parse(s) as string;
const QUOTED = String.raw`"(?:[^"\\]|\\.)*"`;

/**
 * Reads the DOT pipectl writes, failing on anything else: `digraph pipelines {`, graph/node attribute statements, one
 * node statement per line and one edge statement per line, `}`.
 */
function readDot(text: string) {
  const lines = text.trimEnd().split('\n');
  expect(lines[0]).toBe('digraph pipelines {');
  expect(lines[lines.length - 1]).toBe('}');
  const attrs = (list: string | undefined) =>
    Object.fromEntries(
      [...(list ?? '').matchAll(new RegExp(`(\\w+)=(${QUOTED}|\\w+)`, 'g'))].map(([, k, v]) => [
        k!,
        v!.startsWith('"') ? unquote(v!) : v!,
      ]),
    );
  const nodes = new Map<string, Record<string, string>>();
  const edges: { from: string; to: string; attrs: Record<string, string> }[] = [];
  for (const line of lines.slice(1, -1)) {
    const node = new RegExp(`^  (${QUOTED}) \\[(.*)\\];$`).exec(line);
    const edge = new RegExp(`^  (${QUOTED}) -> (${QUOTED})(?: \\[(.*)\\])?;$`).exec(line);
    if (edge) {
      const [from, to] = [unquote(edge[1]!), unquote(edge[2]!)];
      expect(nodes.has(from) && nodes.has(to)).toBe(true);
      edges.push({ from, to, attrs: attrs(edge[3]) });
    } else if (node) nodes.set(unquote(node[1]!), attrs(node[2]));
    else expect(line).toMatch(/^ {2}(rankdir=LR|node \[shape=box\]);$/);
  }
  return { nodes, edges };
}

describe('describeSchedule', () => {
  it.each([
    [{ every: '1 day' }, 'every 1 day'],
    [{ every: '1 day', at: '04:00', timezone: 'Europe/Paris' }, 'every 1 day at 04:00 Europe/Paris'],
    [{ every: 'daily' }, 'daily'],
    [{ cron: '*/15 * * * *' }, 'cron */15 * * * *'],
    [
      { every: '1 hour', hours: [9, 17], weekdays: [1, 5], months: [12] },
      'every 1 hour; hours 9,17; Mon,Fri; months 12',
    ],
    [{ every: '1 week', at: '2026-01-05T09:00' }, 'every 1 week from 2026-01-05T09:00'],
  ])('describes %j as %s', (schedule, text) => {
    expect(describeSchedule(ScheduleSpec.parse(schedule))).toBe(text);
  });
});

describe('graphLinks and descendantCounts', () => {
  it('names every dataset that links a pair and whether dependsOn does', () => {
    const [graph, entries] = graphOf([
      { name: 'a', outputs: ['t1', 't2', 't3'] },
      { name: 'b', inputs: ['t2', 't1'], dependsOn: ['a'] },
      { name: 'c', dependsOn: ['a'] },
    ]);
    expect(graph.edges).toHaveLength(2);
    expect(graphLinks(graph, entries)).toEqual([
      { from: 'a', to: 'b', datasets: ['t2', 't1'], dependsOn: true },
      { from: 'a', to: 'c', datasets: [], dependsOn: true },
    ]);
  });

  it('counts each pipeline downstream once, however many paths lead to it', () => {
    const [graph] = graphOf([...diamond, { name: 'archive', dependsOn: ['report'] }]);
    expect(Object.fromEntries(descendantCounts(graph))).toEqual({
      orders: 4,
      by_day: 2,
      by_customer: 2,
      report: 1,
      archive: 0,
    });
  });
});

describe('toText', () => {
  it('lists a diamond in dependency order with the datasets that link it, then the external datasets', () => {
    expect(toText(...graphOf(diamond))).toBe(
      [
        'orders (every 1 day at 04:00 Europe/Paris)',
        '  → by_customer  via staging.orders',
        '  → by_day       via staging.orders',
        'by_customer',
        '  → report  via analytics.by_customer',
        'by_day',
        '  → report  via analytics.by_day',
        'report',
        '',
        'external datasets',
        '  raw.orders    → orders',
        '  raw.calendar  → by_day',
        '',
      ].join('\n'),
    );
  });

  it('marks links made by dependsOn alone', () => {
    expect(toText(...graphOf(fanOut))).toBe(
      [
        'ingest-orders (cron 0 5 * * *)',
        '  → audit   (dependsOn)',
        '  → by-day  via staging.orders',
        '  → by_day  via staging.orders',
        'audit',
        'by-day',
        'by_day',
        '',
        'external datasets',
        '  raw.orders  → ingest-orders',
        '',
      ].join('\n'),
    );
  });

  it('lists pipelines without links and leaves out the external section when there is none', () => {
    expect(toText(...graphOf([{ name: 'b' }, { name: 'a', schedule: { every: 'hourly' } }]))).toBe('a (hourly)\nb\n');
  });

  it('still lists a graph with a cycle (never a validated catalog), by name', () => {
    const [graph, entries] = graphOf([
      { name: 'b', inputs: ['x'], outputs: ['y'] },
      { name: 'a', inputs: ['y'], outputs: ['x'] },
    ]);
    expect(toText(graph, entries)).toBe('a\n  → b  via x\nb\n  → a  via y\n');
  });
});

describe('toMermaid', () => {
  it('draws a diamond: boxes with schedules, cylinders for external datasets, links labelled with datasets', () => {
    expect(toMermaid(...graphOf(diamond))).toBe(
      [
        'flowchart LR',
        '  orders["orders<br/>(every 1 day at 04:00 Europe/Paris)"]',
        '  by_customer["by_customer"]',
        '  by_day["by_day"]',
        '  report["report"]',
        '  raw_orders[("raw.orders")]',
        '  raw_calendar[("raw.calendar")]',
        '  raw_orders --> orders',
        '  raw_calendar --> by_day',
        '  orders -->|"staging.orders"| by_customer',
        '  orders -->|"staging.orders"| by_day',
        '  by_customer -->|"analytics.by_customer"| report',
        '  by_day -->|"analytics.by_day"| report',
        '',
      ].join('\n'),
    );
  });

  it("gives names with '-' and '.' safe, distinct IDs and draws dependsOn links dotted", () => {
    const chart = readMermaid(toMermaid(...graphOf(fanOut)));
    expect(chart.nodes).toEqual([
      { label: 'ingest-orders', shape: 'box' },
      { label: 'audit', shape: 'box' },
      { label: 'by-day', shape: 'box' },
      { label: 'by_day', shape: 'box' },
      { label: 'raw.orders', shape: 'cylinder' },
    ]);
    expect(chart.links).toEqual([
      { from: 'raw.orders', to: 'ingest-orders', dotted: false },
      { from: 'ingest-orders', to: 'audit', label: 'dependsOn', dotted: true },
      { from: 'ingest-orders', to: 'by-day', label: 'staging.orders', dotted: false },
      { from: 'ingest-orders', to: 'by_day', label: 'staging.orders', dotted: false },
    ]);
  });

  it('keeps keywords, digits and a pipeline named like a dataset apart', () => {
    const chart = readMermaid(
      toMermaid(
        ...graphOf([
          { name: 'end', inputs: ['end', 's3://bucket/orders.csv'], outputs: ['graph'] },
          { name: 'graph', inputs: ['graph', '1.raw'] },
        ]),
      ),
    );
    expect(chart.nodes.map((n) => n.label)).toEqual(['end', 'graph', 'end', 's3://bucket/orders.csv', '1.raw']);
    expect(chart.links).toEqual([
      { from: 'end', to: 'end', dotted: false },
      { from: 's3://bucket/orders.csv', to: 'end', dotted: false },
      { from: '1.raw', to: 'graph', dotted: false },
      { from: 'end', to: 'graph', label: 'graph', dotted: false },
    ]);
  });
});

describe('toDot', () => {
  it('writes a digraph with one statement per line: quoted names, cylinders for external datasets', () => {
    expect(toDot(...graphOf(fanOut))).toBe(
      [
        'digraph pipelines {',
        '  rankdir=LR;',
        '  node [shape=box];',
        '  "ingest-orders" [label="ingest-orders\\n(cron 0 5 * * *)"];',
        '  "audit" [label="audit"];',
        '  "by-day" [label="by-day"];',
        '  "by_day" [label="by_day"];',
        '  "dataset:raw.orders" [label="raw.orders", shape=cylinder];',
        '  "dataset:raw.orders" -> "ingest-orders";',
        '  "ingest-orders" -> "audit" [label="dependsOn", style=dashed];',
        '  "ingest-orders" -> "by-day" [label="staging.orders"];',
        '  "ingest-orders" -> "by_day" [label="staging.orders"];',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('has one edge line per link and per external reader, each between declared nodes', () => {
    const [graph, entries] = graphOf(diamond);
    const dot = readDot(toDot(graph, entries));
    expect(dot.nodes.get('orders')).toEqual({ label: 'orders\n(every 1 day at 04:00 Europe/Paris)' });
    expect(dot.nodes.get('dataset:raw.calendar')).toEqual({ label: 'raw.calendar', shape: 'cylinder' });
    expect(dot.edges).toHaveLength(graph.edges.length + 2);
    expect(dot.edges).toEqual(
      expect.arrayContaining([
        { from: 'dataset:raw.orders', to: 'orders', attrs: {} },
        { from: 'dataset:raw.calendar', to: 'by_day', attrs: {} },
        { from: 'by_day', to: 'report', attrs: { label: 'analytics.by_day' } },
      ]),
    );
  });

  it('escapes quotes and backslashes, so any name stays one DOT string', () => {
    const dot = readDot(toDot(...graphOf([{ name: 'say "hi"', inputs: ['C:\\data'] }])));
    expect([...dot.nodes.keys()]).toEqual(['say "hi"', 'dataset:C:\\data']);
    expect(dot.edges).toEqual([{ from: 'dataset:C:\\data', to: 'say "hi"', attrs: {} }]);
  });
});

describe('toJson', () => {
  it('lists pipelines in dependency order with links, descendants, schedule and file', () => {
    const defs = diamond.map((d) => ({ ...d, file: `pipelines/${d.name}.ts` }));
    const json = toJson(...graphOf(defs));
    expect(json.pipelines.map((p) => [p.name, p.descendants])).toEqual([
      ['orders', 3],
      ['by_customer', 1],
      ['by_day', 1],
      ['report', 0],
    ]);
    expect(json.pipelines[0]).toEqual({
      name: 'orders',
      file: 'pipelines/orders.ts',
      schedule: { every: '1 day', at: '04:00', timezone: 'Europe/Paris', overlap: 'skip', pauseOnFailure: false },
      inputs: ['raw.orders'],
      outputs: ['staging.orders'],
      dependsOn: [],
      upstream: [],
      downstream: ['by_customer', 'by_day'],
      descendants: 3,
    });
    expect(json.pipelines[3]).not.toHaveProperty('schedule');
    expect(json.pipelines[3]!.upstream).toEqual(['by_customer', 'by_day']);
    expect(json.edges).toEqual([
      { from: 'orders', to: 'by_customer', datasets: ['staging.orders'], dependsOn: false },
      { from: 'orders', to: 'by_day', datasets: ['staging.orders'], dependsOn: false },
      { from: 'by_customer', to: 'report', datasets: ['analytics.by_customer'], dependsOn: false },
      { from: 'by_day', to: 'report', datasets: ['analytics.by_day'], dependsOn: false },
    ]);
    expect(json.externalDatasets).toEqual([
      { dataset: 'raw.orders', readers: ['orders'] },
      { dataset: 'raw.calendar', readers: ['by_day'] },
    ]);
  });

  it('survives a round trip through JSON text unchanged', () => {
    const json = toJson(...graphOf(fanOut));
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    expect(json.pipelines.find((p) => p.name === 'audit')).toMatchObject({ upstream: ['ingest-orders'] });
    expect(json.pipelines.find((p) => p.name === 'ingest-orders')!.descendants).toBe(3);
  });
});
