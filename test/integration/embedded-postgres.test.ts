import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/ports';

let stateDir: string;

beforeAll(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'pipectl-embedded-pg-'));
  chmodSync(stateDir, 0o755);
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

/** Starts the embedded PostgreSQL on `dataDir` in a process of its own, runs `sql` and stops it again. */
async function once(dataDir: string, sql: string): Promise<{ rows: unknown[]; logs: string[] }> {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'embedded-postgres-once.ts'), dataDir, String(await freePort()), sql],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (child.status !== 0) throw new Error(`the embedded PostgreSQL run failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as { rows: unknown[]; logs: string[] };
}

test('the embedded PostgreSQL starts again on its data, also after an older pipectl opened the folder to others', async () => {
  const dataDir = join(stateDir, 'postgres');
  await once(dataDir, 'CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)');

  // The second start on the same data (`npm start` twice) keeps the data folder closed and finds the row.
  expect((await once(dataDir, 'SELECT id FROM kept')).rows).toEqual([{ id: 7 }]);
  expect(statSync(dataDir).mode & 0o027).toBe(0);

  if (process.getuid?.() !== 0) return;
  // Started as root, earlier versions left the folder at 0701, which PostgreSQL refuses; the next start repairs it.
  chmodSync(dataDir, 0o701);
  const repaired = await once(dataDir, 'SELECT id FROM kept');
  expect(repaired.rows).toEqual([{ id: 7 }]);
  expect(statSync(dataDir).mode & 0o777).toBe(0o700);
  expect(repaired.logs).toContain(`Closed ${dataDir} to other users again, as PostgreSQL requires`);
});
