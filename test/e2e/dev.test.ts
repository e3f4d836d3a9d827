import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { previousDay } from '../../core/window';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { freePort } from '../helpers/ports';
import { runCli } from '../helpers/spawn';
import { removeTempDirs, tempDir } from '../helpers/temp-dir';
import { uniqueQueue } from '../helpers/temporal';

const pools: Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  removeTempDirs();
});

const stateDir = () => tempDir('pipectl-dev-');

test('pipectl dev --once seeds the examples, runs them in dependency order, and the expected rows land', async () => {
  const [source, warehouse, staging] = await Promise.all([
    createTestDatabase('src'),
    createTestDatabase('wh'),
    createTestDatabase('stg'),
  ]);
  const state = stateDir();
  const res = await runCli(['dev', '--once'], {
    PIPECTL_STATE_DIR: state,
    PIPECTL_TASK_QUEUE: uniqueQueue('dev'),
    PIPECTL_CONNECTION_SOURCE: source,
    PIPECTL_CONNECTION_WAREHOUSE: warehouse,
    PIPECTL_CONNECTION_PIPECTL: staging,
  });
  expect(res.code).toBe(0);
  expect(res.stdout).toContain('Using the Temporal server already running');
  expect(res.stdout).toContain(
    'Running 4 pipelines as one DAG run (upstreams first): orders_daily, refunds, customer_ltv, revenue_report',
  );
  for (const name of ['orders_daily', 'refunds', 'customer_ltv', 'revenue_report']) {
    expect(res.stdout).toMatch(new RegExp(`✓ ${name} succeeded`));
  }
  expect(res.stdout).toMatch(/Temporal Web UI: +http:\/\/localhost:\d+\/namespaces\/default\/workflows/);

  const day = previousDay(Date.now()).start.slice(0, 10);
  const src = poolFor(source);
  const wh = poolFor(warehouse);
  pools.push(src, wh);
  const expected = await src.query(
    `SELECT customer_id, count(*)::int AS orders, sum(amount)::numeric(14,2)::text AS revenue
       FROM raw.orders WHERE created_at >= $1::date AND created_at < $1::date + 1 GROUP BY customer_id ORDER BY customer_id`,
    [day],
  );
  expect(expected.rowCount).toBeGreaterThan(0);
  const daily = await wh.query(
    `SELECT customer_id, orders, revenue::text AS revenue FROM analytics.orders_daily WHERE day = $1 ORDER BY customer_id`,
    [day],
  );
  expect(daily.rows).toEqual(expected.rows);
  const ltv = await wh.query('SELECT count(*)::int AS n FROM analytics.customer_ltv');
  expect(ltv.rows[0].n).toBe(expected.rowCount);
  const refunds = await wh.query('SELECT count(*)::int AS n FROM analytics.refunds WHERE refunded_at::date = $1', [
    day,
  ]);
  expect(refunds.rows[0].n).toBeGreaterThan(0);
  const report = readFileSync(join(state, 'files', 'output', `revenue-${day}.csv`), 'utf8')
    .trim()
    .split('\n');
  expect(report[0]).toBe('day,customer_id,orders,revenue,refunds,net_revenue');
  expect(report).toHaveLength(expected.rowCount! + 1);
});

test('with no connection configured, pipectl dev runs the examples on an embedded PostgreSQL under the state folder', async () => {
  const state = stateDir();
  const res = await runCli(['dev', '--once'], {
    PIPECTL_STATE_DIR: state,
    PIPECTL_TASK_QUEUE: uniqueQueue('dev'),
    PIPECTL_POSTGRES_PORT: String(await freePort()),
  });
  expect(res.code).toBe(0);
  expect(res.stdout).toContain(`Initialising an embedded PostgreSQL in ${join(state, 'postgres')}`);
  expect(res.stdout).toMatch(/✓ revenue_report succeeded/);
  expect(existsSync(join(state, 'postgres', 'PG_VERSION'))).toBe(true);
}, 180_000);
