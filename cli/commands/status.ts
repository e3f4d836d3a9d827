import type { Command } from 'commander';
import type * as Status from '../status';

/** An action that loads the status module (and the Temporal client) only when it runs, and sets the exit code. */
function lazy<A extends unknown[]>(pick: (m: typeof Status) => (...args: A) => Promise<number>) {
  return async (...args: A): Promise<void> => {
    process.exitCode = await pick(await import('../status'))(...args);
  };
}

const DIR_HELP = 'folder of pipeline definitions (default: $PIPECTL_PIPELINES_DIR or ./pipelines)';

/** `pipectl status` and `pipectl runs <pipeline>`. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'one line per pipeline: group, schedule in words, paused, its latest run (state, window, finish, duration, rows), next run, latest error',
    )
    .option('-d, --dir <folder>', DIR_HELP)
    .option('--json', 'print { namespace, pipelines } as JSON')
    .action(lazy((m) => m.statusCommand));
  program
    .command('runs')
    .description(
      'the recent runs of a pipeline, newest first: workflow ID, kind, window, status, start, duration, rows, error',
    )
    .argument('<pipeline>', 'the pipeline (pipectl status lists them)')
    .option('-n, --limit <n>', 'most recent runs to list (default 20)')
    .option('-d, --dir <folder>', DIR_HELP)
    .option('--json', 'print { namespace, pipeline, runs } as JSON')
    .addHelpText('after', '\nExamples:\n  pipectl runs orders_daily\n  pipectl runs orders_daily --limit 50 --json')
    .action(lazy((m) => m.runsCommand));
}
