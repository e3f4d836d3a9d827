import type { Client, WorkflowHandle } from '@temporalio/client';
import { expandDagState, type DagRunInput, type DagRunState } from '../core/dag-input';
import { groupMembers } from '../core/groups';
import { awaitDagRun } from './dag-state';
import { NODE_STATES, topoOrder, type NodeState } from '../core/dag-plan';
import { topologicalOrder } from '../core/graph';
import type { Settings } from '../temporal-config/settings';
import { dagStateQuery } from '../workflows/definitions';
import { buildDagInput, startDagRun } from './dag';
import type { RunPipelineResult } from '../core/run-input';
import type { dagRun } from '../workflows/dag-run';
import { describeWindow, parseWindow, previousDay, type Window } from '../core/window';
import { formatDuration } from '../core/duration';
import { catalogFor, commandSettings, type CatalogOptions } from './context';
import { UserError } from './errors';
import { interactive, printJson, style } from './output';
import { connectClient, describeFailure, followRun, startPipelineRun, warnOnStderr, warnWithoutWorker } from './runs';
import type { RunProgress } from '../workflows/definitions';

/** One run's outcome as the CLI reports it. */
export interface RunReport {
  pipeline: string;
  workflowId: string;
  window: Window;
  status: 'succeeded' | 'failed' | 'not_run' | 'started';
  rowsExtracted?: number;
  rowsLoaded?: number;
  durationMs?: number;
  error?: { type: string; message: string };
  webUi: string;
}

