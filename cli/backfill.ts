import {
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Catalog } from '../catalog/load';
import { groupMembers } from '../core/groups';
import { resolveSchedule } from '../core/schedule';
import { describeWindow, parseWindow, WindowError } from '../core/window';
import {
  PIPELINE_GROUP,
  PIPELINE_NAME,
  RUN_KIND,
  WINDOW_END,
  WINDOW_START,
} from '../temporal-config/search-attributes';
import type { Settings } from '../temporal-config/settings';
import type { backfill } from '../workflows/backfill';
import {
  BACKFILL_FAILED,
  backfillProgressQuery,
  countWindows,
  pauseBackfillSignal,
  resumeBackfillSignal,
  type BackfillDag,
  type BackfillInput,
  type BackfillProgress,
} from '../workflows/backfill-definitions';
import { buildDagInput } from './dag';
import type { BackfillOptions } from './commands/backfill';
import { commandSettings, catalogFor } from './context';
import { UserError } from './errors';
import { interactive, printJson, style } from './output';
import { connectClient } from './runs';

/** What a backfill is asked to do, as the CLI and tests give it. */
export interface BackfillRequest {
  /** A pipeline or a group. */
  target: string;
  /** Earliest window start: a date or local datetime in the group's time zone, or an ISO instant. */
  from: string;
  /** Latest window end, read the same way. */
  to: string;
  parallel?: number;
  reverse?: boolean;
  skipSucceeded?: boolean;
  /** Windows per workflow run before continuing as new (default 500). */
  continueAsNewAfter?: number;
}

/** The workflow ID of a backfill: `backfill/<target>/<from>/<to>`, as the user wrote the dates. */
export function backfillWorkflowId(req: Pick<BackfillRequest, 'target' | 'from' | 'to'>): string {
  return `backfill/${req.target}/${req.from.trim()}/${req.to.trim()}`;
}

/**
 * The `backfill` input for a pipeline or a group. A group backfills all its members; a pipeline alone backfills just
 * itself with its group's schedule (its DAG runs get the pipeline's name as ID suffix, so they never stand for the
 * group's). Refuses a target without a schedule and a range with no window.
 */
export function buildBackfillInput(catalog: Catalog, req: BackfillRequest, taskQueue: string): BackfillInput {
  let group = catalog.groups.get(req.target);
  let names: string[];
  let dagIdSuffix: string | undefined;
  if (group) names = groupMembers(group);
  else {
    const entry = catalog.pipelines.get(req.target);
    if (!entry) {
      throw new UserError(
        `unknown pipeline or group '${req.target}'; pipelines: ${[...catalog.pipelines.keys()].sort().join(', ')}; groups: ${[...catalog.groups.keys()].sort().join(', ') || 'none'}`,
      );
    }
    group = [...catalog.groups.values()].find((g) => groupMembers(g).includes(req.target));
    if (!group) {
      throw new UserError(
        `pipeline '${req.target}' has no schedule, so it has no windows to backfill: give it a schedule, or run single windows with \`pipectl run ${req.target} --window …\``,
      );
    }
    names = [req.target];
    dagIdSuffix = req.target;
  }
  const parallel = req.parallel ?? 1;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 1000)
    throw new UserError(`--parallel ${req.parallel} is not a whole number from 1 to 1000`);
  let range: { start: string; end: string };
  try {
    range = parseWindow(`${req.from.trim()}/${req.to.trim()}`, group.schedule.timezone);
  } catch (err) {
    if (err instanceof WindowError) throw new UserError(`--from/--to: ${err.message}`);
    throw err;
  }
  const schedule = resolveSchedule(group.schedule);
  const anyWindow = { start: range.start, end: range.end };
  const dag = buildDagInput(catalog, names, anyWindow, 'backfill', taskQueue, { group: group.name });
  if (dagIdSuffix && dag.waits) {
    // A pipeline alone waits only for upstreams in other groups; those of its own group are not part of its backfill.
    const own = new Set(groupMembers(group));
    const waits = dag.waits
      .map((w) => ({ ...w, upstream: w.upstream.filter((u) => !own.has(u)) }))
      .filter((w) => w.upstream.length > 0);
    if (waits.length > 0) dag.waits = waits;
    else {
      delete dag.waits;
      delete dag.upstreamPollMs;
    }
  }
  const template: BackfillDag = { ...dag };
  delete (template as Partial<typeof dag>).window;
  const input: BackfillInput = {
    target: req.target,
    group: group.name,
    schedule,
    from: range.start,
    to: range.end,
    dag: template,
    taskQueue,
    ...(dagIdSuffix ? { dagIdSuffix } : {}),
    parallel,
    reverse: req.reverse ?? false,
    skipSucceeded: req.skipSucceeded ?? false,
    continueAsNewAfter: req.continueAsNewAfter ?? 500,
  };
  input.total = countWindows(input);
  if (input.total === 0) {
    throw new UserError(
      `no window of group '${group.name}' lies within ${describeWindow(range)}: a window runs from one firing of the schedule to the next, both inside --from and --to`,
    );
  }
  return input;
}

