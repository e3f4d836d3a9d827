import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { loadModule } from '../catalog/load';
import type { DevSetupContext } from '../core/pipeline-spec';
import { connectionEnvVar } from '../core/identifiers';
import { startDevServer } from '../temporal-config/dev-server';
import { PostgresPools } from '../activities/postgres/pools';
import { configuredConnections, connectionResolver, connectionsUsed } from '../workers/connections';
import type { EmbeddedPostgresServer } from '../workers/embedded-postgres';
import { createPipectlWorker } from '../workers/worker';
import { catalogQueues } from '../workers/queues';
import { catalogFor, commandSettings } from './context';
import { style } from './output';
import { runPipelines } from './run-pipelines';
import { topologicalOrder } from '../core/graph';

/** Options of `pipectl dev`. */
export interface DevOptions {
  dir?: string;
  window?: string;
  once?: boolean;
  run: boolean;
}

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Starts the local stack, runs the pipelines once, and serves until a signal (or exits with `--once`). */
export async function dev(opts: DevOptions): Promise<number> {
  const base = commandSettings(opts);
  // Relative paths of file steps land under the state folder in development, out of the working tree.
  const s = process.env.PIPECTL_FILES_DIR ? base : { ...base, filesDir: join(base.stateDir, 'files') };
  const catalog = catalogFor(s);
  const port = Number(s.temporalAddress.split(':').pop());
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => say(`cleanup: ${(err as Error).message}`));
  };
  try {
    const server = await startDevServer({
      stateDir: s.stateDir,
      cacheDir: s.cacheDir,
      port,
      uiPort: s.uiPort,
      namespace: s.namespace,
      ...(s.codecEndpoint ? { codecEndpoint: s.codecEndpoint } : {}),
      log: (l) => say(style.dim(l)),
    });
    if (server.started) cleanups.push(() => server.stop());

    const configured = configuredConnections();
    const used = connectionsUsed([...catalog.pipelines.values()].map((e) => e.spec));
    used.add(s.stagingConnection);
    let embedded: EmbeddedPostgresServer | undefined;
    if ([...used].some((n) => !configured.has(n))) {
      const { startEmbeddedPostgres } = await import('../workers/embedded-postgres');
      embedded = await startEmbeddedPostgres({
        dataDir: join(s.stateDir, 'postgres'),
        port: Number(process.env.PIPECTL_POSTGRES_PORT || 55432),
        log: (l) => say(style.dim(l)),
      });
      if (embedded.started) cleanups.push(() => embedded!.stop());
    }

    const setupFile = ['_setup.ts', '_setup.js'].map((f) => join(s.pipelinesDir, f)).find((f) => existsSync(f));
    if (setupFile) {
      const pools = new PostgresPools(connectionResolver(process.env, embedded), 2);
      try {
        const mod = loadModule(setupFile) as { setup?: (ctx: DevSetupContext) => Promise<void> | void };
        if (typeof mod.setup === 'function') {
          say(`Running ${setupFile}`);
          await mod.setup({
            postgres: (name): Promise<Pool> => pools.get(name),
            stateDir: s.stateDir,
            filesDir: s.filesDir,
            log: (l) => say(`  ${l}`),
          });
        }
      } finally {
        await pools.close();
      }
    }

    // Worker logs are JSON for machines; in the dev console only warnings and errors are shown unless asked.
    process.env.PIPECTL_LOG_LEVEL ??= 'WARN';
    // One all-in-one worker: it serves every queue the pipelines name, so none waits for a worker that never comes.
    const queues = catalogQueues(catalog, s.taskQueue);
    const worker = await createPipectlWorker({
      settings: s,
      catalog,
      taskQueues: queues,
      ...(embedded ? { embedded } : {}),
      log: (l) => say(style.dim(l)),
    });
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
    });
    say(
      `Worker polling task queue${queues.length > 1 ? 's' : ''} ${queues.map((q) => `'${q.name}'`).join(', ')} with ${catalog.pipelines.size} pipelines from ${s.pipelinesDir}`,
    );

    let code = 0;
    if (opts.run) {
      const order = topologicalOrder(catalog.graph);
      say(`\nRunning ${order.length} pipelines as one DAG run (upstreams first): ${order.join(', ')}\n`);
      code = await runPipelines(order, {
        ...(opts.dir ? { dir: opts.dir } : {}),
        ...(opts.window ? { window: opts.window } : {}),
      });
    }

    say('');
    say(`${style.bold('Temporal Web UI:')}  ${server.uiUrl}/namespaces/${s.namespace}/workflows`);
    say(`${style.bold('Temporal address:')} ${server.address}`);
    if (embedded) {
      say(
        `${style.bold('PostgreSQL:')}       ${embedded.baseUrl}/<connection>  (data in ${join(s.stateDir, 'postgres')})`,
      );
      for (const name of [...used].sort()) {
        if (configured.has(name)) continue;
        say(
          `  ${name.padEnd(10)} psql ${embedded.baseUrl}/${name}   ${style.dim(`(or set ${connectionEnvVar(name)})`)}`,
        );
      }
    }
    const outputs = [...catalog.pipelines.values()].flatMap((e) => e.spec.outputs.map((o) => `${o} ← ${e.spec.name}`));
    if (outputs.length > 0) say(`${style.bold('Datasets written:')} ${outputs.join(', ')}`);
    say(`${style.bold('Files:')}            relative paths of file steps are under ${s.filesDir}`);

    if (opts.once) {
      await cleanup();
      return code;
    }
    say(`\nServing. Try: pipectl run <pipeline> --window 2026-11-20   (Ctrl-C to stop)`);
    // The Temporal runtime shuts workers down on SIGINT/SIGTERM; `running` resolves once in-flight steps finished.
    await running;
    cleanups.pop();
    await cleanup();
    say('Stopped.');
    return code;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
