import type { Command } from 'commander';

/** `pipectl server start|stop|status`: the local Temporal development server. */
export function registerServer(program: Command): void {
  const server = program.command('server').description('manage the local Temporal development server (SQLite, Web UI)');
  server
    .command('start')
    .description('start the dev server in the background (builds the Temporal CLI on first use)')
    .action(async () => {
      const { settings } = await import('../../temporal-config/settings');
      const { startDevServer } = await import('../../temporal-config/dev-server');
      const s = settings();
      const dev = await startDevServer({
        stateDir: s.stateDir,
        cacheDir: s.cacheDir,
        port: Number(s.temporalAddress.split(':').pop()),
        uiPort: s.uiPort,
        namespace: s.namespace,
        // The Web UI shows payloads decoded by the codec server, as `pipectl dev` sets it up.
        ...(s.codecEndpoint ? { codecEndpoint: s.codecEndpoint } : {}),
        log: (l) => process.stderr.write(`${l}\n`),
      });
      process.stdout.write(
        `Temporal ${dev.started ? 'started' : 'already running'} at ${dev.address}; Web UI ${dev.uiUrl}\n`,
      );
    });
  server
    .command('install')
    .description(
      'find or build the Temporal CLI (TEMPORAL_CLI_PATH, PATH, cache; else build from its Go module) and print its path',
    )
    .action(async () => {
      const { settings } = await import('../../temporal-config/settings');
      const { ensureTemporalCli } = await import('../../temporal-config/temporal-cli');
      const cli = await ensureTemporalCli(settings().cacheDir, (l) => process.stderr.write(`${l}\n`));
      if (!cli) throw new Error('no Temporal CLI could be found, built or installed; set TEMPORAL_CLI_PATH');
      process.stdout.write(`${cli.path}\n`);
    });
  server
    .command('stop')
    .description('stop the dev server started by pipectl')
    .action(async () => {
      const { settings } = await import('../../temporal-config/settings');
      const { stopDevServerAt } = await import('../../temporal-config/dev-server');
      const stopped = await stopDevServerAt(settings().stateDir);
      process.stdout.write(stopped ? 'Temporal dev server stopped\n' : 'no dev server started by pipectl is running\n');
    });
  server
    .command('status')
    .description('say whether a Temporal server answers at TEMPORAL_ADDRESS')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const { settings } = await import('../../temporal-config/settings');
      const { isTemporalServer } = await import('../../temporal-config/dev-server');
      const s = settings();
      const up = await isTemporalServer(s.temporalAddress);
      if (opts.json) process.stdout.write(`${JSON.stringify({ address: s.temporalAddress, running: up })}\n`);
      else process.stdout.write(`${s.temporalAddress}: ${up ? 'running' : 'not answering'}\n`);
      if (!up) process.exitCode = 2;
    });
}
