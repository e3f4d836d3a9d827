import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GraphJson } from '../../core/graph-format';
import { runCli } from '../helpers/spawn';

const fixture = (folder: string) => join('test', 'fixtures', 'graph', folder);
const LINEAGE = ['--dir', fixture('lineage')];
// The environment must not choose the folder unless a test says so.
const env = { PIPECTL_PIPELINES_DIR: undefined };
const pipectl = (args: string[]) => runCli(args, env);

describe('pipectl graph', () => {
  it("prints the repository's own pipelines/ in dependency order by default", async () => {
    const r = await pipectl(['graph']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const at = (name: string) => lines.findIndex((l) => l === name || l.startsWith(`${name} (`));
    for (const name of ['orders_daily', 'refunds', 'customer_ltv', 'revenue_report'])
      expect(at(name)).toBeGreaterThanOrEqual(0);
    expect(at('orders_daily')).toBeLessThan(at('customer_ltv'));
    expect(at('orders_daily')).toBeLessThan(at('revenue_report'));
    expect(at('refunds')).toBeLessThan(at('revenue_report'));
    expect(r.stdout).toMatch(/^orders_daily \(every 1 day\)\n {2}→ customer_ltv +via analytics\.orders_daily\n/m);
    expect(r.stdout).toMatch(/\nexternal datasets\n(.*\n)*? {2}raw\.orders +→ orders_daily\n/);
    expect(r.stdout).toMatch(/\n {2}files\.refunds +→ refunds\n/);
  });

  it('prints the fixture lineage as text: schedules, datasets, dependsOn links, external datasets', async () => {
    const r = await pipectl(['graph', ...LINEAGE]);
    expect(r).toEqual({
      code: 0,
      stdout: [
        'ingest-orders (every 1 hour at :15 Europe/Paris)',
        '  → by-day  via staging.orders',
        '  → by_day  via staging.orders',
        'by-day',
        '  → daily-report  via analytics.by_day',
        'by_day',
        '  → daily-report  via analytics.by_day_legacy',
        'daily-report (cron 0 6 * * 1-5)',
        '  → archive  (dependsOn)',
        'archive',
        '',
        'external datasets',
        '  raw.calendar  → by-day',
        '  raw.orders    → ingest-orders',
        '',
      ].join('\n'),
      stderr: '',
    });
  });

  it('prints a Mermaid flowchart with safe IDs for names with - and .', async () => {
    const r = await pipectl(['graph', ...LINEAGE, '--format', 'mermaid']);
    expect(r).toEqual({
      code: 0,
      stdout: [
        'flowchart LR',
        '  ingest_orders["ingest-orders<br/>(every 1 hour at :15 Europe/Paris)"]',
        '  by_day_2["by-day"]',
        '  by_day["by_day"]',
        '  daily_report["daily-report<br/>(cron 0 6 * * 1-5)"]',
        '  archive["archive"]',
        '  raw_calendar[("raw.calendar")]',
        '  raw_orders[("raw.orders")]',
        '  raw_calendar --> by_day_2',
        '  raw_orders --> ingest_orders',
        '  ingest_orders -->|"staging.orders"| by_day_2',
        '  ingest_orders -->|"staging.orders"| by_day',
        '  by_day_2 -->|"analytics.by_day"| daily_report',
        '  by_day -->|"analytics.by_day_legacy"| daily_report',
        '  daily_report -.->|"dependsOn"| archive',
        '',
      ].join('\n'),
      stderr: '',
    });
  });

  it('prints a Graphviz digraph with one line per edge', async () => {
    const r = await pipectl(['graph', ...LINEAGE, '-f', 'dot']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('digraph pipelines {');
    expect(lines[lines.length - 1]).toBe('}');
    expect(lines.filter((l) => l.includes(' -> '))).toEqual([
      '  "dataset:raw.calendar" -> "by-day";',
      '  "dataset:raw.orders" -> "ingest-orders";',
      '  "ingest-orders" -> "by-day" [label="staging.orders"];',
      '  "ingest-orders" -> "by_day" [label="staging.orders"];',
      '  "by-day" -> "daily-report" [label="analytics.by_day"];',
      '  "by_day" -> "daily-report" [label="analytics.by_day_legacy"];',
      '  "daily-report" -> "archive" [label="dependsOn", style=dashed];',
    ]);
    expect(lines).toContain('  "dataset:raw.orders" [label="raw.orders", shape=cylinder];');
    expect(lines).toContain('  "ingest-orders" [label="ingest-orders\\n(every 1 hour at :15 Europe/Paris)"];');
  });

  it('prints JSON with descendants, the same with --json and --format json', async () => {
    const r = await pipectl(['graph', ...LINEAGE, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect((await pipectl(['graph', ...LINEAGE, '--format', 'json'])).stdout).toBe(r.stdout);
    const json = JSON.parse(r.stdout) as GraphJson;
    expect(json.pipelines.map((p) => [p.name, p.descendants])).toEqual([
      ['ingest-orders', 4],
      ['by-day', 2],
      ['by_day', 2],
      ['daily-report', 1],
      ['archive', 0],
    ]);
    expect(json.pipelines[0]).toEqual({
      name: 'ingest-orders',
      file: join(fixture('lineage'), 'ingest.ts'),
      schedule: { every: '1 hour', at: ':15', timezone: 'Europe/Paris', overlap: 'skip', pauseOnFailure: false },
      inputs: ['raw.orders'],
      outputs: ['staging.orders'],
      dependsOn: [],
      upstream: [],
      downstream: ['by-day', 'by_day'],
      descendants: 4,
    });
    expect(json.edges).toContainEqual({ from: 'daily-report', to: 'archive', datasets: [], dependsOn: true });
    expect(json.externalDatasets).toEqual([
      { dataset: 'raw.calendar', readers: ['by-day'] },
      { dataset: 'raw.orders', readers: ['ingest-orders'] },
    ]);
  });

  it('reads the folder from PIPECTL_PIPELINES_DIR', async () => {
    const r = await runCli(['graph', '--json'], { PIPECTL_PIPELINES_DIR: fixture('lineage') });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as GraphJson).pipelines).toHaveLength(5);
  });

  it('shows its options and formats with --help, and pipectl --help lists it', async () => {
    const help = await pipectl(['graph', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: pipectl graph [options]');
    expect(help.stdout).toMatch(/--format <format>.*\(choices: "text", "mermaid", "dot",\s+"json", default: "text"\)/s);
    expect(help.stdout).toContain('--dir <folder>');
    expect((await pipectl(['--help'])).stdout).toMatch(/\n {2}graph \[options\] +print the pipeline DAG/);
  });
});

describe('pipectl graph: mistakes', () => {
  it('exits 1 for invalid definitions, listing every problem like validate and drawing nothing', async () => {
    const r = await pipectl(['graph', '--dir', fixture('invalid'), '--format', 'mermaid']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const file = join(fixture('invalid'), 'pipelines.ts');
    expect(r.stderr).toBe(
      'error: 2 problems in the pipeline definitions:\n' +
        `  ${file}: pipeline 'report': retry.maximumAttempts: maximumAttempts must be at least 1\n` +
        `  ${file}: pipeline 'orders': dependsOn: unknown pipeline 'orders_raw': no definition has that name\n`,
    );
  });

  it('exits 1 naming the cycle when pipelines depend on each other', async () => {
    const r = await pipectl(['graph', '--dir', join('test', 'fixtures', 'definitions', 'cycle-datasets')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('cycle: a → b → c → a (through dataset files.c)');
  });

  it('exits 1 for an unknown format, naming the formats', async () => {
    const r = await pipectl(['graph', ...LINEAGE, '--format', 'svg']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("argument 'svg' is invalid. Allowed choices are text, mermaid, dot, json.");
  });

  it('exits 1 for --json with another format', async () => {
    const r = await pipectl(['graph', ...LINEAGE, '--json', '--format', 'dot']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("option '--json' cannot be used with option '-f, --format <format>'");
  });

  it('exits 1 for a folder that does not exist or holds no definitions', async () => {
    const missing = await pipectl(['graph', '--dir', fixture('no-such-folder')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read the pipelines folder: ENOENT');
    const empty = mkdtempSync(join(tmpdir(), 'pipectl-graph-'));
    try {
      const r = await pipectl(['graph', '--dir', empty]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`error: no pipeline definitions under ${empty}\n`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
