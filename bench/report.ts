/**
 * The benchmark report: pipectl's goals judged against the figures, the figures of every system side by side with
 * pipectl's ratio to each, and a plot of per-node overhead against DAG size. The goals on DAG scenarios are judged for
 * each shape of DAG run apart (child workflows, inline pipelines, inline pipelines with fused steps), each against the
 * runs of that shape.
 */
import type { DagShape, ScenarioName, ScenarioResult, System, SystemResult } from './scenario';

/** A goal of issue 6, judged on one scenario's results. */
export interface Goal {
  scenario: ScenarioName;
  /** The shape of DAG run the goal is judged on; `children` when absent. */
  shape?: DagShape;
  /** The size the goal is set at: a smaller run is reported, never judged. */
  size?: number;
  /** The goal in words. */
  text: string;
  /** The figure it is judged on and whether it is met; undefined when the scenario did not run or failed. */
  judge(s: ScenarioResult): { figure: string; met: boolean } | undefined;
}

/** How a goal came out. */
export interface GoalOutcome {
  scenario: ScenarioName;
  shape?: DagShape;
  text: string;
  status: 'met' | 'not met' | 'not run' | 'too small';
  figure?: string;
}

const ms = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(v < 10 ? 2 : 0)} ms`);
const times = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)}×`;

/**
 * The figures of `system` in `s`, when it ran and succeeded; of its fastest variant when it ran in several (a peer's
 * executors), so a goal against a peer is judged against the peer at its best.
 */
export function figuresOf(s: ScenarioResult, system: System): Record<string, number> | undefined {
  const runs = s.results.filter((x) => x.system === system && x.ok);
  return runs.sort((a, b) => (a.figures.wallMs ?? Infinity) - (b.figures.wallMs ?? Infinity))[0]?.figures;
}

/** A goal on one of pipectl's figures against a bound. */
function bound(
  scenario: ScenarioName,
  size: number | undefined,
  text: string,
  figure: string,
  op: '<=' | '>=',
  limit: number,
  show = ms,
): Goal {
  return {
    scenario,
    ...(size ? { size } : {}),
    text,
    judge(s) {
      const v = figuresOf(s, 'pipectl')?.[figure];
      if (v === undefined) return undefined;
      return { figure: show(v), met: op === '<=' ? v <= limit : v >= limit };
    },
  };
}

/**
 * A goal on the ratio of a peer's chain time to pipectl's. pipectl's wall time ends when Temporal's history records
 * every node done, so a peer's is taken to the same point: its `recordedMs` when it reports one (Prefect, whose flow
 * returns before its task-run states reach the server), else its `wallMs`; the figure then shows both ratios.
 */
function fasterThan(peer: System, factor: number): Goal {
  return {
    scenario: 'chain',
    size: 100,
    text: `chain: ≥ ${factor}× faster than ${peer}`,
    judge(s) {
      const p = figuresOf(s, 'pipectl')?.wallMs;
      const o = figuresOf(s, peer);
      if (p === undefined || o?.wallMs === undefined) return undefined;
      const recorded = o.recordedMs;
      if (recorded === undefined)
        return { figure: `${times(o.wallMs / p)} (${ms(o.wallMs)} vs ${ms(p)})`, met: o.wallMs / p >= factor };
      return {
        figure:
          `${times(recorded / p)} (${ms(recorded)} until recorded vs ${ms(p)}; ` +
          `${times(o.wallMs / p)} on the ${ms(o.wallMs)} until the flow returned)`,
        met: recorded / p >= factor,
      };
    },
  };
}

/** The shapes of DAG run, in the order the bench runs and the report shows them. */
export const DAG_SHAPES: readonly DagShape[] = ['children', 'inline', 'fused'];

/** How the report names a shape of DAG run. */
export const SHAPE_LABELS: Record<DagShape, string> = {
  children: 'child workflows',
  inline: 'inline pipelines',
  fused: 'inline pipelines, fused steps',
};

/**
 * A goal on a DAG scenario as one goal per shape of DAG run, each judged on the runs of its shape (so a ratio to raw
 * Temporal is to raw Temporal in the same shape) and labelled with it.
 */
function perShape(goal: Goal): Goal[] {
  return DAG_SHAPES.map((shape) => ({
    ...goal,
    shape,
    text: `${goal.text} (${SHAPE_LABELS[shape]})`,
  }));
}

