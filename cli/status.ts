import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { Catalog } from '../catalog/load';
import type { PausedDownstream } from '../core/dag-input';
import { formatDuration } from '../core/duration';
import { describeSchedule } from '../core/graph-format';
import { groupMembers, type PipelineGroup } from '../core/groups';
import type { RunPipelineResult } from '../core/run-input';
import type { Window } from '../core/window';
import { PIPELINE_NAME, RUN_KIND, WINDOW_END, WINDOW_START } from '../temporal-config/search-attributes';
import type { runPipeline } from '../workflows/run-pipeline';
import { catalogFor, commandSettings, type CatalogOptions } from './context';
import { UserError } from './errors';
import { printJson, style, table } from './output';
import { connectClient, describeFailure } from './runs';
import { listSchedules, type ScheduleRow } from './schedule-control';

/** Options of `pipectl status`. */
export interface StatusOptions extends CatalogOptions {
  json?: boolean;
}

/** Options of `pipectl runs <pipeline>`. */
export interface RunsOptions extends CatalogOptions {
  /** Most recent runs to list (`--limit`, default 20). */
  limit?: string;
  json?: boolean;
}

/** A run's state in words: Temporal's execution status, with a completed run called `succeeded`. */
export type RunState = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'terminated' | 'timed_out' | 'unknown';

/** One run of a pipeline as `pipectl runs` and `pipectl status` show it, from Temporal visibility and its result. */
export interface RunRow {
  workflowId: string;
  runId: string;
  /** How it was started (the `RunKind` search attribute): `scheduled`, `manual`, `backfill` or `retry`. */
  kind?: string;
  /** The window it processes (the `WindowStart` / `WindowEnd` search attributes). */
  window?: Window;
  status: RunState;
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  /** Rows the load wrote, from the run's result (succeeded runs only). */
  rowsLoaded?: number;
  /** The innermost failure of a run that did not succeed. */
  error?: { type: string; message: string };
}

/** Why a pipeline does not run at its group's firings: its group's Schedule, itself, or an upstream is paused. */
export type PausedState =
  | { by: 'group'; note?: string }
  | { by: 'pipeline'; since: string; downstream: PausedDownstream; note?: string }
  | { by: 'upstream'; upstream: string; note?: string };

/** One pipeline as `pipectl status` shows it. */
export interface PipelineStatus {
  name: string;
  /** The group whose Schedule runs it, or null when nothing fires it. */
  group: string | null;
  /** Its schedule in words; for a pipeline downstream of a group, the group's, after `after upstreams:`. */
  schedule: string | null;
  paused: PausedState | null;
  /** The latest run (a running one counts), or null when it never ran (or its runs aged out of retention). */
  lastRun: RunRow | null;
  /** The group's next firing as Temporal reports it (even while paused); null without a group or before a sync. */
  nextRun: { at: string; local: string } | null;
  /** Whether the group's Schedule matches the code (`pipectl sync`); null without a group. */
  sync: ScheduleRow['sync'] | null;
  /** `type` and `message` of the latest run's failure, when the latest run failed. */
  lastError: { type: string; message: string } | null;
}

const STATE: Record<string, RunState> = {
  RUNNING: 'running',
  COMPLETED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
};

/** Runs fetched from visibility per page; a status over many pipelines reads at most `SCAN_BOUND` runs. */
const PAGE_SIZE = 200;
/** Pipeline names per visibility query, so a query stays short however many pipelines there are. */
const NAMES_PER_QUERY = 200;
/** Results (close events) read at once. */
const FETCH_AHEAD = 5;

/** The visibility query of pipeline runs of some pipelines. Names are validated identifiers, safe in quotes. */
function runsQuery(names: readonly string[]): string {
  const list = names.map((n) => `'${n}'`).join(', ');
  return `WorkflowType = 'runPipeline' AND ${PIPELINE_NAME.name} ${names.length === 1 ? `= ${list}` : `IN (${list})`}`;
}

/** What a row is made of: a run as visibility lists it or as describing it reads. */
type ListedRun = Pick<
  WorkflowExecutionInfo,
  'workflowId' | 'runId' | 'status' | 'startTime' | 'closeTime' | 'typedSearchAttributes'
