import type { Client } from '@temporalio/client';
import type { PausedDownstream } from '../core/dag-input';
import type { Settings } from '../temporal-config/settings';
import { describePaused } from '../temporal-config/schedules';
import { catalogFor, commandSettings } from './context';
import { UserError } from './errors';
import { printJson, style } from './output';
import { webUiLink } from './run-pipelines';
import { connectClient } from './runs';
import {
  listSchedules,
  pause,
  pauseTarget,
  resume,
  trigger,
  type PauseResult,
  type ScheduleRow,
} from './schedule-control';

/** Options the schedule commands share. */
export interface ScheduleCommandOptions {
  dir?: string;
  json?: boolean;
}

/** Options of `pipectl pause` / `pipectl resume`. */
export interface PauseOptions extends ScheduleCommandOptions {
  note?: string;
  downstream?: string;
}

/** Runs `body` with a client for the command's settings, closing the connection after. */
async function withClient<T>(
  opts: ScheduleCommandOptions,
  body: (client: Client, s: Settings) => Promise<T>,
): Promise<T> {
  const s = commandSettings(opts);
  const client = await connectClient(s);
  try {
    return await body(client, s);
  } finally {
    await client.connection.close();
  }
}

/** `pipectl schedules`: every group, its pipelines, schedule in words, paused state and the next three firings. */
export async function showSchedules(opts: ScheduleCommandOptions): Promise<number> {
  const s = commandSettings(opts);
  const catalog = catalogFor(s);
  const rows = await withClient(opts, (client) => listSchedules(client, catalog, s.taskQueue));
  if (opts.json) {
    printJson({ namespace: s.namespace, schedules: rows });
    return 0;
  }
  if (rows.length === 0) {
    process.stdout.write('No pipeline has a schedule.\n');
    return 0;
  }
  process.stdout.write(`${rows.map(formatRow).join('\n\n')}\n`);
  return 0;
}

function formatRow(row: ScheduleRow): string {
  const state = row.paused
    ? style.yellow(`paused${row.note ? `: ${row.note}` : ''}`)
    : row.sync === 'not synced'
      ? style.dim('not synced (pipectl sync creates it)')
      : style.green('active');
  const sync =
    row.sync === 'in sync' || row.sync === 'not synced'
      ? ''
      : style.yellow(
          row.sync === 'out of date'
            ? '  (the code changed since the last sync: pipectl sync)'
            : row.sync === 'not in code'
              ? '  (no longer in the code: pipectl sync --prune deletes it)'
              : '  (exists but was not created by pipectl)',
        );
  const lines = [`${style.bold(row.group)}  ${style.dim(row.scheduleId)}  ${state}${sync}`];
  if (row.schedule) lines.push(`  schedule   ${row.schedule}`);
  if (row.pipelines.length) lines.push(`  pipelines  ${row.pipelines.join(', ')}`);
  for (const [name, p] of Object.entries(row.pausedPipelines))
    lines.push(`  ${style.yellow('paused')}     ${describePaused(name, p)}`);
  const notes = [row.timezone];
  if (row.nextSource === 'definition') notes.push('from the definition');
  if (row.paused) notes.push('none fires while paused');
  const next = row.next.map((n) => n.local).join(', ') || 'none';
  lines.push(`  next       ${next}  ${style.dim(`(${notes.join('; ')})`)}`);
  return lines.join('\n');
}

const DOWNSTREAM: readonly PausedDownstream[] = ['skip', 'run'];

/** `pipectl pause <pipeline|group>`. */
export async function pauseCommand(name: string, opts: PauseOptions): Promise<number> {
  const downstream = (opts.downstream ?? 'skip') as PausedDownstream;
  if (!DOWNSTREAM.includes(downstream))
    throw new UserError(`--downstream must be skip or run, not '${opts.downstream}'`);
  const s = commandSettings(opts);
  const target = pauseTarget(catalogFor(s), name);
  if (target.kind === 'group' && opts.downstream)
    throw new UserError(`--downstream applies to a pipeline paused inside a larger group; '${name}' pauses its group`);
  const res = await withClient(opts, (client) => pause(client, target, { downstream, ...noteOf(opts) }));
  return report(res, 'paused', opts);
}

/** `pipectl resume <pipeline|group>`. */
export async function resumeCommand(name: string, opts: PauseOptions): Promise<number> {
  const s = commandSettings(opts);
  const target = pauseTarget(catalogFor(s), name);
  const res = await withClient(opts, (client) => resume(client, target, noteOf(opts)));
  return report(res, 'resumed', opts);
}

const noteOf = (opts: PauseOptions) => (opts.note ? { note: opts.note } : {});

function report(res: PauseResult, verb: 'paused' | 'resumed', opts: PauseOptions): number {
  if (opts.json) {
    printJson(res);
    return 0;
  }
  const what =
    res.target.kind === 'group'
      ? `group ${res.target.group} (Schedule ${res.scheduleId})`
      : `pipeline ${res.target.pipeline} in group ${res.target.group}`;
  const lines = [res.outcome === 'unchanged' ? `${what} was already ${verb}` : `${style.green('✓')} ${verb} ${what}`];
  if (res.target.kind === 'pipeline' && verb === 'paused') {
    const p = res.pausedPipelines[res.target.pipeline]!;
    lines.push(
      `  the group's runs skip it${p.downstream === 'skip' ? ' and everything downstream of it' : '; its downstream still runs'}`,
    );
  }
  if (res.schedulePaused) lines.push(`  the group's Schedule is paused${res.note ? `: ${res.note}` : ''}`);
  const others = Object.keys(res.pausedPipelines);
  if (others.length) lines.push(`  paused inside the group: ${others.join(', ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** `pipectl trigger <group>`: one run of the group now, for the latest complete window. */
export async function triggerCommand(group: string, opts: ScheduleCommandOptions): Promise<number> {
  const s = commandSettings(opts);
  const catalog = catalogFor(s);
  const res = await withClient(opts, (client) => trigger(client, catalog, group));
  const webUi = res.workflowId ? webUiLink(s.uiPort, s.namespace, res.workflowId) : undefined;
  if (opts.json) {
    printJson({ ...res, ...(webUi ? { webUi } : {}) });
    return res.workflowId ? 0 : 1;
  }
  if (!res.workflowId) {
    const running = res.skipped!.running.join(', ');
    process.stdout.write(`${style.yellow('!')} not started: ${res.skipped!.reason}${running ? ` (${running})` : ''}\n`);
    return 1;
  }
  process.stdout.write(
    `${style.green('✓')} triggered ${group}: ${res.workflowId}\n  window ${res.window.start} → ${res.window.end}\n  ${style.dim(webUi!)}\n  follow it: pipectl dag status --watch ${res.workflowId}\n`,
  );
  return 0;
}
