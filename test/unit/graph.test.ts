import { buildGraph, findCycles, formatCycle, topologicalOrder, type GraphNode } from '../../core/graph';

const node = (name: string, links: Partial<Omit<GraphNode, 'name'>> = {}): GraphNode => ({
  name,
  inputs: links.inputs ?? [],
  outputs: links.outputs ?? [],
  dependsOn: links.dependsOn ?? [],
});
const sorted = (set: Set<string> | undefined) => [...(set ?? [])].sort();

/** raw.orders → orders → {by_day, by_customer} → report: a diamond. */
const diamond = [
  node('report', { inputs: ['analytics.by_day', 'analytics.by_customer'], outputs: ['files.report'] }),
  node('by_customer', { inputs: ['staging.orders'], outputs: ['analytics.by_customer'] }),
  node('orders', { inputs: ['raw.orders'], outputs: ['staging.orders'] }),
  node('by_day', { inputs: ['staging.orders', 'raw.calendar'], outputs: ['analytics.by_day'] }),
];

describe('buildGraph', () => {
  it('links a producer to each reader of its output, naming the dataset', () => {
    const g = buildGraph(diamond);
    expect(g.nodes).toEqual(['report', 'by_customer', 'orders', 'by_day']);
    expect(g.edges).toEqual(
      expect.arrayContaining([
        { from: 'orders', to: 'by_customer', dataset: 'staging.orders' },
        { from: 'orders', to: 'by_day', dataset: 'staging.orders' },
        { from: 'by_day', to: 'report', dataset: 'analytics.by_day' },
        { from: 'by_customer', to: 'report', dataset: 'analytics.by_customer' },
      ]),
    );
    expect(g.edges).toHaveLength(4);
    expect(sorted(g.upstream.get('report'))).toEqual(['by_customer', 'by_day']);
    expect(sorted(g.downstream.get('orders'))).toEqual(['by_customer', 'by_day']);
    expect(sorted(g.upstream.get('orders'))).toEqual([]);
    expect(sorted(g.downstream.get('report'))).toEqual([]);
  });

  it('lists inputs no pipeline produces as external datasets, with their readers', () => {
    const g = buildGraph([...diamond, node('audit', { inputs: ['raw.orders'] })]);
    expect(Object.fromEntries(g.externalDatasets)).toEqual({
      'raw.orders': ['orders', 'audit'],
      'raw.calendar': ['by_day'],
    });
  });

  it('adds an edge without a dataset for dependsOn', () => {
    const g = buildGraph([node('a'), node('b', { dependsOn: ['a'] })]);
    expect(g.edges).toEqual([{ from: 'a', to: 'b' }]);
    expect(g.edges[0]).not.toHaveProperty('dataset');
    expect(sorted(g.upstream.get('b'))).toEqual(['a']);
  });

  it('keeps one edge when two datasets, or a dataset and dependsOn, link the same pair', () => {
    const g = buildGraph([node('a', { outputs: ['t1', 't2'] }), node('b', { inputs: ['t1', 't2'], dependsOn: ['a'] })]);
    expect(g.edges).toEqual([{ from: 'a', to: 'b', dataset: 't1' }]);
  });

  it('links every producer when two pipelines write the same dataset', () => {
    const g = buildGraph([node('a', { outputs: ['t'] }), node('b', { outputs: ['t'] }), node('c', { inputs: ['t'] })]);
    expect(sorted(g.upstream.get('c'))).toEqual(['a', 'b']);
  });

  it('collects dependsOn names that match no pipeline instead of throwing', () => {
    const g = buildGraph([node('a', { dependsOn: ['ghost'] }), node('b', { dependsOn: ['a', 'phantom'] })]);
    expect(g.unknownDependencies).toEqual([
      { pipeline: 'a', dependsOn: 'ghost' },
      { pipeline: 'b', dependsOn: 'phantom' },
    ]);
    expect(g.edges).toEqual([{ from: 'a', to: 'b' }]);
  });

  it('does not link a pipeline to itself when it reads what it writes', () => {
    const g = buildGraph([node('incremental', { inputs: ['t'], outputs: ['t'] })]);
    expect(g.edges).toEqual([]);
    expect(g.externalDatasets.size).toBe(0);
  });

  it('is empty for no pipelines', () => {
    const g = buildGraph([]);
    expect(g).toMatchObject({ nodes: [], edges: [], unknownDependencies: [] });
    expect(g.externalDatasets.size).toBe(0);
  });
});