>;

/** A run as visibility lists it, without its result yet. */
function baseRow(info: ListedRun): RunRow {
  const sa = info.typedSearchAttributes;
  const start = sa.get(WINDOW_START);
  const end = sa.get(WINDOW_END);
  const kind = sa.get(RUN_KIND);
  const finished = info.closeTime;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    ...(kind ? { kind } : {}),
    ...(start && end ? { window: { start: start.toISOString(), end: end.toISOString() } } : {}),
    status: STATE[info.status.name] ?? 'unknown',
    startedAt: info.startTime.toISOString(),
    ...(finished
      ? { finishedAt: finished.toISOString(), durationMs: Math.max(0, finished.getTime() - info.startTime.getTime()) }
      : {}),
  };
}

/**
 * A row visibility lists as running, settled from the run itself. Visibility is updated after the run's own state, so
 * a run that has just closed can still be listed as running; describing the run reads its current state. A run that
 * cannot be described (its history gone) keeps what visibility said.
 */
async function settled(client: Client, row: RunRow): Promise<RunRow> {
  if (row.status !== 'running') return row;
  const info = await client.workflow
    .getHandle(row.workflowId, row.runId)
    .describe()
    .catch(() => undefined);
  if (!info || info.status.name === 'RUNNING') return row;
  return baseRow(info);
}

/**
 * Completes a closed run's row from its result: rows loaded when it succeeded, the failure when not. Reads only the
 * run's close event. A run whose history is gone (retention) keeps what visibility said.
 */
async function withOutcome(client: Client, listed: RunRow): Promise<RunRow> {
  const row = await settled(client, listed);
  if (row.status === 'running') return row;
  const handle = client.workflow.getHandle<typeof runPipeline>(row.workflowId, row.runId, { followRuns: false });
  try {
    const result: RunPipelineResult = await handle.result();
    return { ...row, rowsLoaded: result.rowsLoaded };
  } catch (err) {
    if (row.status === 'succeeded') return row;
    return { ...row, error: describeFailure(err) };
  }
}

/** Completes rows from their results a few at a time, keeping their order. */
export async function withOutcomes(client: Client, rows: RunRow[]): Promise<RunRow[]> {
  const out: RunRow[] = new Array<RunRow>(rows.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < rows.length; i = next++) out[i] = await withOutcome(client, rows[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(FETCH_AHEAD, rows.length) }, lane));
  return out;
}

/** Newest start first; visibility lists running runs first, then by close time, so the order is settled here. */
const newestFirst = (a: RunRow, b: RunRow) => b.startedAt.localeCompare(a.startedAt);

/**
 * The latest run of each pipeline, from as few visibility queries as there are batches of names. Visibility lists
 * running runs first, then closed ones by close time, newest first: the scan stops once every pipeline has a closed
 * run (nothing older can be its latest) or after `bound` runs, so pipelines that never ran cost no more than that.
 */
export async function latestRuns(
  client: Client,
  names: readonly string[],
  bound = 2_000,
): Promise<Map<string, RunRow>> {
  const latest = new Map<string, RunRow>();
  for (let i = 0; i < names.length; i += NAMES_PER_QUERY) {
    const batch = names.slice(i, i + NAMES_PER_QUERY);
    const closed = new Set<string>();
    let seen = 0;
    for await (const info of client.workflow.list({ query: runsQuery(batch), pageSize: PAGE_SIZE })) {
      if (++seen > bound) break;
      const name = info.typedSearchAttributes.get(PIPELINE_NAME);
      if (name === undefined || closed.has(name)) continue;
      const row = baseRow(info);
      const known = latest.get(name);
      if (!known || newestFirst(row, known) < 0) latest.set(name, row);
      if (row.status !== 'running') closed.add(name);
      if (closed.size === batch.length) break;
    }
  }
  const found = [...latest.entries()];
  const rows = await withOutcomes(
    client,
    found.map(([, row]) => row),
  );
  return new Map(found.map(([name], i) => [name, rows[i]!]));
}