/** Starts a backfill; one with the same ID that is already running is returned instead of a second one. */
export async function startBackfill(
  client: Client,
  input: BackfillInput,
  workflowId: string,
  taskQueue: string,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof backfill>> {
  return client.workflow.start<typeof backfill>('backfill', {
    workflowId,
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    typedSearchAttributes: [
      { key: PIPELINE_NAME, value: input.dag.nodes[0]?.[0] ?? input.target },
      { key: PIPELINE_GROUP, value: input.group },
      { key: WINDOW_START, value: new Date(input.from) },
      { key: WINDOW_END, value: new Date(input.to) },
      { key: RUN_KIND, value: 'backfill' },
    ],
    staticSummary: `backfill ${input.target} · ${describeWindow({ start: input.from, end: input.to })}`,
  });
}

/** The progress a backfill's failure carries, if the error is that failure. */
export function failedBackfillProgress(err: unknown): BackfillProgress | undefined {
  if (!(err instanceof WorkflowFailedError) || !(err.cause instanceof ApplicationFailure)) return undefined;
  if (err.cause.type !== BACKFILL_FAILED) return undefined;
  return err.cause.details?.[0] as BackfillProgress | undefined;
}

/** Waits for a backfill to close and returns its final progress, whether it succeeded or failed. */
export async function awaitBackfill(handle: WorkflowHandle<typeof backfill>): Promise<BackfillProgress> {
  try {
    return await handle.result();
  } catch (err) {
    const progress = failedBackfillProgress(err);
    if (!progress) throw err;
    return progress;
  }
}

/** A progress bar line: `[#####.....] 12/30 done · 3 running · 1 failed · 0 skipped`. */
export function progressLine(p: BackfillProgress, width = 30): string {
  const finished = p.done + p.failed + p.skipped;
  const filled = p.total > 0 ? Math.round((finished / p.total) * width) : width;
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const parts = [
    `${finished}/${p.total}`,
    `${p.done} done`,
    `${p.running} running`,
    p.failed > 0 ? style.red(`${p.failed} failed`) : `${p.failed} failed`,
    `${p.skipped} skipped`,
  ];
  return `[${bar}] ${parts.join(' · ')}${p.paused ? style.yellow(' · paused') : ''}`;
}

/** The final report of a backfill, as lines. */
function report(p: BackfillProgress): string {
  const lines = [progressLine(p)];
  if (p.status === 'succeeded') lines.push(`${style.green('✓')} backfill of ${p.target} succeeded: ${p.total} windows`);
  else lines.push(`${style.red('✗')} backfill of ${p.target} ${p.status}: ${p.failed} of ${p.total} windows failed`);
  for (const f of p.failedWindows) lines.push(`  ${describeWindow(f.window)}  ${f.error.type}: ${f.error.message}`);
  return `${lines.join('\n')}\n`;
}

/** Follows a backfill to its end: a redrawn progress bar on a TTY, else nothing until the end. */
async function follow(handle: WorkflowHandle<typeof backfill>, json: boolean): Promise<BackfillProgress> {
  let stop = false;
  const drawing =
    interactive && !json
      ? (async () => {
          while (!stop) {
            const p = await handle.query(backfillProgressQuery).catch(() => undefined);
            if (p && !stop) process.stdout.write(`\r\u001b[K${progressLine(p)}`);
            await new Promise((r) => setTimeout(r, 1_000));
          }
        })()
      : Promise.resolve();
  try {
    return await awaitBackfill(handle);
  } finally {
    stop = true;
    await drawing;
    if (interactive && !json) process.stdout.write('\r\u001b[K');
  }
}

/** `pipectl backfill <target>`: starts (or joins) the backfill, follows it, returns the exit code by its outcome. */
export async function runBackfill(target: string, opts: BackfillOptions): Promise<number> {
  // Not required options in commander: they would then be demanded of `backfill status|pause|resume|cancel` too.
  if (!opts.from || !opts.to)
    throw new UserError(
      `give the range with --from and --to, e.g. pipectl backfill ${target} --from 2026-01-01 --to 2026-02-01`,
    );
  const s: Settings = commandSettings(opts);
  const catalog = catalogFor(s);
  const parallel = opts.parallel === undefined ? 1 : Number(opts.parallel);
  const req: BackfillRequest = {
    target,
    from: opts.from,
    to: opts.to,
    parallel,
    reverse: opts.reverse ?? false,
    skipSucceeded: opts.skipSucceeded ?? false,
  };
  const input = buildBackfillInput(catalog, req, s.taskQueue);
  const workflowId = backfillWorkflowId(req);
  const client = await connectClient(s);
  try {
    const handle = await startBackfill(client, input, workflowId, s.taskQueue);
    if (opts.detach) {
      if (opts.json) printJson({ workflowId, status: 'started' });
      else process.stdout.write(`started backfill ${style.bold(workflowId)}\n`);
      return 0;
    }
    if (!opts.json) process.stdout.write(`${style.bold('▶')} backfill ${style.dim(workflowId)}\n`);
    const progress = await follow(handle, opts.json ?? false);
    if (opts.json) printJson({ workflowId, ...progress });
    else process.stdout.write(report(progress));
    return progress.status === 'succeeded' ? 0 : 1;
  } finally {
    await client.connection.close();
  }
}

/** A backfill's handle, checking that the workflow exists and is a backfill. */
async function backfillHandle(client: Client, workflowId: string) {
  const handle = client.workflow.getHandle<typeof backfill>(workflowId);
  const description = await handle.describe().catch((err: unknown) => {
    if ((err as Error).name === 'WorkflowNotFoundError')
      throw new UserError(`no backfill '${workflowId}': check the ID (pipectl backfill prints it)`);
    throw err;
  });
  if (description.type !== 'backfill')
    throw new UserError(`'${workflowId}' is a ${description.type} workflow, not a backfill`);
  return { handle, status: description.status.name };
}

/** `pipectl backfill status <id>`: the counts and the running and failed windows. */
export async function backfillStatus(workflowId: string, opts: { json?: boolean }): Promise<number> {
  const client = await connectClient(commandSettings({}));
  try {
    const { handle, status } = await backfillHandle(client, workflowId);
    const progress =
      status === 'COMPLETED' || status === 'FAILED'
        ? await awaitBackfill(handle)
        : {
            ...(await handle.query(backfillProgressQuery)),
            ...(status === 'RUNNING' ? {} : { status: 'cancelled' as const }),
          };
    if (opts.json) printJson({ workflowId, ...progress });
    else {
      process.stdout.write(`${style.bold(workflowId)}  ${progress.status}\n${progressLine(progress)}\n`);
      for (const w of progress.runningWindows) process.stdout.write(`  running  ${describeWindow(w)}\n`);
      for (const f of progress.failedWindows)
        process.stdout.write(
          `  ${style.red('failed')}   ${describeWindow(f.window)}  ${f.error.type}: ${f.error.message}\n`,
        );
    }
    return 0;
  } finally {
    await client.connection.close();
  }
}

/** `pipectl backfill pause|resume|cancel <id>`. */
export async function backfillAction(
  action: 'pause' | 'resume' | 'cancel',
  workflowId: string,
  opts: { json?: boolean },
): Promise<number> {
  const client = await connectClient(commandSettings({}));
  try {
    const { handle, status } = await backfillHandle(client, workflowId);
    if (status !== 'RUNNING') throw new UserError(`backfill '${workflowId}' is ${status.toLowerCase()}, not running`);
    if (action === 'pause') await handle.signal(pauseBackfillSignal);
    else if (action === 'resume') await handle.signal(resumeBackfillSignal);
    else await handle.cancel();
    if (opts.json) printJson({ workflowId, action, ok: true });
    else
      process.stdout.write(
        `${action === 'cancel' ? 'cancellation requested for' : `${action}d`} backfill ${workflowId}${action === 'pause' ? ': running DAG runs finish, no new ones start' : ''}\n`,
      );
    return 0;
  } finally {
    await client.connection.close();
  }
}
