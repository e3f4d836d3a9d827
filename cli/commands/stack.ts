import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';

const port = (flag: string) =>
  z.coerce
    .number({ message: `${flag} must be a port number` })
    .int(`${flag} must be a port number`)
    .min(1, `${flag} must be a port number (1-65535)`)
    .max(65535, `${flag} must be a port number (1-65535)`);

/** Options of `pipectl stack up`. */
export const StackUpOptions = z.object({
  /** Folder of data, logs and pid files (default `$PIPECTL_STATE_DIR/stack`, i.e. `.pipectl/stack`). */
  stateDir: z.string().min(1).optional(),
  /** Number of worker processes (default 2, or the running stack's). */
  workers: z.coerce
    .number({ message: '--workers must be a whole number' })
    .int('--workers must be a whole number')
    .min(0, '--workers must be at least 0')
    .max(64, '--workers must be at most 64')
    .optional(),
  /** Temporal frontend port (default 7233, or the port of `TEMPORAL_ADDRESS` when set); the other ports follow it. */
  port: port('--port').optional(),
  /** PostgreSQL port (default 55433). */
  postgresPort: port('--postgres-port').optional(),
  /** Folder of pipeline definitions the workers load. */
  dir: z.string().min(1).optional(),
  json: z.boolean().optional(),
});
export type StackUpOptions = z.infer<typeof StackUpOptions>;

/** Options of `pipectl stack down`. */
export const StackDownOptions = z.object({
  stateDir: z.string().min(1).optional(),
  /** How long workers may finish their steps, and the server its work, before they are killed. */
  grace: z.string().optional(),
});
export type StackDownOptions = z.infer<typeof StackDownOptions>;

async function parse<T>(schema: z.ZodType<T>, opts: unknown): Promise<T> {
  const parsed = schema.safeParse(opts);
  if (parsed.success) return parsed.data;
  const { UserError } = await import('../errors');
  throw new UserError(parsed.error.issues.map((i) => i.message).join('; '));
}

async function stateDirOf(opts: { stateDir?: string | undefined }): Promise<string> {
  const { settings } = await import('../../temporal-config/settings');
  return resolve(opts.stateDir ?? join(settings().stateDir, 'stack'));
}

