/**
 * The raw Temporal baseline of `pipectl sync`: the same Schedules, created or checked with nothing but the client.
 * Self-contained (compiled to plain JavaScript before the timed runs and run with `node`, as pipectl's CLI is).
 *
 *   node raw-sync.js create <options.json>          `client.schedule.create` for each, one after another
 *   node raw-sync.js describe <options.json>        `describe` each (the minimal no-op check), one after another
 *   node raw-sync.js describe <options.json> 16     the same with 16 describes in flight
 *   node raw-sync.js list <options.json>            one `client.schedule.list()` over every Schedule
 *
 * <options.json> holds the `ScheduleOptions` pipectl computes for each group (dates as ISO strings, search attribute
 * keys as `{ name, type }`). Prints one JSON line of counts. Environment: TEMPORAL_ADDRESS.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, ScheduleNotFoundError, type ScheduleOptions } from '@temporalio/client';
import { defineSearchAttributeKey, type SearchAttributeType } from '@temporalio/common';

interface StoredPair {
  key: { name: string; type: SearchAttributeType };
  value: unknown;
}

/** Options read back from JSON: dates revived, search attribute keys made again. */
function readOptions(file: string): ScheduleOptions[] {
  const raw = JSON.parse(readFileSync(file, 'utf8'), (key, value: unknown) =>
    (key === 'startAt' || key === 'endAt') && typeof value === 'string' ? new Date(value) : value,
  ) as ScheduleOptions[];
  for (const o of raw) {
    const pairs = o.action.typedSearchAttributes as unknown as StoredPair[] | undefined;
    if (Array.isArray(pairs)) {
      (o.action as { typedSearchAttributes?: unknown }).typedSearchAttributes = pairs.map((p) => ({
        key: defineSearchAttributeKey(p.key.name, p.key.type),
        value: p.value,
      }));
    }
  }
  return raw;
}

/** Runs `fn` over `items` with at most `width` in flight. */
async function eachLimited<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, width) }, lane));
}

async function main(): Promise<void> {
  const [mode, file, width] = process.argv.slice(2);
  if (!mode || !file) throw new Error('usage: raw-sync.js create|describe|list <options.json> [concurrency]');
  const options = readOptions(file);
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? 'localhost:7233' });
  const client = new Client({ connection });
  const counts = { schedules: options.length, created: 0, found: 0, missing: 0, listed: 0 };
  try {
    if (mode === 'create') {
      for (const o of options) {
        await client.schedule.create(o);
        counts.created++;
      }
    } else if (mode === 'describe') {
      await eachLimited(options, Number(width ?? 1), async (o) => {
        try {
          await client.schedule.getHandle(o.scheduleId).describe();
          counts.found++;
        } catch (err) {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
          counts.missing++;
        }
      });
    } else if (mode === 'list') {
      for await (const summary of client.schedule.list()) if (summary.scheduleId) counts.listed++;
    } else throw new Error(`unknown mode ${mode}`);
  } finally {
    await connection.close();
  }
  process.stdout.write(`${JSON.stringify(counts)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