/** The `limit` most recent runs of one pipeline, newest first, with their outcomes. */
export async function recentRuns(client: Client, pipeline: string, limit: number): Promise<RunRow[]> {
  const rows: RunRow[] = [];
  for await (const info of client.workflow.list({ query: runsQuery([pipeline]), pageSize: Math.min(limit, 1000) })) {
    rows.push(baseRow(info));
    if (rows.length >= limit) break;
  }
  return withOutcomes(client, rows.sort(newestFirst));
}

/** The group whose Schedule runs a pipeline (scheduled in it, or downstream of it), if any. */
function groupOf(catalog: Catalog, pipeline: string): PipelineGroup | undefined {
  for (const group of catalog.groups.values()) if (groupMembers(group).includes(pipeline)) return group;
  return undefined;
}

/**
 * Whether a pipeline is paused at its group's firings: the group's Schedule paused, the pipeline paused inside it, or
 * an upstream in the group paused with its downstream skipped (the DAG run skips this one too).
 */
function pausedState(catalog: Catalog, name: string, row: ScheduleRow | undefined): PausedState | null {
  if (!row) return null;
  if (row.paused) return { by: 'group', ...(row.note ? { note: row.note } : {}) };
  const own = row.pausedPipelines[name];
  if (own)
    return { by: 'pipeline', since: own.since, downstream: own.downstream, ...(own.note ? { note: own.note } : {}) };
  const seen = new Set<string>();
  const queue = [...(catalog.graph.upstream.get(name) ?? [])];
  while (queue.length > 0) {
    const up = queue.shift()!;
    if (seen.has(up)) continue;
    seen.add(up);
    const p = row.pausedPipelines[up];
    if (p?.downstream === 'skip') return { by: 'upstream', upstream: up, ...(p.note ? { note: p.note } : {}) };
    queue.push(...(catalog.graph.upstream.get(up) ?? []));
  }
  return null;
}

/** Every pipeline of the catalog with its group, schedule, paused state, latest run and next run, sorted by name. */
export async function pipelineStatuses(client: Client, catalog: Catalog, taskQueue: string): Promise<PipelineStatus[]> {
  const names = [...catalog.pipelines.keys()].sort();
  const [schedules, latest] = await Promise.all([listSchedules(client, catalog, taskQueue), latestRuns(client, names)]);
  const byGroup = new Map(schedules.map((r) => [r.group, r]));
  return names.map((name): PipelineStatus => {
    const spec = catalog.pipelines.get(name)!.spec;
    const group = groupOf(catalog, name);
    const row = group ? byGroup.get(group.name) : undefined;
    const schedule = spec.schedule
      ? describeSchedule(spec.schedule)
      : group
        ? `after upstreams: ${describeSchedule(group.schedule)}`
        : null;
    const last = latest.get(name) ?? null;
    // Temporal reports the next firings of a paused Schedule too: `paused` says that none fires while it stays so.
    const next = row?.nextSource === 'temporal' ? row.next[0] : undefined;
    return {
      name,
      group: group?.name ?? null,
      schedule,
      paused: pausedState(catalog, name, row),
      lastRun: last,
      nextRun: next ? { at: next.at, local: next.local } : null,
      sync: row?.sync ?? null,
      lastError: last?.error && last.status !== 'succeeded' && last.status !== 'running' ? last.error : null,
    };
  });
}

/** Runs `body` with a client for the command's settings, closing the connection after. */
async function withClient<T>(s: ReturnType<typeof commandSettings>, body: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(s);
  try {
    return await body(client);
  } finally {
    await client.connection.close();
  }
}

const utc = (iso: string | undefined) => (iso ? iso.replace('T', ' ').slice(0, 19) : '');
const rowsText = (n: number | undefined) => (n === undefined ? '' : n.toLocaleString('en-US'));
const errorText = (e: { type: string; message: string } | null | undefined) =>
  e ? `${e.type}: ${e.message.replace(/\s+/g, ' ')}` : '';