/** `pipectl stack up|down|status`: the production topology from plain processes (no Docker). */
export function registerStack(program: Command): void {
  const stack = program
    .command('stack')
    .description(
      'the production topology from plain processes: PostgreSQL, the Temporal server (built from its Go module) and N workers',
    );
  stack
    .command('install')
    .description(
      'find or build the Temporal server and temporal-sql-tool (TEMPORAL_SERVER_PATH + TEMPORAL_SQL_TOOL_PATH, PATH, cache; else built from their Go module) and print their paths',
    )
    .action(async () => {
      const { settings } = await import('../../temporal-config/settings');
      const { ensureTemporalServer } = await import('../../temporal-config/temporal-server');
      const found = await ensureTemporalServer(settings().cacheDir, (l) => process.stderr.write(`${l}\n`));
      process.stdout.write(`${found.server}\n${found.sqlTool}\n`);
    });
  stack
    .command('up')
    .description('start the stack in the background (or what of it is not running; scales the workers to --workers)')
    .option('--state-dir <folder>', 'data, logs and pid files (default: $PIPECTL_STATE_DIR/stack)')
    .option('-w, --workers <n>', 'worker processes (default: 2)')
    .option('-p, --port <port>', 'Temporal frontend port; the other Temporal ports follow it (default: 7233)')
    .option('--postgres-port <port>', 'PostgreSQL port (default: 55433)')
    .option('-d, --dir <folder>', 'folder of pipeline definitions the workers load')
    .option('--json', 'print the stack as JSON')
    .action(async (raw: unknown) => {
      const opts = await parse(StackUpOptions, raw);
      const { settings } = await import('../../temporal-config/settings');
      const { readStackConfig, startStack } = await import('../../temporal-config/stack');
      const s = settings();
      const stateDir = await stateDirOf(opts);
      const recorded = readStackConfig(stateDir);
      const envPort = process.env.TEMPORAL_ADDRESS ? Number(s.temporalAddress.split(':').pop()) : undefined;
      const frontend = opts.port ?? (recorded ? undefined : envPort);
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const result = await startStack({
        stateDir,
        cacheDir: s.cacheDir,
        namespace: process.env.TEMPORAL_NAMESPACE ? s.namespace : (recorded?.namespace ?? s.namespace),
        ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
        ...(opts.dir || !recorded ? { pipelinesDir: opts.dir ?? s.pipelinesDir } : {}),
        ...(process.env.PIPECTL_TASK_QUEUE ? { taskQueue: s.taskQueue } : {}),
        ports: {
          ...(frontend !== undefined ? { frontend } : {}),
          ...(opts.postgresPort !== undefined ? { postgres: opts.postgresPort } : {}),
        },
        log,
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const nothing =
        !result.started.postgres &&
        !result.started.server &&
        result.started.workers.length === 0 &&
        result.stoppedWorkers.length === 0;
      const state = (started: boolean) => (started ? 'started' : 'already running');
      const out = [
        nothing
          ? `A stack is already running from ${result.config.stateDir}; nothing to start.`
          : `Stack running from ${result.config.stateDir}`,
        `  Temporal    ${result.address}, namespace ${result.config.namespace} (${state(result.started.server)}, pid ${result.serverPid})`,
        `  PostgreSQL  ${result.postgresUrl} (${state(result.started.postgres)}, pid ${result.postgresPid})`,
        `  workers     ${result.workers.map((w) => `#${w.index} pid ${w.pid}${result.started.workers.includes(w.index) ? '' : ' (already running)'}`).join(', ') || 'none'}`,
        `  pipelines   ${result.config.pipelinesDir}`,
        `  logs        ${result.logsDir}`,
        '',
        `Point pipectl at it:  export TEMPORAL_ADDRESS=${result.address} TEMPORAL_NAMESPACE=${result.config.namespace}`,
        `Stop it:             pipectl stack down${stateDirFlag(opts.stateDir)}`,
      ];
      process.stdout.write(`${out.join('\n')}\n`);
    });
  stack
    .command('down')
    .description('stop the workers (SIGTERM, then SIGKILL after --grace), the Temporal server and PostgreSQL')
    .option('--state-dir <folder>', 'the stack to stop (default: $PIPECTL_STATE_DIR/stack)')
    .option('--grace <duration>', 'time running steps get to finish before processes are killed (default: 30s)')
    .action(async (raw: unknown) => {
      const opts = await parse(StackDownOptions, raw);
      const { parseDuration } = await import('../../core/duration');
      const { stopStack } = await import('../../temporal-config/stack');
      const graceMs = opts.grace === undefined ? 30_000 : parseDuration(opts.grace);
      if (graceMs === undefined) {
        const { UserError } = await import('../errors');
        throw new UserError(`--grace ${JSON.stringify(opts.grace)}: expected a duration, e.g. 30s or 2 minutes`);
      }
      const stateDir = await stateDirOf(opts);
      const report = await stopStack(stateDir, { graceMs, log: (line) => process.stdout.write(`${line}\n`) });
      if (!report.postgres && !report.server && report.workers.length === 0) {
        process.stdout.write(`No stack is running from ${stateDir}.\n`);
      } else process.stdout.write(`Stack stopped; data and logs stay in ${stateDir}.\n`);
    });
  stack
    .command('status')
    .description('say which parts of the stack run (exit 2 unless all do)')
    .option('--state-dir <folder>', 'the stack (default: $PIPECTL_STATE_DIR/stack)')
    .option('--json', 'print as JSON')
    .action(async (raw: { stateDir?: string; json?: boolean }) => {
      const { readStackConfig, stackProcesses } = await import('../../temporal-config/stack');
      const stateDir = await stateDirOf(raw);
      const config = readStackConfig(stateDir);
      const running = stackProcesses(stateDir);
      const all =
        config !== undefined &&
        running.postgres !== undefined &&
        running.server !== undefined &&
        running.workers.length >= config.workers;
      if (raw.json) {
        process.stdout.write(`${JSON.stringify({ stateDir, config, running, allRunning: all }, null, 2)}\n`);
      } else if (!config) {
        process.stdout.write(`No stack was started from ${stateDir}.\n`);
      } else {
        const show = (pid: number | undefined) => (pid !== undefined ? `running (pid ${pid})` : 'stopped');
        process.stdout.write(
          [
            `Stack in ${stateDir}`,
            `  Temporal    127.0.0.1:${config.ports.frontend}: ${show(running.server)}`,
            `  PostgreSQL  127.0.0.1:${config.ports.postgres}: ${show(running.postgres)}`,
            `  workers     ${running.workers.length} of ${config.workers} running${running.workers.length ? ` (pids ${running.workers.map((w) => w.pid).join(', ')})` : ''}`,
          ].join('\n') + '\n',
        );
      }
      if (!all) process.exitCode = 2;
    });
}

function stateDirFlag(stateDir: string | undefined): string {
  return stateDir ? ` --state-dir ${JSON.stringify(stateDir)}` : '';
}
