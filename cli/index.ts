import { Command } from 'commander';
import { registerBackfill } from './commands/backfill';
import { registerCodecServer } from './commands/codec-server';
import { registerDag } from './commands/dag';
import { registerDev } from './commands/dev';
import { registerGraph } from './commands/graph';
import { registerReplay } from './commands/replay';
import { registerRun } from './commands/run';
import { registerSchedules } from './commands/schedules';
import { registerServer } from './commands/server';
import { registerStack } from './commands/stack';
import { registerStatus } from './commands/status';
import { registerSync } from './commands/sync';
import { registerValidate } from './commands/validate';
import { registerWorker } from './commands/worker';
import { reportError } from './report-error';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../workers/package-root';

function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** `pipectl`: registers the commands; each lives in its own file and loads its heavy modules only when run. */
export function buildProgram(): Command {
  const program = new Command('pipectl')
    .description('Scheduled, dependent data pipelines on Temporal')
    .version(version())
    .showHelpAfterError('(run with --help for usage)');
  registerDev(program);
  registerValidate(program);
  registerRun(program);
  registerDag(program);
  registerBackfill(program);
  registerGraph(program);
  registerSync(program);
  registerSchedules(program);
  registerReplay(program);
  registerStatus(program);
  registerWorker(program);
  registerServer(program);
  registerStack(program);
  registerCodecServer(program);
  return program;
}

if (require.main === module || process.env.PIPECTL_CLI_MAIN === '1') {
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      process.exitCode = reportError(err);
    });
}
