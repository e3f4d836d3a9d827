import { definePipeline, postgres } from 'pipectl';

/** Lifetime value per customer, recomputed from every daily total up to the end of the window. */
export default definePipeline({
  name: 'customer_ltv',
  description: 'Lifetime revenue, order count and segment per customer',
  owner: 'data-platform',
  tags: ['customers', 'example'],
  inputs: ['analytics.orders_daily'],
  outputs: ['analytics.customer_ltv'],
  extract: postgres.query({
    connection: 'warehouse',
    sql: `SELECT customer_id,
                 min(day) AS first_order_day,
                 max(day) AS last_order_day,
                 sum(orders)::int AS orders,
                 sum(revenue) AS lifetime_revenue
            FROM analytics.orders_daily
           WHERE day < $windowEnd::timestamptz::date
           GROUP BY customer_id`,
  }),
  transform: (rows) =>
    rows.map((row) => {
      const revenue = Number(row.lifetime_revenue);
      return {
        ...row,
        first_order_day: String(row.first_order_day).slice(0, 10),
        last_order_day: String(row.last_order_day).slice(0, 10),
        segment: revenue >= 1500 ? 'gold' : revenue >= 600 ? 'silver' : 'bronze',
      };
    }),
  load: postgres.upsert({ connection: 'warehouse', table: 'analytics.customer_ltv', key: ['customer_id'] }),
});
