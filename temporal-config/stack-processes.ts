import { spawn, type SpawnOptions } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * True when `pid` is a live process (not a zombie) whose command line contains `expect`. The check on the command
 * line keeps a stale pid file, whose pid the system has since given to another program, from making pipectl signal a
 * process it did not start.
 */
export function processRuns(pid: number, expect: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone; EPERM: another user's process, so not one pipectl started.
    return false;
  }
  if (!existsSync('/proc')) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name: `Z` is a zombie, already exited.
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(expect);
  } catch {
    return false;
  }
}

/** The pid recorded in a pid file, if the file exists and holds one. */
export function readPidFile(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The pid of a pid file when that process still runs `expect`; otherwise `undefined`. */
export function runningPid(file: string, expect: string): number | undefined {
  const pid = readPidFile(file);
  return pid !== undefined && processRuns(pid, expect) ? pid : undefined;
}

/** Resolves once `pid` no longer runs `expect`, or `false` after `timeoutMs`. */
export async function waitForExit(pid: number, expect: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processRuns(pid, expect)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/**
 * Stops the process of a pid file: `signal` first, then `SIGKILL` when it has not exited after `graceMs` (a grace
 * of 0 sends `SIGKILL` straight away). Removes the pid file. Resolves true when a running process was stopped.
 */
export async function stopPidFile(
  file: string,
  expect: string,
  options: { signal?: NodeJS.Signals; graceMs: number; hardSignal?: NodeJS.Signals },
): Promise<boolean> {
  const pid = runningPid(file, expect);
  if (pid === undefined) {
    rmSync(file, { force: true });
    return false;
  }
  const hard = options.hardSignal ?? 'SIGKILL';
  process.kill(pid, options.graceMs > 0 ? (options.signal ?? 'SIGTERM') : hard);
  if (!(await waitForExit(pid, expect, options.graceMs)) && processRuns(pid, expect)) {
    process.kill(pid, hard);
    await waitForExit(pid, expect, 30_000);
  }
  rmSync(file, { force: true });
  return true;
}

/** A process started in the background: it outlives the process that started it and logs to a file. */
export interface Daemon {
  pid: number;
  /** Why it exited, once it has (while this process still watches it). */
  exited(): string | undefined;
}

/**
 * Starts `command` detached in its own process group with stdout and stderr appended to `logFile`, and writes its pid
 * to `pidFile`. The caller waits for it to be ready.
 */
export function startDaemon(
  command: string,
  args: string[],
  files: { logFile: string; pidFile: string },
  options: Pick<SpawnOptions, 'env' | 'cwd' | 'uid' | 'gid'> = {},
): Daemon {
  mkdirSync(dirname(files.logFile), { recursive: true });
  mkdirSync(dirname(files.pidFile), { recursive: true });
  const out = openSync(files.logFile, 'a');
  let child;
  try {
    child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  let exit: string | undefined;
  child.once('error', (err) => (exit = `${command} could not be started: ${err.message}`));
  child.once('exit', (code, signal) => (exit = `exited with ${signal ?? `code ${code}`}`));
  child.unref();
  if (child.pid === undefined) throw new Error(`${command} could not be started (no pid); see ${files.logFile}`);
  writeFileSync(files.pidFile, `${child.pid}\n`);
  return { pid: child.pid, exited: () => exit };
}

/** The size of a file, or 0 when it does not exist (where to start reading what a process logs from now on). */
export function fileSize(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

/** The text a log file gained after byte `from`. */
export function logSince(file: string, from: number): string {
  if (!existsSync(file)) return '';
  return readFileSync(file).subarray(from).toString('utf8');
}

/** The last `lines` lines of a log file, for error messages. */
export function logTail(file: string, lines = 15): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Runs `command` to completion with its output appended to `logFile`; resolves how it ended (`code 0` is success). */
export function runToLog(
  command: string,
  args: string[],
  logFile: string,
  options: Pick<SpawnOptions, 'env' | 'cwd'> = {},
): Promise<string> {
  mkdirSync(dirname(logFile), { recursive: true });
  const out = openSync(logFile, 'a');
  return new Promise<string>((resolvePromise) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', out, out] });
    child.once('error', (err) => resolvePromise(`${command} could not be started: ${err.message}`));
    child.once('exit', (code, signal) => resolvePromise(signal ? `signal ${signal}` : `code ${code}`));
  }).finally(() => closeSync(out));
}
