import type { Command } from 'commander';
import type { ReplayOptions } from '../replay';

/** `pipectl replay`: the pre-deploy check that new workflow code can continue the runs on the server. */
export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      'replay recent runs from the server against the current workflow code; exit 1 listing the runs it would break',
    )
    .option('-q, --query <visibility query>', 'which runs, e.g. "PipelineName = \'orders_daily\'" (pipectl runs only)')
    .option('-n, --limit <n>', 'most recent runs to replay (default 100)')
    .option('--bundle <file>', 'workflow bundle to check (default: the prebuilt dist/workflow-bundle.js)')
    .option('--json', 'print the outcome as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  npm run build && pipectl replay --limit 500\n' +
        '  pipectl replay --query "ExecutionStatus = \'Running\'"',
    )
    .action(async (opts: ReplayOptions) => {
      const { replayCommand } = await import('../replay');
      process.exitCode = await replayCommand(opts);
    });
}
