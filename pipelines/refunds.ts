import { definePipeline, ndjson, postgres } from 'pipectl';

/** Refunds arrive as one NDJSON file per day; the window's rows in the warehouse are replaced by the file's. */
export default definePipeline({
  name: 'refunds',
  description: "Loads the day's refunds file into the warehouse",
  owner: 'finance-data',
  tags: ['refunds', 'example'],
  schedule: { every: '1 day', timezone: 'UTC' },
  inputs: ['files.refunds'],
  outputs: ['analytics.refunds'],
  extract: ndjson.read('example-data/refunds/{startDate}.ndjson'),
  load: postgres.replace({ connection: 'warehouse', table: 'analytics.refunds', windowColumn: 'refunded_at' }),
});
