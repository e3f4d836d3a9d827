import type { Command } from 'commander';

/** `pipectl dev`: the whole local stack in one command. */
export function registerDev(program: Command): void {
  program
    .command('dev')
    .description(
      'start the local Temporal dev server, an embedded PostgreSQL and a worker, seed example data, run every pipeline once, and keep serving until Ctrl-C',
    )
    .option('-d, --dir <folder>', 'folder of pipeline definitions')
    .option('-w, --window <window>', 'window of the first runs (default: yesterday)')
    .option('--once', 'exit after the first runs (exit code 1 if one failed)')
    .option('--no-run', 'start everything but run nothing')
    .action(async (opts: { dir?: string; window?: string; once?: boolean; run: boolean }) => {
      const { dev } = await import('../dev');
      process.exitCode = await dev(opts);
    });
}