/** The Web UI page of a workflow. */
export function webUiLink(uiPort: number, namespace: string, workflowId: string): string {
  const base = process.env.PIPECTL_UI_URL ?? `http://localhost:${uiPort}`;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

function printProgress(p: RunProgress): void {
  const parts = (['extract', 'transform', 'load'] as const).map((name) => {
    const s = p.steps[name];
    const mark =
      s.state === 'succeeded'
        ? style.green('✓')
        : s.state === 'failed'
          ? style.red('✗')
          : s.state === 'running'
            ? style.yellow('…')
            : s.state === 'skipped'
              ? style.dim('–')
              : style.dim('·');
    return `${name} ${mark}${s.rows !== undefined ? ` ${s.rows.toLocaleString('en-US')} rows` : ''}`;
  });
  const line = `  ${parts.join('   ')}`;
  if (interactive) process.stdout.write(`\r\u001b[2K${line}`);
  else process.stdout.write(`${line}\n`);
}

/**
 * Runs the named pipelines for one window in dependency order, following each; a failure stops its downstreams.
 * Returns the process exit code.
 */
export async function runPipelines(
  names: string[],
  opts: CatalogOptions & { window?: string; json?: boolean; detach?: boolean },
): Promise<number> {
  const s = commandSettings(opts);
  const catalog = catalogFor(s);
  const group = names.length === 1 ? catalog.groups.get(names[0]!) : undefined;
  const unknown = names.filter((n) => !catalog.pipelines.has(n) && !(group && n === group.name));
  if (unknown.length > 0) {
    const groups = [...catalog.groups.keys()].sort();
    const groupHint = unknown.some((n) => catalog.groups.has(n)) ? '; a group runs alone' : '';
    throw new UserError(
      `unknown pipeline${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}${groupHint}; known: ${[...catalog.pipelines.keys()].sort().join(', ')}${groups.length > 0 ? `; groups: ${groups.join(', ')}` : ''}`,
    );
  }
  const timeZone = group
    ? group.schedule.timezone
    : (catalog.pipelines.get(names[0]!)!.spec.schedule?.timezone ?? 'UTC');
  const window = opts.window ? parseWindow(opts.window, timeZone) : previousDay(Date.now(), timeZone);
  const client = await connectClient(s);
  if (group || names.length > 1) {
    try {
      const members = group ? groupMembers(group) : names;
      const input = buildDagInput(catalog, members, window, 'manual', s.taskQueue, group ? { group: group.name } : {});
      return await runAsDag(client, input, !group, s, opts);
    } finally {
      await client.connection.close();
    }
  }
  const order = topologicalOrder(catalog.graph, new Set(names));
  const reports: RunReport[] = [];
  const failed = new Set<string>();
  try {
    for (const name of order) {
      const spec = catalog.pipelines.get(name)!.spec;
      const workflowId = `pipeline/${name}/${window.start}`;
      const link = webUiLink(s.uiPort, s.namespace, workflowId);
      const blockedBy = [...(catalog.graph.upstream.get(name) ?? [])].filter((u) => failed.has(u));
      if (blockedBy.length > 0) {
        failed.add(name);
        reports.push({
          pipeline: name,
          workflowId,
          window,
          status: 'not_run',
          webUi: link,
          error: { type: 'UpstreamFailed', message: `upstream ${blockedBy.join(', ')} failed` },
        });
        if (!opts.json)
          process.stdout.write(`${style.dim('–')} ${name} not run: upstream ${blockedBy.join(', ')} failed\n`);
        continue;
      }
      const started = Date.now();
      const handle = await startPipelineRun(client, spec, window, 'manual', s.taskQueue);
      if (!opts.json)
        process.stdout.write(`${style.bold('▶')} ${name} · ${describeWindow(window)}  ${style.dim(workflowId)}\n`);
      if (opts.detach) {
        reports.push({ pipeline: name, workflowId, window, status: 'started', webUi: link });
        if (!opts.json) process.stdout.write(`  started; watch it at ${link}\n`);
        continue;
      }
      let result: RunPipelineResult;
      try {
        result = await followRun(handle, opts.json ? () => undefined : printProgress);
      } catch (err) {
        const error = describeFailure(err);
        failed.add(name);
        reports.push({
          pipeline: name,
          workflowId,
          window,
          status: 'failed',
          durationMs: Date.now() - started,
          error,
          webUi: link,
        });
        if (!opts.json) {
          if (interactive) process.stdout.write('\n');
          process.stdout.write(`${style.red('✗')} ${name} failed: ${error.type}: ${error.message}\n  ${link}\n`);
        }
        continue;
      }
      const durationMs = Date.now() - started;
      reports.push({
        pipeline: name,
        workflowId,
        window,
        status: 'succeeded',
        rowsExtracted: result.rowsExtracted,
        rowsLoaded: result.rowsLoaded,
        durationMs,
        webUi: link,
      });
      if (!opts.json) {
        if (interactive) process.stdout.write('\n');
        process.stdout.write(
          `${style.green('✓')} ${name} succeeded in ${formatDuration(durationMs)}: ${result.rowsExtracted.toLocaleString('en-US')} rows extracted, ${result.rowsLoaded.toLocaleString('en-US')} loaded\n  ${style.dim(link)}\n`,
        );
      }
    }
  } finally {
    await client.connection.close();
  }
  if (opts.json) printJson(reports.length === 1 && names.length === 1 ? reports[0] : reports);
  return failed.size > 0 ? 1 : 0;
}

/** The mark printed before a node in a given state. */
export const STATE_MARK: Record<NodeState, string> = {
  pending: '·',
  waiting: '⧗',
  running: '…',
  succeeded: '✓',
  failed: '✗',
  upstream_failed: '–',
  skipped: '–',
  cancelled: '✗',
};

/** The pipelines of a DAG run in dependency order (ties by name), as `pipectl run` reports them. */
export function dagOrder(input: DagRunInput): string[] {
  return topoOrder(input.nodes.map((n) => n[1])).map((i) => input.nodes[i]![0]);
}

/**
 * A printer of node changes: each call prints a line for every node whose state changed since the previous call
 * (pending nodes are not shown), or, the first time, since `known`. With `quiet` it only keeps track.
 */
export function nodeChangePrinter(
  quiet = false,
  known: Iterable<[string, NodeState]> = [],
): (state: DagRunState) => void {
  const seen = new Map<string, NodeState>(known);
  return (state) => {
    for (const [name, node] of Object.entries(state.nodes)) {
      if (seen.get(name) === node.state) continue;
      seen.set(name, node.state);
      if (quiet || node.state === 'pending') continue;
      const detail =
        node.state === 'succeeded'
          ? `: ${node.rowsLoaded ?? 0} rows loaded`
          : node.state === 'failed'
            ? `: ${node.error?.type}: ${node.error?.message}`
            : node.state === 'skipped' && node.error
              ? `: ${node.error.message}`
              : '';
      process.stdout.write(`  ${STATE_MARK[node.state]} ${name} ${node.state.replace('_', ' ')}${detail}\n`);
    }
  };
}

/**
 * Several pipelines run as one DAG run (the `dagRun` workflow): the CLI starts it, prints each node's changes as they
 * happen, and reports every node at the end.
 */
async function runAsDag(
  client: Client,
  input: DagRunInput,
  explicitList: boolean,
  s: Settings,
  opts: { json?: boolean; detach?: boolean },
): Promise<number> {
  const count = input.nodes.length;
  const handle = await startDagRun(client, input, s.taskQueue, { explicitList });
  const title = input.group === 'manual' ? `${count} pipelines` : `group ${input.group} (${count} pipelines)`;
  return reportDagRun(handle, input, `DAG run of ${title}`, s, opts);
}

/**
 * Reports a DAG run just started: a header (`▶ <title> · <window>  <workflow ID>` and its Web UI link); then, unless
 * `detach`, follows it, printing each node's changes as they happen and every node at the end (as JSON with `json`).
 * Returns the exit code: 0 when it succeeded (or was only started), 1 when it failed.
 */
export async function reportDagRun(
  handle: WorkflowHandle<typeof dagRun>,
  input: DagRunInput,
  title: string,
  s: Settings,
  opts: { json?: boolean; detach?: boolean },
): Promise<number> {
  const { window } = input;
  const dagLink = webUiLink(s.uiPort, s.namespace, handle.workflowId);
  if (!opts.json) {
    process.stdout.write(
      `${style.bold('▶')} ${title} · ${describeWindow(window)}  ${style.dim(handle.workflowId)}\n  ${style.dim(dagLink)}\n`,
    );
  }
  if (opts.detach) {
    if (opts.json) printJson({ workflowId: handle.workflowId, window, status: 'started', webUi: dagLink });
    return 0;
  }
  // States preset by a restart from failure are not news: only what changes from them is printed.
  const preset = (input.states?.nodes ?? []).map((n, i): [string, NodeState] => [
    input.nodes[i]![0],
    NODE_STATES[n[0]] ?? 'pending',
  ]);
  const show = nodeChangePrinter(opts.json, preset);
  let done = false;
  const stopWarning = warnWithoutWorker(handle, warnOnStderr);
  const poll = (async () => {
    while (!done) {
      const state = await handle.query(dagStateQuery).catch(() => undefined);
      if (state) show(expandDagState(state));
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  let final: DagRunState;
  try {
    final = await awaitDagRun(handle);
  } finally {
    done = true;
    stopWarning();
    await poll;
  }
  show(final);
  const reports = dagReports(final, input, s);
  if (opts.json) printJson(reports);
  else {
    const ok = final.status === 'succeeded';
    process.stdout.write(
      `${ok ? style.green('✓') : style.red('✗')} DAG run ${final.status}: ${reports.filter((r) => r.status === 'succeeded').length} of ${reports.length} pipelines succeeded\n`,
    );
  }
  return final.status === 'succeeded' ? 0 : 1;
}

/** Every node of a DAG run's state as a run report, in dependency order: what `pipectl run --json` prints for it. */
export function dagReports(state: DagRunState, input: DagRunInput, s: Settings): RunReport[] {
  const { window } = state;
  const reports: RunReport[] = Object.entries(state.nodes).map(([name, node]) => {
    const workflowId = `pipeline/${name}/${window.start}`;
    const status: RunReport['status'] =
      node.state === 'succeeded'
        ? 'succeeded'
        : node.state === 'failed' || node.state === 'cancelled'
          ? 'failed'
          : 'not_run';
    return {
      pipeline: name,
      workflowId,
      window,
      status,
      ...(node.rowsLoaded !== undefined ? { rowsLoaded: node.rowsLoaded } : {}),
      ...(node.startedAt && node.finishedAt
        ? { durationMs: Date.parse(node.finishedAt) - Date.parse(node.startedAt) }
        : {}),
      // Only an upstream inside the DAG run can make a node upstream_failed, so it always has one.
      ...(node.error
        ? { error: node.error }
        : node.state === 'upstream_failed'
          ? { error: { type: 'UpstreamFailed', message: 'an upstream failed' } }
          : {}),
      webUi: webUiLink(s.uiPort, s.namespace, workflowId),
    };
  });
  const order = dagOrder(input);
  return reports.sort((a, b) => order.indexOf(a.pipeline) - order.indexOf(b.pipeline));
}
