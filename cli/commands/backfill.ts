import type { Command } from 'commander';
import type * as Backfill from '../backfill';

/** Options of `pipectl backfill <target>`. */
export interface BackfillOptions {
  from?: string;
  to?: string;
  parallel?: string;
  reverse?: boolean;
  skipSucceeded?: boolean;
  detach?: boolean;
  json?: boolean;
  dir?: string;
}

/** An action that loads the backfill module (and the Temporal client) only when it runs, and sets the exit code. */
function lazy<A extends unknown[]>(pick: (m: typeof Backfill) => (...args: A) => Promise<number>) {
  return async (...args: A): Promise<void> => {
    process.exitCode = await pick(await import('../backfill'))(...args);
  };
}

/** A subcommand's `--json`, wherever it was written: the parent `backfill` takes it too when it follows the ID. */
function jsonOf(cmd: Command): { json?: boolean } {
  return { json: (cmd.optsWithGlobals<{ json?: boolean }>().json ?? false) === true };
}

/**
 * `pipectl backfill <pipeline|group> --from --to`: one DAG run per window of the group's schedule in the range, durably;
 * `pipectl backfill status|pause|resume|cancel <id>` look at and steer one by its workflow ID.
 */
export function registerBackfill(program: Command): void {
  const backfill = program
    .command('backfill')
    .description('run every window of a date range again, durably: one DAG run per window, N at a time')
    .argument('<pipeline|group>', "a group, or a pipeline alone (with its group's schedule)")
    .option('--from <date>', "earliest window start (required): a date or local datetime in the group's time zone")
    .option('--to <date>', 'latest window end (required), read the same way')
    .option('-p, --parallel <n>', 'most DAG runs at once (default 1)')
    .option('--reverse', 'newest window first')
    .option('--skip-succeeded', 'skip windows whose DAG run last closed successfully')
    .option('-d, --dir <folder>', 'folder of pipeline definitions')
    .option('--detach', 'start the backfill and exit without following it')
    .option('--json', 'print the final counts and failed windows as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  pipectl backfill daily-0400-europe-paris --from 2026-01-01 --to 2026-02-01 --parallel 4\n' +
        '  pipectl backfill orders_daily --from 2026-01-01 --to 2026-02-01 --skip-succeeded\n' +
        '  pipectl backfill status backfill/orders_daily/2026-01-01/2026-02-01',
    )
    .action(lazy((m) => (target: string, opts: BackfillOptions) => m.runBackfill(target, opts)));
  const sub = (name: string, description: string) =>
    backfill
      .command(name)
      .description(description)
      .argument('<backfill id>', 'the workflow ID of the backfill (pipectl backfill prints it)')
      .option('--json', 'print the outcome as JSON');
  sub('status', 'show counts of done, running, failed, skipped and remaining windows, and the failed ones').action(
    lazy((m) => (id: string, _opts: unknown, cmd: Command) => m.backfillStatus(id, jsonOf(cmd))),
  );
  sub('pause', 'stop a backfill from starting DAG runs; running ones finish').action(
    lazy((m) => (id: string, _opts: unknown, cmd: Command) => m.backfillAction('pause', id, jsonOf(cmd))),
  );
  sub('resume', 'let a paused backfill start DAG runs again').action(
    lazy((m) => (id: string, _opts: unknown, cmd: Command) => m.backfillAction('resume', id, jsonOf(cmd))),
  );
  sub('cancel', 'cancel a backfill and its running DAG runs').action(
    lazy((m) => (id: string, _opts: unknown, cmd: Command) => m.backfillAction('cancel', id, jsonOf(cmd))),
  );
}
