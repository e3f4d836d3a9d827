import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import type { LogLevel } from '@temporalio/common';

const LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

let installed = false;

function jsonLine(entry: LogEntry): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry.meta ?? {})) {
    // Errors from the workflow sandbox are not instances of this realm's Error: recognise them by shape.
    const isError = v instanceof Error || (typeof v === 'object' && v !== null && 'message' in v && 'name' in v);
    meta[k] = isError
      ? { name: (v as Error).name, message: (v as Error).message }
      : typeof v === 'bigint'
        ? v.toString()
        : v;
  }
  return JSON.stringify({ time, level: entry.level.toLowerCase(), msg: entry.message, ...meta });
}

/**
 * Installs the worker's log output once per process: one JSON object per line on stderr, carrying the SDK's
 * attributes (workflow ID, run ID, activity type) and pipectl's (pipeline, window). `PIPECTL_LOG_LEVEL` sets the
 * threshold (TRACE, DEBUG, INFO, WARN, ERROR; default INFO); `PIPECTL_LOG_FORMAT=pretty` keeps the SDK's format.
 */
export function installWorkerLogging(env: NodeJS.ProcessEnv = process.env): void {
  if (installed) return;
  installed = true;
  const raw = (env.PIPECTL_LOG_LEVEL ?? 'INFO').toUpperCase();
  if (!LEVELS.includes(raw as LogLevel)) {
    throw new Error(`PIPECTL_LOG_LEVEL=${env.PIPECTL_LOG_LEVEL}: expected one of ${LEVELS.join(', ')}`);
  }
  const level = raw as LogLevel;
  const logger =
    env.PIPECTL_LOG_FORMAT === 'pretty'
      ? new DefaultLogger(level)
      : new DefaultLogger(level, (entry) => process.stderr.write(`${jsonLine(entry)}\n`));
  try {
    Runtime.install({ logger });
  } catch {
    // A runtime already exists in this process (another worker was created first); its logger stays.
  }
}
