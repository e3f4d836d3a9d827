import { definePipeline, postgres, type Row } from 'pipectl';

/** Daily order totals per customer, from the raw orders of the source database. */
export default definePipeline({
  name: 'orders_daily',
  description: 'Daily order count and revenue per customer',
  owner: 'data-platform',
  tags: ['orders', 'example'],
  schedule: { every: '1 day', timezone: 'UTC' },
  inputs: ['raw.orders'],
  outputs: ['analytics.orders_daily'],
  retry: { maximumAttempts: 5, initialInterval: '2s' },
  timeouts: { step: '10 minutes' },
  extract: postgres.query({
    connection: 'source',
    sql: `SELECT customer_id, amount, created_at
            FROM raw.orders
           WHERE created_at >= $windowStart AND created_at < $windowEnd`,
  }),
  transform: (rows, ctx) => {
    const day = ctx.window.start.slice(0, 10);
    const totals = new Map<number, { orders: number; cents: number }>();
    for (const row of rows) {
      const t = totals.get(Number(row.customer_id)) ?? { orders: 0, cents: 0 };
      t.orders += 1;
      t.cents += Math.round(Number(row.amount) * 100);
      totals.set(Number(row.customer_id), t);
    }
    return [...totals].map(([customer_id, t]): Row => ({
      day,
      customer_id,
      orders: t.orders,
      revenue: (t.cents / 100).toFixed(2),
    }));
  },
  load: postgres.upsert({ connection: 'warehouse', table: 'analytics.orders_daily', key: ['day', 'customer_id'] }),
});
