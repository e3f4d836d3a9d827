import { judgeGoals, markdownReport, overheadPlot } from '../../bench/report';
import type { DagShape, ScenarioResult, SystemResult } from '../../bench/scenario';

const at = '2026-11-21T00:00:00.000Z';
const sys = (system: SystemResult['system'], figures: Record<string, number>, setup?: string): SystemResult => ({
  system,
  ok: true,
  figures,
  ...(setup ? { setup } : {}),
});
const chain = (nodes: number, results: SystemResult[], shape?: DagShape): ScenarioResult => ({
  scenario: 'chain',
  ...(shape ? { shape } : {}),
  size: { nodes },
  startedAt: at,
  results,
});
const airflow100 = sys('airflow', { wallMs: 150_000, perNodeMs: 1500 });
// Prefect's flow returns (wallMs) before the server has recorded its task runs (recordedMs).
const prefect100 = sys('prefect', { wallMs: 2_135, perNodeMs: 21.35, recordedMs: 4_388 });
/** A chain of 100 inside the DAG run, pipectl's and raw Temporal's ms per node; the peers' runs are shared. */
const inline100 = (shape: DagShape, pipectl: number, temporal: number) =>
  chain(
    100,
    [
      sys('pipectl', { wallMs: pipectl * 100, perNodeMs: pipectl }),
      sys('temporal', { wallMs: temporal * 100, perNodeMs: temporal }),
      airflow100,
      prefect100,
    ],
    shape,
  );

const scenarios: ScenarioResult[] = [
  chain(10, [sys('pipectl', { wallMs: 1000, perNodeMs: 100 }), sys('temporal', { wallMs: 900, perNodeMs: 90 })]),
  chain(100, [
    sys('pipectl', { wallMs: 12_000, perNodeMs: 120 }),
    sys('temporal', { wallMs: 10_000, perNodeMs: 100 }),
    airflow100,
    sys('dagster', { wallMs: 480_000, perNodeMs: 4800 }, 'multiprocess'),
    sys('dagster', { wallMs: 10_000, perNodeMs: 100 }, 'in_process'),
  ]),
  // The same chain with every pipeline inside the DAG run, against raw Temporal in that shape; then with fused steps.
  inline100('inline', 15, 10),
  inline100('fused', 12, 10),
  { scenario: 'sync', size: { pipelines: 50 }, startedAt: at, results: [sys('pipectl', { noopSyncMs: 900 })] },
  {
    scenario: 'etl',
    size: { rows: 1_000_000 },
    startedAt: at,
    results: [sys('pipectl', { rowsPerSec: 40_000 }), sys('temporal', { rowsPerSec: 72_000 })],
  },
  {
    scenario: 'fanout',
    size: { width: 1000 },
    startedAt: at,
    results: [{ system: 'pipectl', ok: false, error: 'timed out', figures: {} }],
  },
];

test('goals are judged on the largest run of their scenario, at the size they are set for', () => {
  const goals = Object.fromEntries(judgeGoals(scenarios).map((g) => [g.text, g]));
  // 120 / 100 ms per node at 100 nodes, not the 10-node run.
  expect(goals['chain: per-node overhead ≤ 1.3× raw Temporal (child workflows)']).toMatchObject({
    status: 'met',
    figure: '1.20× (120 ms vs 100 ms per node)',
  });
  // A peer without recordedMs is judged on its wallMs: 150 s / 12 s.
  expect(goals['chain: ≥ 20× faster than airflow (child workflows)']).toMatchObject({
    status: 'not met',
    figure: '12.5× (150.0 s vs 12.0 s)',
  });
  // A peer run in several ways is judged at its fastest.
  expect(goals['chain: ≥ 3× faster than dagster (child workflows)']).toMatchObject({ status: 'not met' });
  expect(goals['chain: ≥ 3× faster than dagster (child workflows)']?.figure).toMatch(/^0\.83×/);
  expect(goals['chain: ≥ 3× faster than prefect (child workflows)']).toMatchObject({ status: 'not run' });
  // A sync of 50 pipelines says nothing about 1,000.
  expect(goals['sync: no-op re-sync of 1,000 pipelines ≤ 5 s']).toMatchObject({ status: 'too small' });
  expect(goals["ETL: ≥ 50% of the COPY script's rows/s"]).toMatchObject({ status: 'met' });
  expect(goals['fan-out: makespan ≤ 10 s (child workflows)']).toMatchObject({ status: 'not run' });
});

test('goals on DAG scenarios are judged for each shape apart, a ratio to raw Temporal against the same shape', () => {
  const goals = Object.fromEntries(judgeGoals(scenarios).map((g) => [g.text, g]));
  // 15 / 10 ms per node inline: pipectl inline against raw Temporal inline, not against the child-workflow runs.
  expect(goals['chain: per-node overhead ≤ 1.3× raw Temporal (inline pipelines)']).toMatchObject({
    status: 'not met',
    figure: '1.50× (15 ms vs 10 ms per node)',
  });
  // The peer's one run, against pipectl inline: 150 s / 1.5 s.
  expect(goals['chain: ≥ 20× faster than airflow (inline pipelines)']).toMatchObject({ status: 'met' });
  expect(goals['chain: ≥ 20× faster than airflow (inline pipelines)']?.figure).toMatch(/^100\.0×/);
  expect(goals['chain: ≥ 3× faster than dagster (inline pipelines)']).toMatchObject({ status: 'not run' });
  expect(goals['fan-out: makespan ≤ 10 s (inline pipelines)']).toMatchObject({ status: 'not run' });
  // 12 / 10 ms per node fused: against raw Temporal fused, not inline (1.50×) or child workflows.
  expect(goals['chain: per-node overhead ≤ 1.3× raw Temporal (inline pipelines, fused steps)']).toMatchObject({
    status: 'met',
    figure: '1.20× (12 ms vs 10 ms per node)',
  });
  expect(goals['chain: ≥ 20× faster than airflow (inline pipelines, fused steps)']?.figure).toMatch(/^125\.0×/);
  // Goals on scenarios that run no DAG carry no shape.
  expect(goals['latency: p50 ≤ 50 ms']).toMatchObject({ status: 'not run' });
});