describe('findCycles', () => {
  it('finds none in a diamond', () => {
    expect(findCycles(buildGraph(diamond))).toEqual([]);
  });

  it('reports a dependsOn cycle once, from its alphabetically first member', () => {
    const g = buildGraph([
      node('c', { dependsOn: ['b'] }),
      node('b', { dependsOn: ['a'] }),
      node('a', { dependsOn: ['c'] }),
    ]);
    expect(findCycles(g)).toEqual([['a', 'b', 'c', 'a']]);
  });

  it('reports a cycle through datasets', () => {
    const g = buildGraph([
      node('b', { inputs: ['t_a'], outputs: ['t_b'] }),
      node('c', { inputs: ['t_b'], outputs: ['t_c'] }),
      node('a', { inputs: ['t_c'], outputs: ['t_a'] }),
    ]);
    expect(findCycles(g)).toEqual([['a', 'b', 'c', 'a']]);
  });

  it('starts at the first member even when the search enters the cycle elsewhere', () => {
    // The search starts at 'a', which is upstream of the cycle b → d → c → b.
    const g = buildGraph([
      node('a'),
      node('d', { dependsOn: ['a', 'b'] }),
      node('c', { dependsOn: ['d'] }),
      node('b', { dependsOn: ['c'] }),
    ]);
    expect(findCycles(g)).toEqual([['b', 'd', 'c', 'b']]);
  });

  it('reports separate cycles separately, and a two-pipeline cycle', () => {
    const g = buildGraph([
      node('a', { dependsOn: ['c'] }),
      node('b', { dependsOn: ['a'] }),
      node('c', { dependsOn: ['b'] }),
      node('x', { dependsOn: ['y'] }),
      node('y', { dependsOn: ['x'] }),
      node('z', { dependsOn: ['a'] }),
    ]);
    expect(findCycles(g)).toEqual([
      ['a', 'b', 'c', 'a'],
      ['x', 'y', 'x'],
    ]);
  });

  it('reports two cycles that share a pipeline', () => {
    // a ⇄ b and b → c → a.
    const g = buildGraph([
      node('a', { dependsOn: ['b', 'c'] }),
      node('b', { dependsOn: ['a'] }),
      node('c', { dependsOn: ['b'] }),
    ]);
    expect(findCycles(g)).toEqual([
      ['a', 'b', 'a'],
      ['a', 'b', 'c', 'a'],
    ]);
  });

  it('does not count a pipeline that reads what it writes as a cycle', () => {
    expect(findCycles(buildGraph([node('a', { inputs: ['t'], outputs: ['t'] })]))).toEqual([]);
  });

  it('reports a cycle for a group where two cycles meet in one pipeline', () => {
    // a → b → d → a and a → c → d → a: one group of pipelines that depend on each other.
    const g = buildGraph([
      node('a', { dependsOn: ['d'] }),
      node('b', { dependsOn: ['a'] }),
      node('c', { dependsOn: ['a'] }),
      node('d', { dependsOn: ['b', 'c'] }),
    ]);
    const cycles = findCycles(g);
    expect(cycles.length).toBeGreaterThanOrEqual(1);
    expect([
      ['a', 'b', 'd', 'a'],
      ['a', 'c', 'd', 'a'],
    ]).toContainEqual(cycles[0]);
  });

  it('survives a very long chain closing into a cycle', () => {
    const n = 20_000;
    const nodes = Array.from({ length: n }, (_, i) =>
      node(`p${String(i).padStart(5, '0')}`, { dependsOn: [`p${String((i + n - 1) % n).padStart(5, '0')}`] }),
    );
    const cycles = findCycles(buildGraph(nodes));
    expect(cycles).toHaveLength(1);
    expect(cycles[0]).toHaveLength(n + 1);
    expect(cycles[0]![0]).toBe('p00000');
    expect(cycles[0]![n]).toBe('p00000');
  });
});

describe('topologicalOrder', () => {
  it('puts every upstream first, breaking ties by name', () => {
    expect(topologicalOrder(buildGraph(diamond))).toEqual(['orders', 'by_customer', 'by_day', 'report']);
  });

  it('orders dependsOn edges and unrelated pipelines too', () => {
    const g = buildGraph([
      node('z_last', { dependsOn: ['m_mid'] }),
      node('m_mid', { dependsOn: ['y_first'] }),
      node('y_first'),
      node('b_alone'),
    ]);
    expect(topologicalOrder(g)).toEqual(['b_alone', 'y_first', 'm_mid', 'z_last']);
  });

  it('orders a subset, ignoring edges from outside it', () => {
    const g = buildGraph(diamond);
    expect(topologicalOrder(g, ['report', 'by_day'])).toEqual(['by_day', 'report']);
    expect(topologicalOrder(g, ['report'])).toEqual(['report']);
  });

  it('throws on a cycle, but orders a subset outside it', () => {
    const g = buildGraph([node('a', { dependsOn: ['b'] }), node('b', { dependsOn: ['a'] }), node('c')]);
    expect(() => topologicalOrder(g)).toThrow('the pipelines form a cycle');
    expect(topologicalOrder(g, ['c'])).toEqual(['c']);
  });
});

describe('formatCycle', () => {
  it('joins the path with arrows', () => {
    expect(formatCycle(['a', 'b', 'c', 'a'])).toBe('a → b → c → a');
  });
});
