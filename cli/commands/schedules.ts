import type { Command } from 'commander';
import type * as ScheduleCommands from '../schedule-commands';

/** An action that loads the schedule commands (and the Temporal client) only when it runs, and sets the exit code. */
function lazy<A extends unknown[]>(pick: (m: typeof ScheduleCommands) => (...args: A) => Promise<number>) {
  return async (...args: A): Promise<void> => {
    process.exitCode = await pick(await import('../schedule-commands'))(...args);
  };
}

const DIR_HELP = 'folder of pipeline definitions (default: $PIPECTL_PIPELINES_DIR or ./pipelines)';

/** `pipectl schedules`, `pipectl pause|resume <pipeline|group>`, `pipectl trigger <group>`. */
export function registerSchedules(program: Command): void {
  program
    .command('schedules')
    .description('list every group: its pipelines, schedule in words, paused state and note, next three firings')
    .option('-d, --dir <folder>', DIR_HELP)
    .option('--json', 'print the groups as JSON')
    .action(lazy((m) => m.showSchedules));
  program
    .command('pause')
    .description(
      "pause a group's Schedule, or one pipeline inside a larger group (its group's runs skip it, and its downstream unless --downstream run)",
    )
    .argument('<pipeline|group>', 'a group, or a pipeline (a pipeline alone in its group pauses the group)')
    .option('--note <text>', 'why; shown by pipectl schedules and in the Web UI')
    .option('--downstream <skip|run>', 'for a pipeline: skip everything downstream of it too (default), or run it')
    .option('-d, --dir <folder>', DIR_HELP)
    .option('--json', 'print the outcome as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  pipectl pause daily-0400-europe-paris --note "source migration until Monday"\n' +
        '  pipectl pause orders_daily --downstream run --note "upstream API down"',
    )
    .action(lazy((m) => m.pauseCommand));
  program
    .command('resume')
    .description("resume a group's Schedule, or a pipeline paused inside its group")
    .argument('<pipeline|group>', 'a group, or a pipeline')
    .option('--note <text>', "for a group: the Schedule's note after resuming")
    .option('-d, --dir <folder>', DIR_HELP)
    .option('--json', 'print the outcome as JSON')
    .action(lazy((m) => m.resumeCommand));
  program
    .command('trigger')
    .description(
      "run a group now through its Schedule, for the latest complete window (the Schedule's overlap policy applies)",
    )
    .argument('<group>', 'the group (pipectl schedules lists them)')
    .option('-d, --dir <folder>', DIR_HELP)
    .option('--json', 'print the started DAG run as JSON')
    .action(lazy((m) => m.triggerCommand));
}
