import type { Command } from 'commander';

/** Options of `pipectl run`. */
interface RunOptions {
  dir?: string;
  window?: string;
  json?: boolean;
  detach?: boolean;
}

/** `pipectl run <pipeline...>`: runs now, follows the run, exits with its outcome. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run pipelines now for one window, follow them, and exit non-zero if one failed')
    .argument('<pipelines...>', 'pipeline names; several run in dependency order')
    .option(
      '-w, --window <window>',
      "a date (2026-11-20: that day in the pipeline's time zone) or start/end (default: yesterday)",
    )
    .option('-d, --dir <folder>', 'folder of pipeline definitions')
    .option('--detach', 'start the runs and exit without following them')
    .option('--json', 'print the results as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  pipectl run orders_daily --window 2026-11-20\n  pipectl run orders_daily customer_ltv --window 2026-11-01/2026-11-08',
    )
    .action(async (names: string[], opts: RunOptions) => {
      const { runPipelines } = await import('../run-pipelines');
      process.exitCode = await runPipelines(names, opts);
    });
}
