import type { Pool } from 'pg';

/** Advisory lock id that serialises pipectl's first-use DDL across workers sharing a database. */
const DDL_LOCK = 7233001;

const ready = new WeakMap<Pool, Map<string, Promise<void>>>();

/**
 * Creates one of pipectl's own tables (in schema `pipectl`) on first use per pool. Concurrent workers take the
 * advisory lock in turn, because `CREATE ... IF NOT EXISTS` alone can race.
 */
export async function ensurePipectlTable(pool: Pool, name: string, createTable: string): Promise<void> {
  let perPool = ready.get(pool);
  if (!perPool) ready.set(pool, (perPool = new Map()));
  let done = perPool.get(name);
  if (!done) {
    done = (async () => {
      const client = await pool.connect();
      try {
        await client.query(`SELECT pg_advisory_lock(${DDL_LOCK})`);
        await client.query('CREATE SCHEMA IF NOT EXISTS pipectl');
        await client.query(createTable);
      } finally {
        await client.query(`SELECT pg_advisory_unlock(${DDL_LOCK})`).catch(() => undefined);
        client.release();
      }
    })();
    done.catch(() => perPool.delete(name));
    perPool.set(name, done);
  }
  await done;
}
