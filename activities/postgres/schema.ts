import type { Pool, PoolClient } from 'pg';

/** Advisory lock id that serialises pipectl's first-use DDL across workers sharing a database. */
const DDL_LOCK = 7233001;

/**
 * Runs pipectl's DDL under the advisory lock, with schema `pipectl` in place: concurrent workers take the lock in turn,
 * because `CREATE ... IF NOT EXISTS` alone can race.
 */
export async function withPipectlDdl(pool: Pool, ddl: (client: PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query(`SELECT pg_advisory_lock(${DDL_LOCK})`);
    await client.query('CREATE SCHEMA IF NOT EXISTS pipectl');
    await ddl(client);
  } finally {
    await client.query(`SELECT pg_advisory_unlock(${DDL_LOCK})`).catch(() => undefined);
    client.release();
  }
}

const ready = new WeakMap<Pool, Map<string, Promise<void>>>();

/** Creates one of pipectl's own tables (in schema `pipectl`) on first use per pool, under the DDL lock. */
export async function ensurePipectlTable(pool: Pool, name: string, createTable: string): Promise<void> {
  let perPool = ready.get(pool);
  if (!perPool) ready.set(pool, (perPool = new Map()));
  let done = perPool.get(name);
  if (!done) {
    done = withPipectlDdl(pool, async (client) => {
      await client.query(createTable);
    });
    done.catch(() => perPool.delete(name));
    perPool.set(name, done);
  }
  await done;
}
