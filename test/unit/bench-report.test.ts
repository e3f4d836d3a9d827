import { judgeGoals, markdownReport, overheadPlot } from '../../bench/report';
import type { ScenarioResult, SystemResult } from '../../bench/scenario';

const at = '2026-11-21T00:00:00.000Z';
const sys = (system: SystemResult['system'], figures: Record<string, number>, setup?: string): SystemResult => ({
  system,
  ok: true,
  figures,
  ...(setup ? { setup } : {}),
});
const chain = (nodes: number, results: SystemResult[], shape?: 'inline'): ScenarioResult => ({
  scenario: 'chain',
  ...(shape ? { shape } : {}),
  size: { nodes },
  startedAt: at,
  results,
});
const airflow100 = sys('airflow', { wallMs: 150_000, perNodeMs: 1500 });

const scenarios: ScenarioResult[] = [
  chain(10, [sys('pipectl', { wallMs: 1000, perNodeMs: 100 }), sys('temporal', { wallMs: 900, perNodeMs: 90 })]),
  chain(100, [
    sys('pipectl', { wallMs: 12_000, perNodeMs: 120 }),
    sys('temporal', { wallMs: 10_000, perNodeMs: 100 }),
    airflow100,
    sys('dagster', { wallMs: 480_000, perNodeMs: 4800 }, 'multiprocess'),
    sys('dagster', { wallMs: 10_000, perNodeMs: 100 }, 'in_process'),
  ]),
  // The same chain with every pipeline inside the DAG run, against raw Temporal in that shape; the peer's run is shared.
  chain(
    100,
    [sys('pipectl', { wallMs: 1_500, perNodeMs: 15 }), sys('temporal', { wallMs: 1_000, perNodeMs: 10 }), airflow100],
    'inline',
  ),
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
  expect(goals['chain: ≥ 20× faster than airflow (child workflows)']).toMatchObject({ status: 'not met' });
  expect(goals['chain: ≥ 20× faster than airflow (child workflows)']?.figure).toMatch(/^12\.5×/);
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
  // Goals on scenarios that run no DAG carry no shape.
  expect(goals['latency: p50 ≤ 50 ms']).toMatchObject({ status: 'not run' });
});

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
  expect(md).toMatch(/\| airflow \| {2}\| 150\.0 s \| 1500 ms \| 0\.08× \|/);
  expect(md).toContain('| pipectl |  | failed: timed out |');
  expect(md).toContain('![per-node overhead](overhead.svg)');
});

test('the plot draws one line per system over the chain sizes, and one per way a system ran in several', () => {
  const svg = overheadPlot(scenarios) ?? '';
  expect(svg.startsWith('<svg')).toBe(true);
  // pipectl and raw Temporal once per shape; airflow, shown with both shapes, once.
  expect(svg.match(/<polyline/g)).toHaveLength(7);
  for (const name of [
    'pipectl',
    'temporal',
    'pipectl (inline)',
    'temporal (inline)',
    'airflow',
    'dagster (multiprocess)',
    'dagster (in_process)',
  ]) {
    expect(svg).toContain(`>${name}</text>`);
  }
  // The second line of pipectl, raw Temporal and dagster is dashed, and so is its legend.
  expect(svg.match(/stroke-dasharray/g)).toHaveLength(6);
  expect(overheadPlot([])).toBeUndefined();
});