test('every goal on a DAG scenario is judged once per shape, in the order children, inline, fused', () => {
  const shaped = judgeGoals(scenarios).filter((g) => g.text.startsWith('chain: per-node overhead'));
  expect(shaped.map((g) => [g.shape, g.text])).toEqual([
    ['children', 'chain: per-node overhead ≤ 1.3× raw Temporal (child workflows)'],
    ['inline', 'chain: per-node overhead ≤ 1.3× raw Temporal (inline pipelines)'],
    ['fused', 'chain: per-node overhead ≤ 1.3× raw Temporal (inline pipelines, fused steps)'],
  ]);
  for (const scenario of ['fanout', 'large-dag']) {
    const shapes = judgeGoals(scenarios).filter((g) => g.scenario === scenario && g.shape);
    expect(new Set(shapes.map((g) => g.shape))).toEqual(new Set(['children', 'inline', 'fused']));
  }
});

// Prefect's 4388 ms until recorded against pipectl's 1200 ms (fused) meets 3×, though the 2135 ms until its flow
// returned would not (1.78×); against 1500 ms (inline) it does not.
test.each([
  [
    'inline pipelines, fused steps',
    'met',
    '3.66× (4388 ms until recorded vs 1200 ms; 1.78× on the 2135 ms until the flow returned)',
  ],
  [
    'inline pipelines',
    'not met',
    '2.93× (4388 ms until recorded vs 1500 ms; 1.42× on the 2135 ms until the flow returned)',
  ],
])(
  'the goal against Prefect (%s) is judged on the time until its server recorded every task run',
  (shape, status, figure) => {
    const goal = judgeGoals(scenarios).find((g) => g.text === `chain: ≥ 3× faster than prefect (${shape})`);
    expect(goal).toMatchObject({ status, figure });
  },
);

test('the markdown report lists the goals and each scenario with pipectl’s ratio to every other system', () => {
  const md = markdownReport(
    { startedAt: at, finishedAt: at, commit: 'abc', dirty: [], machine: '2 cores', command: 'npm run bench' },
    scenarios,
    'overhead.svg',
  );
  expect(md).toContain(
    '| chain: per-node overhead ≤ 1.3× raw Temporal (child workflows) | met | 1.20× (120 ms vs 100 ms per node) |',
  );
  expect(md).toContain('### chain (nodes 100)\n');
  expect(md).toContain('### chain (nodes 100, inline)\n');
  expect(md).toContain('### chain (nodes 100, fused)\n');
  expect(md).toContain(
    '| chain: ≥ 3× faster than prefect (inline pipelines, fused steps) | met | 3.66× (4388 ms until',
  );
  // The text says which of Prefect's figures its goal uses.
  expect(md).toMatch(/Prefect's flow returns before[^\n]*judged on `recordedMs`/);
  expect(md).toMatch(/\| airflow \| {2}\| 150\.0 s \| 1500 ms \| 0\.08× \|/);
  expect(md).toContain('| pipectl |  | failed: timed out |');
  expect(md).toContain('![per-node overhead](overhead.svg)');
});

test('the plot draws one line per system over the chain sizes, and one per way a system ran in several', () => {
  const svg = overheadPlot(scenarios) ?? '';
  expect(svg.startsWith('<svg')).toBe(true);
  // pipectl and raw Temporal once per shape; airflow and prefect, shown with several shapes, once.
  expect(svg.match(/<polyline/g)).toHaveLength(10);
  // The legend's line style of each line: pipectl's and raw Temporal's by shape, dagster's by the order it came.
  const styleOf = (name: string) => {
    const legend = new RegExp(
      `<line [^>]*?(?: stroke-dasharray="([^"]*)")?/>\n<text [^>]*>${name.replace(/[()]/g, '\\$&')}</text>`,
    );
    const found = legend.exec(svg);
    return found ? (found[1] ?? 'solid') : undefined;
  };
  expect(
    Object.fromEntries(
      [
        'pipectl',
        'temporal',
        'pipectl (inline)',
        'temporal (inline)',
        'pipectl (fused)',
        'temporal (fused)',
        'airflow',
        'prefect',
        'dagster (multiprocess)',
        'dagster (in_process)',
      ].map((name) => [name, styleOf(name)]),
    ),
  ).toEqual({
    pipectl: 'solid',
    temporal: 'solid',
    'pipectl (inline)': '6 4',
    'temporal (inline)': '6 4',
    'pipectl (fused)': '2 3',
    'temporal (fused)': '2 3',
    airflow: 'solid',
    prefect: 'solid',
    'dagster (multiprocess)': 'solid',
    'dagster (in_process)': '6 4',
  });
  // Each line is drawn in its legend's style.
  expect(svg.match(/stroke-dasharray/g)).toHaveLength(10);
  expect(overheadPlot([])).toBeUndefined();
});