/** The goals of issue 6. */
export const GOALS: Goal[] = [
  ...perShape({
    scenario: 'chain',
    size: 100,
    text: 'chain: per-node overhead ≤ 1.3× raw Temporal',
    judge(s) {
      const p = figuresOf(s, 'pipectl')?.perNodeMs;
      const t = figuresOf(s, 'temporal')?.perNodeMs;
      if (p === undefined || t === undefined) return undefined;
      return { figure: `${times(p / t)} (${ms(p)} vs ${ms(t)} per node)`, met: p / t <= 1.3 };
    },
  }),
  ...perShape(bound('fanout', 1000, 'fan-out: makespan ≤ 10 s', 'wallMs', '<=', 10_000)),
  ...perShape(
    bound('large-dag', 10_000, 'large DAG: ≥ 100 nodes/s', 'nodesPerSec', '>=', 100, (v) => `${v.toFixed(1)} nodes/s`),
  ),
  ...perShape(
    bound(
      'large-dag',
      10_000,
      'large DAG: worker RSS ≤ 1 GiB',
      'peakRssBytes',
      '<=',
      1024 ** 3,
      (v) => `${(v / 1024 ** 2).toFixed(0)} MiB`,
    ),
  ),
  bound('latency', undefined, 'latency: p50 ≤ 50 ms', 'p50Ms', '<=', 50),
  bound('latency', undefined, 'latency: p99 ≤ 200 ms', 'p99Ms', '<=', 200),
  bound('sync', 1000, 'sync: no-op re-sync of 1,000 pipelines ≤ 5 s', 'noopSyncMs', '<=', 5_000),
  bound('cold-start', undefined, 'worker cold start ≤ 3 s', 'coldStartMs', '<=', 3_000),
  {
    scenario: 'etl',
    size: 1_000_000,
    text: "ETL: ≥ 50% of the COPY script's rows/s",
    judge(s) {
      const p = figuresOf(s, 'pipectl')?.rowsPerSec;
      const c = figuresOf(s, 'temporal')?.rowsPerSec;
      if (p === undefined || c === undefined) return undefined;
      return { figure: `${((100 * p) / c).toFixed(0)}% (${fmtRate(p)} vs ${fmtRate(c)} rows/s)`, met: p / c >= 0.5 };
    },
  },
  ...perShape(fasterThan('airflow', 20)),
  ...perShape(fasterThan('prefect', 3)),
  ...perShape(fasterThan('dagster', 3)),
];

function fmtRate(v: number): string {
  return v >= 10_000 ? `${(v / 1000).toFixed(0)}k` : v.toFixed(0);
}

/** Judges every goal on the scenarios of its shape that ran (the largest chain when several sizes ran). */
export function judgeGoals(scenarios: ScenarioResult[]): GoalOutcome[] {
  return GOALS.map((g) => {
    const shape = g.shape ?? 'children';
    const runs = scenarios.filter((s) => s.scenario === g.scenario && (s.shape ?? 'children') === shape);
    const s = runs.sort((a, b) => sizeOf(b) - sizeOf(a))[0];
    const verdict = s ? g.judge(s) : undefined;
    const goal = { scenario: g.scenario, ...(g.shape ? { shape: g.shape } : {}), text: g.text };
    if (!s || !verdict) return { ...goal, status: 'not run' };
    if (g.size && sizeOf(s) < g.size) {
      return { ...goal, status: 'too small', figure: `${verdict.figure} at ${sizeOf(s)}` };
    }
    return { ...goal, status: verdict.met ? 'met' : 'not met', figure: verdict.figure };
  });
}

/** The main size of a scenario run (its first size figure). */
export function sizeOf(s: ScenarioResult): number {
  return Object.values(s.size)[0] ?? 0;
}

