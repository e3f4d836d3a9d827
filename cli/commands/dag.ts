import type { Command } from 'commander';
import type * as DagCommands from '../dag-commands';

/** Options of `pipectl dag status`. */
export interface DagStatusOptions {
  json?: boolean;
  watch?: boolean;
}

/** Options of `pipectl dag retry`. */
export interface DagRetryOptions {
  json?: boolean;
  detach?: boolean;
}

/** Options of the `pipectl dag` commands that only act: pause, resume, retry-node, skip-node, cancel. */
export interface DagActionOptions {
  json?: boolean;
}

/** An action that loads the DAG commands (and the Temporal client) only when it runs, and sets the exit code. */
function lazy<A extends unknown[]>(pick: (m: typeof DagCommands) => (...args: A) => Promise<number>) {
  return async (...args: A): Promise<void> => {
    process.exitCode = await pick(await import('../dag-commands'))(...args);
  };
}

/** `pipectl dag …`: looks at and steers a DAG run by its workflow ID. */
export function registerDag(program: Command): void {
  const dag = program
    .command('dag')
    .description('look at and steer a DAG run: status, retry from failure, pause, resume, retry or skip a node, cancel')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  pipectl dag status dag/manual/2026-11-20T00:00:00.000Z/1a2b3c4d5e\n' +
        '  pipectl dag retry dag/manual/2026-11-20T00:00:00.000Z/1a2b3c4d5e\n' +
        '  pipectl dag skip-node dag/manual/2026-11-20T00:00:00.000Z/1a2b3c4d5e revenue_report',
    );
  /** A subcommand whose first argument is the DAG run's workflow ID. */
  const sub = (name: string, description: string) =>
    dag
      .command(name)
      .description(description)
      .argument('<dag run id>', 'the workflow ID of the DAG run (pipectl run prints it)');
  sub('status', 'show every node of a DAG run, counts per state and progress; on a terminal, live until it closes')
    .option('--watch', 'not on a terminal: print node changes as lines until the DAG run closes')
    .option('--json', 'print the state of every node and the counts per state as JSON, once')
    .action(lazy((m) => m.dagStatus));
  sub(
    'retry',
    'restart a closed DAG run from failure: nodes that succeeded or were skipped keep their results, the others run',
  )
    .option('--detach', 'start the restart and exit without following it')
    .option('--json', 'print the results as JSON (as pipectl run does)')
    .action(lazy((m) => m.dagRetry));
  sub('pause', 'stop a running DAG run from starting pipelines; running ones finish')
    .option('--json', 'print the outcome as JSON')
    .action(lazy((m) => m.dagPause));
  sub('resume', 'let a paused DAG run start pipelines again')
    .option('--json', 'print the outcome as JSON')
    .action(lazy((m) => m.dagResume));
  sub('retry-node', 'run a failed or cancelled node again inside a running DAG run, then its downstream')
    .argument('<node>', 'pipeline name')
    .option('--json', 'print the DAG run state after it as JSON')
    .action(lazy((m) => m.dagRetryNode));
  sub('skip-node', 'mark a node of a running DAG run skipped: it does not run, its downstream runs as if it succeeded')
    .argument('<node>', 'pipeline name')
    .option('--json', 'print the DAG run state after it as JSON')
    .action(lazy((m) => m.dagSkipNode));
  sub('cancel', 'cancel a running DAG run and its running pipelines; waits until it closed')
    .option('--json', 'print the final state as JSON')
    .action(lazy((m) => m.dagCancel));
}
