import { csv, definePipeline, postgres } from 'pipectl';

/** A CSV for finance: the window's revenue net of refunds per customer, one file per day. */
export default definePipeline({
  name: 'revenue_report',
  description: 'Net revenue per customer for the day, as CSV',
  owner: 'finance-data',
  tags: ['finance', 'example'],
  inputs: ['analytics.orders_daily', 'analytics.refunds'],
  outputs: ['files.revenue_report'],
  extract: postgres.query({
    connection: 'warehouse',
    sql: `SELECT d.customer_id, d.orders, d.revenue,
                 coalesce((SELECT sum(r.amount) FROM analytics.refunds r
                            WHERE r.refunded_at >= $windowStart AND r.refunded_at < $windowEnd
                              AND r.order_id % 1000 = d.customer_id), 0) AS refunds
            FROM analytics.orders_daily d
           WHERE d.day = $windowStart::timestamptz::date
           ORDER BY d.customer_id`,
  }),
  transform: (rows, ctx) =>
    rows.map((r) => ({
      day: ctx.window.start.slice(0, 10),
      customer_id: r.customer_id,
      orders: r.orders,
      revenue: r.revenue,
      refunds: r.refunds,
      net_revenue: (Number(r.revenue) - Number(r.refunds)).toFixed(2),
    })),
  load: csv.write('output/revenue-{startDate}.csv'),
});