function formatFigure(name: string, v: number): string {
  if (/Bytes$/.test(name)) return `${(v / 1024 ** 2).toFixed(1)} MiB`;
  if (/Ms$/.test(name)) return ms(v);
  if (/PerSec$/.test(name)) return fmtRate(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/** The headline figure of a scenario, for ratios: lower is better for times, higher for rates. */
const HEADLINE: Record<ScenarioName, { figure: string; lowerIsBetter: boolean }> = {
  chain: { figure: 'perNodeMs', lowerIsBetter: true },
  fanout: { figure: 'wallMs', lowerIsBetter: true },
  'large-dag': { figure: 'nodesPerSec', lowerIsBetter: false },
  latency: { figure: 'p50Ms', lowerIsBetter: true },
  sync: { figure: 'noopSyncMs', lowerIsBetter: true },
  'cold-start': { figure: 'coldStartMs', lowerIsBetter: true },
  etl: { figure: 'rowsPerSec', lowerIsBetter: false },
};

/**
 * pipectl's headline figure as a ratio to `other`'s: above 1 means pipectl took that many times as long (times) or
 * moved that fraction as much (rates).
 */
export function ratioTo(s: ScenarioResult, other: SystemResult): number | undefined {
  const h = HEADLINE[s.scenario];
  const p = figuresOf(s, 'pipectl')?.[h.figure];
  const o = other.ok ? other.figures[h.figure] : undefined;
  if (p === undefined || o === undefined || o === 0) return undefined;
  return p / o;
}

/** One scenario as a markdown table: a row per system, its figures, and pipectl's ratio to it. */
function scenarioTable(s: ScenarioResult): string {
  const names = [...new Set(s.results.flatMap((r) => Object.keys(r.figures)))];
  const h = HEADLINE[s.scenario];
  const head = `| system | setup | ${names.join(' | ')} | pipectl ÷ it (${h.figure}) |`;
  const sep = `|${' --- |'.repeat(names.length + 3)}`;
  const rows = s.results.map((r) => {
    const cells = r.ok ? names.map((n) => (r.figures[n] === undefined ? '' : formatFigure(n, r.figures[n]))) : [];
    const ratio = r.system === 'pipectl' ? '' : ratioTo(s, r);
    const shown = typeof ratio === 'number' ? times(ratio) : ratio === '' ? '—' : '';
    return r.ok
      ? `| ${r.system}${r.version ? ` ${r.version}` : ''} | ${r.setup ?? ''} | ${cells.join(' | ')} | ${shown} |`
      : `| ${r.system} | ${r.setup ?? ''} | failed: ${(r.error ?? '').replace(/\|/g, '/').slice(0, 200)} |${' |'.repeat(names.length)}`;
  });
  const size = Object.entries(s.size)
    .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
    .join(', ');
  const notes = (s.notes ?? []).map((n) => `- ${n}`).join('\n');
  const shape = s.shape && s.shape !== 'children' ? `, ${s.shape}` : '';
  return [`### ${s.scenario} (${size}${shape})`, '', head, sep, ...rows, ...(notes ? ['', notes] : [])].join('\n');
}

/** The machine and revision a report was made on. */
export interface ReportContext {
  startedAt: string;
  finishedAt: string;
  commit?: string;
  dirty: string[];
  machine: string;
  command: string;
}

/** The markdown report: goals first, then every scenario. */
export function markdownReport(ctx: ReportContext, scenarios: ScenarioResult[], plotFile?: string): string {
  const goals = judgeGoals(scenarios);
  const lines = [
    '# pipectl benchmark report',
    '',
    `Run ${ctx.startedAt} → ${ctx.finishedAt} on ${ctx.machine}, commit ${ctx.commit ?? 'unknown'}${ctx.dirty.length ? ` with uncommitted changes (${ctx.dirty.join(', ')})` : ''}.`,
    `Command: \`${ctx.command}\`. Every system ran on this machine against its own durable local state (the Temporal dev server with its SQLite file for pipectl and raw Temporal).`,
    '',
    '## Goals',
    '',
    '| goal | result | figure |',
    '| --- | --- | --- |',
    ...goals.map((g) => `| ${g.text} | ${g.status} | ${g.figure ?? ''} |`),
    '',
    `Goals on chain, fan-out and large DAG are judged for each shape of DAG run: (${SHAPE_LABELS.children}) each ` +
      `pipeline a child workflow of the DAG run; (${SHAPE_LABELS.inline}) each pipeline run inside the DAG run's ` +
      'workflow, its steps local activities of it (`inline: true`, `localSteps: true`); ' +
      `(${SHAPE_LABELS.fused}) the same, with all of a pipeline's steps one local activity of the DAG run ` +
      "(`inline: true`, `localSteps: 'fused'`). A ratio to raw Temporal is to raw Temporal in the same shape; a peer " +
      'ran once per size and is compared with every shape.',
    '',
    "A goal against a peer compares times that end at the same point, when the system's durable state records every " +
      "node done (pipectl: Temporal's history; Airflow: its metadata database; Dagster: its event log, written as " +
      "each step ends). Prefect's flow returns before its task-run states reach its server as asynchronous events, " +
      'so its goal is judged on `recordedMs` (trigger until the server has every task run COMPLETED); the figure ' +
      "also gives the ratio on its `wallMs` (until the flow returned), which the scenario tables' ratios use.",
    '',
    '## Scenarios',
    '',
    ...scenarios.flatMap((s) => [scenarioTable(s), '']),
  ];
  if (plotFile) lines.push('## Per-node overhead against DAG size', '', `![per-node overhead](${plotFile})`, '');
  return `${lines.join('\n')}\n`;
}

/** The line styles of a system's lines (SVG stroke-dasharray; the first solid). */
const DASHES = ['', '6 4', '2 3'];

const COLORS: Record<System, string> = {
  pipectl: '#1f77b4',
  temporal: '#2ca02c',
  airflow: '#d62728',
  prefect: '#9467bd',
  dagster: '#ff7f0e',
};

/**
 * An SVG line plot of per-node overhead (ms, log scale) against chain length (log scale), one line per system (and,
 * for pipectl and raw Temporal, per shape of DAG run), from the chain runs at several sizes.
 */
export function overheadPlot(scenarios: ScenarioResult[]): string | undefined {
  const chains = scenarios.filter((x) => x.scenario === 'chain');
  // pipectl and raw Temporal get a line per shape of DAG run; a peer (shown with every shape) gets one.
  const shaped = (r: SystemResult) => r.system === 'pipectl' || r.system === 'temporal';
  const lineOf = (s: ScenarioResult, r: SystemResult) =>
    s.shape && s.shape !== 'children' && shaped(r) ? `${r.system} (${s.shape})` : r.system;
  // A system run in several ways (a peer's executors) gets a line per way, named by its setup.
  const setups = new Map<string, Set<string>>();
  for (const s of chains) {
    for (const r of s.results) setups.set(lineOf(s, r), (setups.get(lineOf(s, r)) ?? new Set()).add(r.setup ?? ''));
  }
  const series = new Map<string, { system: System; shape?: DagShape; points: { x: number; y: number }[] }>();
  for (const s of chains) {
    for (const r of s.results) {
      const y = r.ok ? r.figures.perNodeMs : undefined;
      if (y === undefined || y <= 0) continue;
      const line = lineOf(s, r);
      const key = (setups.get(line)?.size ?? 0) > 1 ? `${line} (${r.setup ?? ''})` : line;
      const drawn = series.get(key) ?? {
        system: r.system,
        ...(shaped(r) ? { shape: s.shape ?? 'children' } : {}),
        points: [],
      };
      // A peer's run appears in the chain of each shape: one point.
      if (!drawn.points.some((p) => p.x === sizeOf(s))) drawn.points.push({ x: sizeOf(s), y });
      series.set(key, drawn);
    }
  }
  const points = [...series.values()].flatMap((l) => l.points);
  if (points.length === 0) return undefined;
  const W = 820;
  const H = 440;
  const m = { l: 70, r: 250, t: 40, b: 50 };
  const log = Math.log10;
  const [x0, x1] = [Math.min(...points.map((p) => p.x)), Math.max(...points.map((p) => p.x))];
  const [y0, y1] = [Math.min(...points.map((p) => p.y)), Math.max(...points.map((p) => p.y))];
  const lx0 = Math.floor(log(x0));
  const lx1 = Math.max(Math.ceil(log(x1)), lx0 + 1);
  const ly0 = Math.floor(log(y0));
  const ly1 = Math.max(Math.ceil(log(y1)), ly0 + 1);
  const px = (x: number) => m.l + ((log(x) - lx0) / (lx1 - lx0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((log(y) - ly0) / (ly1 - ly0)) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - 60}" y="22" font-size="15">Per-node overhead of a chain DAG</text>`,
  ];
  for (let e = lx0; e <= lx1; e++) {
    const x = px(10 ** e);
    out.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${H - m.b}" stroke="#ddd"/>`);
    out.push(`<text x="${x - 10}" y="${H - m.b + 18}">${(10 ** e).toLocaleString('en-US')}</text>`);
  }
  for (let e = ly0; e <= ly1; e++) {
    const y = py(10 ** e);
    out.push(`<line x1="${m.l}" y1="${y}" x2="${W - m.r}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 60}" y="${y + 4}">${ms(10 ** e)}</text>`);
  }
  out.push(`<text x="${(W - m.r) / 2}" y="${H - 12}">pipelines in the chain (log)</text>`);
  out.push(`<text x="14" y="${H / 2 + 40}" transform="rotate(-90 14 ${H / 2})">wall time per node (log)</text>`);
  let legend = m.t;
  const drawn = new Map<System, number>();
  for (const [name, { system, shape, points: pts }] of series) {
    const sorted = [...pts].sort((a, b) => a.x - b.x);
    const color = COLORS[system];
    // Each way a system ran has a line style of its own, in the system's colour: pipectl's and raw Temporal's by
    // shape of DAG run (child workflows solid, inline dashed, fused dotted), a peer's by the order its setups came.
    const nth = shape ? DAG_SHAPES.indexOf(shape) : (drawn.get(system) ?? 0);
    const style = DASHES[nth % DASHES.length];
    const dash = style ? ` stroke-dasharray="${style}"` : '';
    drawn.set(system, (drawn.get(system) ?? 0) + 1);
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${sorted.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const p of sorted)
      out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${color}"/>`);
    out.push(
      `<line x1="${W - m.r + 10}" y1="${legend + 2}" x2="${W - m.r + 28}" y2="${legend + 2}" stroke="${color}" stroke-width="3"${dash}/>`,
    );
    out.push(`<text x="${W - m.r + 32}" y="${legend + 6}">${escapeXml(name)}</text>`);
    legend += 20;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);
}
