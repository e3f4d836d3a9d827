import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSettings } from '../../temporal-config/settings';
import { startDevServer } from '../../temporal-config/dev-server';
import { startEmbeddedPostgres } from '../../workers/embedded-postgres';
import { freePort } from './ports';

/**
 * One real Temporal dev server and one real PostgreSQL for the whole test run, on free ports, with state in a
 * temporary folder. Tests reach them through the environment set here.
 */
export default async function globalSetup(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'pipectl-test-'));
  // PostgreSQL runs as its own user when the tests run as root: it must be able to reach its data folder.
  chmodSync(stateDir, 0o755);
  const [port, uiPort, httpPort, metricsPort, pgPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const log = (line: string) => process.stderr.write(`[test setup] ${line}\n`);
  const server = await startDevServer({
    stateDir,
    cacheDir: readSettings().cacheDir,
    port,
    uiPort,
    httpPort,
    metricsPort,
    namespace: 'default',
    log,
  });
  // Jest skips the teardown when the setup throws: stop the server here if PostgreSQL cannot start.
  const pg = await startEmbeddedPostgres({ dataDir: join(stateDir, 'postgres'), port: pgPort, log }).catch(
    async (err: unknown) => {
      await server.stop();
      throw err;
    },
  );
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.PIPECTL_LOG_LEVEL ??= 'WARN';
  process.env.PIPECTL_UI_PORT = String(uiPort);
  process.env.PIPECTL_TEST_STATE_DIR = stateDir;
  process.env.PIPECTL_TEST_PG_BASE_URL = pg.baseUrl;
  (globalThis as Record<string, unknown>).__pipectlTestStack = { server, pg };
}
