import { accessSync, constants, mkdirSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { goInstall, hasGo } from './temporal-cli';

/** The Temporal server release pipectl builds for the production topology: the one the Temporal CLI v1.5.1 embeds. */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const MODULE = 'go.temporal.io/server';
/** Go packages of the module, the name `go install` gives their binary, and the name pipectl (and Temporal's images) use. */
const BINARIES = [
  { pkg: `${MODULE}/cmd/server`, built: 'server', name: 'temporal-server', env: 'TEMPORAL_SERVER_PATH' },
  { pkg: `${MODULE}/cmd/tools/sql`, built: 'sql', name: 'temporal-sql-tool', env: 'TEMPORAL_SQL_TOOL_PATH' },
] as const;

/** The two binaries of a production server: the server itself and the SQL schema tool. */
export interface TemporalServerBinaries {
  /** `temporal-server`: all four services (frontend, history, matching, worker) in one process, or some of them. */
  server: string;
  /** `temporal-sql-tool`: creates databases and sets up and updates the schema of the SQL stores. */
  sqlTool: string;
  /** Where they were found. */
  source: 'env' | 'PATH' | 'cache' | 'built';
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The cache folder that holds the built server binaries for this version. */
export function serverCacheDir(cacheDir: string): string {
  return join(cacheDir, 'temporal-server', TEMPORAL_SERVER_VERSION);
}

/**
 * Looks for the binaries: `TEMPORAL_SERVER_PATH` and `TEMPORAL_SQL_TOOL_PATH` (both, when either is set), then
 * `temporal-server` and `temporal-sql-tool` on `PATH`, then the cache. Builds nothing.
 */
export function findTemporalServer(
  cacheDir: string,
  env: NodeJS.ProcessEnv = process.env,
): TemporalServerBinaries | undefined {
  const [server, sqlTool] = BINARIES;
  if (env[server.env] || env[sqlTool.env]) {
    for (const b of BINARIES) {
      const path = env[b.env];
      if (!path)
        throw new Error(`${b.env} is not set: set it too, or unset the other to let pipectl find or build both`);
      if (!isExecutable(path)) throw new Error(`${b.env}=${path}: no executable there`);
    }
    return { server: env[server.env]!, sqlTool: env[sqlTool.env]!, source: 'env' };
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, server.name)) && isExecutable(join(dir, sqlTool.name))) {
      return { server: join(dir, server.name), sqlTool: join(dir, sqlTool.name), source: 'PATH' };
    }
  }
  const bin = serverCacheDir(cacheDir);
  if (isExecutable(join(bin, server.name)) && isExecutable(join(bin, sqlTool.name))) {
    return { server: join(bin, server.name), sqlTool: join(bin, sqlTool.name), source: 'cache' };
  }
  return undefined;
}

/**
 * Builds the pinned server and SQL tool from their Go module into the cache, streaming Go's output so the user sees
 * progress. The binaries are built into a temporary folder and renamed into place, so an interrupted build never
 * leaves a half-written binary that a later run would take for a finished one.
 */
export async function buildTemporalServer(
  cacheDir: string,
  log: (line: string) => void,
): Promise<TemporalServerBinaries> {
  const bin = serverCacheDir(cacheDir);
  const staging = join(bin, `.build-${process.pid}`);
  mkdirSync(staging, { recursive: true });
  log(`Building the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool from their Go module into ${bin}`);
  log('(first time only; this takes several minutes; later starts reuse them)');
  const started = Date.now();
  const packages = BINARIES.map((b) => `${b.pkg}@${TEMPORAL_SERVER_VERSION}`);
  try {
    await goInstall(packages, staging, log);
    for (const b of BINARIES) renameSync(join(staging, b.built), join(bin, b.name));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  log(`Built the Temporal server in ${Math.round((Date.now() - started) / 1000)}s`);
  return { server: join(bin, 'temporal-server'), sqlTool: join(bin, 'temporal-sql-tool'), source: 'built' };
}

/** Finds the server binaries; otherwise builds them from their Go module (which needs Go on `PATH`). */
export async function ensureTemporalServer(
  cacheDir: string,
  log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TemporalServerBinaries> {
  const found = findTemporalServer(cacheDir, env);
  if (found) return found;
  if (!hasGo()) {
    throw new Error(
      `the Temporal server ${TEMPORAL_SERVER_VERSION} is not built and no Go toolchain is on PATH to build it: install Go, ` +
        'or set TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH to a temporal-server and a temporal-sql-tool',
    );
  }
  return buildTemporalServer(cacheDir, log);
}
