import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';

/** Base URL of the test run's PostgreSQL (set by the global setup). */
export function pgBaseUrl(): string {
  const url = process.env.PIPECTL_TEST_PG_BASE_URL;
  if (!url)
    throw new Error('PIPECTL_TEST_PG_BASE_URL is not set: run the tests through jest (global setup starts PostgreSQL)');
  return url;
}

/** Creates a fresh database for one test file and returns its URL. */
export async function createTestDatabase(prefix = 't'): Promise<string> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const client = new Client({ connectionString: `${pgBaseUrl()}/postgres` });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return `${pgBaseUrl()}/${name}`;
}

/** A pool on a URL, closed by the caller. */
export function poolFor(url: string): Pool {
  return new Pool({ connectionString: url, max: 4 });
}