/** A window the short way, in UTC: one midnight-to-midnight day as its date, else `start → end` to the minute. */
function windowText(w: Window | undefined): string {
  if (!w) return '';
  if (w.start.endsWith('T00:00:00.000Z') && Date.parse(w.end) - Date.parse(w.start) === 86_400_000)
    return w.start.slice(0, 10);
  const short = (iso: string) => iso.replace('T', ' ').replace(/(:00)?\.\d+Z$/, '');
  return `${short(w.start)} → ${short(w.end)}`;
}

/** A table without the spaces that pad empty cells at the end of a line. */
const tableText = (rows: string[][]) =>
  table(rows)
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');

function paintState(state: RunState): string {
  const text = state.replace('_', ' ');
  if (state === 'succeeded') return style.green(text);
  if (state === 'running') return style.yellow(text);
  return style.red(text);
}

function pausedText(p: PausedState | null): string {
  if (!p) return '';
  return style.yellow(p.by === 'upstream' ? `upstream ${p.upstream}` : p.by);
}

function nextText(p: PipelineStatus): string {
  if (p.nextRun) return `${p.nextRun.local}${p.paused?.by === 'group' ? style.yellow(' (paused)') : ''}`;
  if (p.sync === 'not synced') return style.dim('not synced');
  return '';
}

/** `pipectl status`: one line per pipeline: group, schedule, paused, latest run, next run, latest error. */
export async function statusCommand(opts: StatusOptions): Promise<number> {
  const s = commandSettings(opts);
  const catalog = catalogFor(s);
  const pipelines = await withClient(s, (client) => pipelineStatuses(client, catalog, s.taskQueue));
  if (opts.json) {
    printJson({ namespace: s.namespace, pipelines });
    return 0;
  }
  const head = [
    'pipeline',
    'group',
    'schedule',
    'paused',
    'last run',
    'window',
    'finished (UTC)',
    'took',
    'rows',
    'next run',
    'error',
  ].map(style.dim);
  const lines = pipelines.map((p) => {
    const r = p.lastRun;
    return [
      style.bold(p.name),
      p.group ?? style.dim('none'),
      p.schedule ?? style.dim('by hand'),
      pausedText(p.paused),
      r ? paintState(r.status) : style.dim('never'),
      windowText(r?.window),
      utc(r?.finishedAt),
      r?.durationMs !== undefined ? formatDuration(r.durationMs) : '',
      rowsText(r?.rowsLoaded),
      nextText(p),
      errorText(p.lastError),
    ];
  });
  process.stdout.write(`${tableText([head, ...lines])}\n`);
  return 0;
}

/** `pipectl runs <pipeline>`: its most recent runs, newest first. */
export async function runsCommand(pipeline: string, opts: RunsOptions): Promise<number> {
  const limit = opts.limit === undefined ? 20 : Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UserError(`--limit must be a whole number from 1 to 1000, not '${opts.limit}'`);
  const s = commandSettings(opts);
  const catalog = catalogFor(s);
  if (!catalog.pipelines.has(pipeline)) {
    const hint = catalog.groups.has(pipeline)
      ? `; '${pipeline}' is a group: give one of its pipelines (${groupMembers(catalog.groups.get(pipeline)!).join(', ')})`
      : `; known: ${[...catalog.pipelines.keys()].sort().join(', ')}`;
    throw new UserError(`no pipeline named '${pipeline}' in ${catalog.dir}${hint}`);
  }
  const runs = await withClient(s, (client) => recentRuns(client, pipeline, limit));
  if (opts.json) {
    printJson({ namespace: s.namespace, pipeline, runs });
    return 0;
  }
  if (runs.length === 0) {
    process.stdout.write(`${pipeline} has no runs in namespace ${s.namespace} (pipectl run ${pipeline} starts one)\n`);
    return 0;
  }
  const head = ['workflow ID', 'kind', 'window', 'status', 'started (UTC)', 'took', 'rows', 'error'].map(style.dim);
  const lines = runs.map((r) => [
    r.workflowId,
    r.kind ?? '',
    windowText(r.window),
    paintState(r.status),
    utc(r.startedAt),
    r.durationMs !== undefined ? formatDuration(r.durationMs) : '',
    rowsText(r.rowsLoaded),
    errorText(r.error),
  ]);
  process.stdout.write(`${tableText([head, ...lines])}\n`);
  return 0;
}
