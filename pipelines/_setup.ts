import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DevSetupContext } from 'pipectl';

/**
 * Seeds the example source data for `pipectl dev`: two weeks of orders in the `source` database, the warehouse
 * tables, and one refunds file per day. Idempotent: running it again leaves the same data.
 */
export async function setup(ctx: DevSetupContext): Promise<void> {
  const source = await ctx.postgres('source');
  await source.query(`
    CREATE SCHEMA IF NOT EXISTS raw;
    CREATE TABLE IF NOT EXISTS raw.orders (
      order_id bigint PRIMARY KEY,
      customer_id integer NOT NULL,
      amount numeric(12, 2) NOT NULL,
      currency text NOT NULL DEFAULT 'EUR',
      created_at timestamptz NOT NULL
    );
    CREATE INDEX IF NOT EXISTS orders_created_at ON raw.orders (created_at);`);

  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const days = 14;
  // A small deterministic generator: the same seed gives the same orders on every machine.
  let state = 20261120;
  const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const values: string[] = [];
  const params: unknown[] = [];
  for (let d = days; d >= 1; d--) {
    const dayStart = today - d * 86_400_000;
    const orders = 40 + Math.floor(random() * 40);
    for (let i = 0; i < orders; i++) {
      const id = Math.floor(dayStart / 86_400_000) * 1000 + i;
      params.push(
        id,
        1 + Math.floor(random() * 25),
        (5 + random() * 195).toFixed(2),
        new Date(dayStart + Math.floor(random() * 86_400_000)),
      );
      const n = params.length;
      values.push(`($${n - 3}, $${n - 2}, $${n - 1}, $${n})`);
    }
  }
  await source.query(
    `INSERT INTO raw.orders (order_id, customer_id, amount, created_at) VALUES ${values.join(', ')} ON CONFLICT (order_id) DO NOTHING`,
    params,
  );
  ctx.log(`source: raw.orders holds ${days} days of orders`);

  const warehouse = await ctx.postgres('warehouse');
  await warehouse.query(`
    CREATE SCHEMA IF NOT EXISTS analytics;
    CREATE TABLE IF NOT EXISTS analytics.orders_daily (
      day date NOT NULL,
      customer_id integer NOT NULL,
      orders integer NOT NULL,
      revenue numeric(14, 2) NOT NULL,
      PRIMARY KEY (day, customer_id)
    );
    CREATE TABLE IF NOT EXISTS analytics.customer_ltv (
      customer_id integer PRIMARY KEY,
      first_order_day date NOT NULL,
      last_order_day date NOT NULL,
      orders integer NOT NULL,
      lifetime_revenue numeric(14, 2) NOT NULL,
      segment text NOT NULL
    );
    CREATE TABLE IF NOT EXISTS analytics.refunds (
      refund_id text PRIMARY KEY,
      order_id bigint NOT NULL,
      amount numeric(12, 2) NOT NULL,
      refunded_at timestamptz NOT NULL,
      reason text
    );`);
  ctx.log('warehouse: analytics.orders_daily, analytics.customer_ltv, analytics.refunds ready');

  const refundsDir = join(ctx.filesDir, 'example-data', 'refunds');
  mkdirSync(refundsDir, { recursive: true });
  for (let d = days; d >= 1; d--) {
    const dayStart = today - d * 86_400_000;
    const lines: string[] = [];
    for (let i = 0; i < 3 + (d % 4); i++) {
      lines.push(
        JSON.stringify({
          refund_id: `r-${dayStart / 86_400_000}-${i}`,
          order_id: Math.floor(dayStart / 86_400_000) * 1000 + i,
          amount: Number((2 + ((d * 7 + i * 13) % 40)).toFixed(2)),
          refunded_at: new Date(dayStart + (i + 1) * 3_600_000).toISOString(),
          reason: ['damaged', 'late', 'changed mind'][i % 3],
        }),
      );
    }
    writeFileSync(join(refundsDir, `${new Date(dayStart).toISOString().slice(0, 10)}.ndjson`), lines.join('\n') + '\n');
  }
  ctx.log(`files: one refunds file per day in ${refundsDir}`);
}
