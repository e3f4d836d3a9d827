import { isGrpcDeadlineError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import {
  expandDagState,
  restartStates,
  type DagRunSnapshot,
  type DagRunState,
  type NodeState,
  type NodeStatus,
} from '../core/dag-input';
import { NODE_STATES } from '../core/dag-plan';
import { formatDuration } from '../core/duration';
import { describeWindow } from '../core/window';
import { settings, type Settings } from '../temporal-config/settings';
import type { dagRun } from '../workflows/dag-run';
import { dagStateQuery, pauseSignal, resumeSignal, retryNodeUpdate, skipNodeUpdate } from '../workflows/definitions';
import type { DagActionOptions, DagRetryOptions, DagStatusOptions } from './commands/dag';
import { startDagRun } from './dag';
import { dagRunHandle, dagRunInput, failedSnapshot, readDagState } from './dag-state';
import { UserError } from './errors';
import { interactive, printJson, style, table } from './output';
import { dagOrder, dagReports, nodeChangePrinter, reportDagRun, STATE_MARK, webUiLink } from './run-pipelines';
import { connectClient } from './runs';

type DagHandle = WorkflowHandle<typeof dagRun>;

/** A DAG run found by its workflow ID, with the client that found it. */
interface FoundDagRun {
  client: Client;
  s: Settings;
  handle: DagHandle;
  running: boolean;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, … */
  status: string;
}

/** Connects, finds the DAG run (a UserError when there is none by that ID) and calls `fn`; closes the connection. */
async function withDagRun<T>(id: string, fn: (run: FoundDagRun) => Promise<T>): Promise<T> {
  const s = settings();
  const client = await connectClient(s);
  try {
    return await fn({ client, s, ...(await dagRunHandle(client, id)) });
  } finally {
    await client.connection.close();
  }
}

/** Refuses an action that needs a running DAG run, saying what can be done instead. */
function requireRunning(run: FoundDagRun, action: string): void {
  if (run.running) return;
  const id = run.handle.workflowId;
  const hint =
    run.status === 'COMPLETED' ? '' : `; \`pipectl dag retry ${id}\` restarts the pipelines that did not succeed`;
  throw new UserError(`cannot ${action}: DAG run '${id}' is not running (${run.status.toLowerCase()})${hint}`);
}

/** How many nodes are in each state. */
function countStates(state: DagRunState): Record<NodeState, number> {
  const counts = Object.fromEntries(NODE_STATES.map((s) => [s, 0])) as Record<NodeState, number>;
  for (const node of Object.values(state.nodes)) counts[node.state]++;
  return counts;
}

/** What `--json` prints for a DAG run: its expanded state and the counts per state. */
function stateJson(workflowId: string, state: DagRunState) {
  return { workflowId, ...state, counts: countStates(state) };
}

const ACTIVE: ReadonlySet<NodeState> = new Set(['pending', 'waiting', 'running']);

function paintState(state: NodeState, text: string): string {
  if (state === 'succeeded') return style.green(text);
  if (state === 'failed' || state === 'cancelled') return style.red(text);
  if (state === 'running' || state === 'waiting') return style.yellow(text);
  return style.dim(text);
}

/** Non-zero counts in state order, e.g. `2 succeeded · 1 failed · 1 upstream failed`. */
function countsLine(state: DagRunState): string {
  const counts = countStates(state);
  return NODE_STATES.filter((s) => counts[s] > 0)
    .map((s) => paintState(s, `${counts[s]} ${s.replace('_', ' ')}`))
    .join(' · ');
}

/** Finished nodes out of all, as a bar. */
function progressLine(state: DagRunState, width = 30): string {
  const nodes = Object.values(state.nodes);
  const finished = nodes.filter((n) => !ACTIVE.has(n.state)).length;
  const filled = nodes.length === 0 ? width : Math.round((finished / nodes.length) * width);
  return `[${'█'.repeat(filled)}${style.dim('░'.repeat(width - filled))}] ${finished}/${nodes.length} finished`;
}

function headerLines(workflowId: string, state: DagRunState, s: Settings): string[] {
  const status = state.status === 'running' ? style.yellow('running') : paintState(state.status, state.status);
  const flags = [state.paused ? style.yellow('paused') : '', state.kind === 'retry' ? 'restarted from failure' : ''];
  return [
    // The status first: a narrow terminal cuts the end of the line.
    [`DAG run ${status}`, ...flags.filter(Boolean), describeWindow(state.window), style.bold(workflowId)].join(' · '),
    `  ${style.dim(webUiLink(s.uiPort, s.namespace, workflowId))}`,
  ];
}

function nodeRow(name: string, node: NodeStatus, now: number): string[] {
  const started = node.startedAt ? Date.parse(node.startedAt) : undefined;
  const finished = node.finishedAt ? Date.parse(node.finishedAt) : ACTIVE.has(node.state) ? now : undefined;
  return [
    paintState(node.state, STATE_MARK[node.state]),
    name,
    paintState(node.state, node.state.replace('_', ' ')),
    String(node.attempts),
    node.startedAt ? node.startedAt.replace('T', ' ').slice(0, 19) : '',
    started !== undefined && finished !== undefined ? formatDuration(Math.max(0, finished - started)) : '',
    node.rowsLoaded !== undefined ? node.rowsLoaded.toLocaleString('en-US') : '',
    node.error ? `${node.error.type}: ${node.error.message.replace(/\s+/g, ' ')}` : '',
  ];
}

/** Nodes worth seeing first when not all fit: running, waiting and failed ones before the rest. */
const SHOW_FIRST: Record<NodeState, number> = {
  running: 0,
  waiting: 0,
  failed: 0,
  cancelled: 1,
  upstream_failed: 1,
  pending: 2,
  succeeded: 3,
  skipped: 3,
};

/**
 * The status view: header, a table of the nodes in dependency order, counts per state and a progress bar. With
 * `screen`, fitted to it: at most as many nodes as fit (the most interesting ones), lines cut at its width.
 */
function statusView(
  workflowId: string,
  state: DagRunState,
  order: readonly string[],
  s: Settings,
  screen?: { rows: number; columns: number },
): string[] {
  let names = order.filter((n) => state.nodes[n]);
  let hidden = 0;
  // Besides the node rows a frame has 8 lines, and the cursor needs one below it to come back up.
  const room = screen ? Math.max(1, screen.rows - 9) : Infinity;
  if (names.length > room) {
    const rank = (n: string) => SHOW_FIRST[state.nodes[n]!.state];
    const shown = new Set([...names].sort((a, b) => rank(a) - rank(b)).slice(0, room));
    hidden = names.length - shown.size;
    names = names.filter((n) => shown.has(n));
  }
  const now = Date.now();
  const head = ['', 'pipeline', 'state', 'attempts', 'started (UTC)', 'duration', 'rows', 'error'].map(style.dim);
  const lines = [
    ...headerLines(workflowId, state, s),
    '',
    ...table([head, ...names.map((n) => nodeRow(n, state.nodes[n]!, now))]).split('\n'),
    ...(hidden > 0 ? [style.dim(`… and ${hidden} more (pipectl dag status --json lists every node)`)] : []),
    '',
    countsLine(state),
    progressLine(state),
  ];
  return screen ? lines.map((l) => fit(l, screen.columns)) : lines;
}

// eslint-disable-next-line no-control-regex
const ANSI = /(\u001b\[\d+m)/;

/** Cuts a line to `width` visible characters, keeping its colour codes (so colours are always reset). */
function fit(line: string, width: number): string {
  let left = width;
  let out = '';
  for (const part of line.split(ANSI)) {
    if (ANSI.test(part)) out += part;
    else if (part.length <= left) {
      out += part;
      left -= part.length;
    } else if (left > 0) {
      out += `${part.slice(0, left - 1)}…`;
      left = 0;
    }
  }
  return out;
}

function write(lines: string[]): void {
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
}

/** How long a call that only a worker can answer (a query, an update) may wait for one. */
const WORKER_WAIT_MS = 30_000;

/** Runs a call that needs a worker to answer it: without one it fails after a while and says so, not hangs. */
async function fromWorker<T>(run: FoundDagRun, call: () => Promise<T>, waitMs = WORKER_WAIT_MS): Promise<T> {
  try {
    return await run.client.connection.withDeadline(Date.now() + waitMs, call);
  } catch (err) {
    if (!isGrpcDeadlineError(err)) throw err;
    const { taskQueue } = await run.handle.describe();
    throw new Error(
      `no worker answered for DAG run '${run.handle.workflowId}' in ${formatDuration(waitMs)}: is a \`pipectl worker\` running on task queue '${taskQueue}'?`,
    );
  }
}

/**
 * Calls `onState` with a running DAG run's state about every second, and once it closed with its final state. Ctrl-C
 * ends the watch (not the DAG run) at once: it aborts the calls in flight.
 */
async function watchDagRun(run: FoundDagRun, onState: (state: DagRunState) => void): Promise<void> {
  const { handle } = run;
  const abort = new AbortController();
  const interruption = new Promise<undefined>((resolve) =>
    abort.signal.addEventListener('abort', () => resolve(undefined)),
  );
  const interrupt = () => abort.abort();
  process.once('SIGINT', interrupt);
  try {
    await run.client.connection.withAbortSignal(abort.signal, async () => {
      let closed = false;
      const closing = handle
        .result()
        .catch(() => undefined)
        .then(() => {
          closed = true;
        });
      for (;;) {
        await Promise.race([new Promise((r) => setTimeout(r, 1_000).unref()), closing, interruption]);
        if (abort.signal.aborted) return;
        const final = closed;
        const next = final
          ? fromWorker(run, () => readDagState(handle, false))
          : fromWorker(run, () => handle.query(dagStateQuery), 5_000).then(expandDagState, () => undefined);
        const state = await Promise.race([next, interruption]);
        if (abort.signal.aborted) return;
        if (state) onState(state);
        if (final) return;
      }
    });
  } finally {
    process.off('SIGINT', interrupt);
    // Ends the wait for the result if the watch ended first.
    abort.abort();
  }
}

/** Redraws `lines` in place of the previous frame (a frame always fits the screen, so the cursor can go back up). */
function redrawer(): (lines: string[]) => void {
  let drawn = 0;
  return (lines) => {
    const up = drawn > 0 ? `\u001b[${drawn}A\r` : '';
    process.stdout.write(`${up}${lines.map((l) => `${l}\u001b[K\n`).join('')}\u001b[J`);
    drawn = lines.length;
  };
}

/**
 * `pipectl dag status`: every node of a DAG run with counts and progress. On a terminal it redraws until the DAG run
 * closes; elsewhere it prints once, or with `watch` prints node changes as lines until it closes. Always exit 0: a
 * status is not an outcome.
 */
export async function dagStatus(id: string, opts: DagStatusOptions): Promise<number> {
  return withDagRun(id, async (run) => {
    const { client, s, handle, running } = run;
    const state = await fromWorker(run, () => readDagState(handle, running));
    if (opts.json) {
      printJson(stateJson(id, state));
      return 0;
    }
    const order = dagOrder(await dagRunInput(client, handle));
    if (interactive && running) {
      const screen = () => ({ rows: process.stdout.rows || 24, columns: process.stdout.columns || 80 });
      const draw = redrawer();
      draw(statusView(id, state, order, s, screen()));
      await watchDagRun(run, (next) => draw(statusView(id, next, order, s, screen())));
    } else if (opts.watch && running) {
      const show = nodeChangePrinter();
      write([headerLines(id, state, s)[0]!]);
      show(state);
      let last = state;
      await watchDagRun(run, (next) => {
        show(next);
        last = next;
      });
      write([`DAG run ${last.status}`, countsLine(last), progressLine(last)]);
    } else write(statusView(id, state, order, s));
    return 0;
  });
}

/** The final snapshot of a closed DAG run: its result, its failure's details, or (cancelled, terminated) a query. */
async function closedSnapshot(handle: DagHandle): Promise<DagRunSnapshot> {
  try {
    return await handle.result();
  } catch (err) {
    return failedSnapshot(err) ?? (await handle.query(dagStateQuery));
  }
}

/** Names for a message: all of them, or the first few and how many more. */
function listNames(names: string[], most = 5): string {
  return names.length > most ? `${names.slice(0, most).join(', ')} and ${names.length - most} more` : names.join(', ');
}

/**
 * `pipectl dag retry`: restarts a closed DAG run from failure under the same workflow ID, for the same window and
 * pipelines: nodes that succeeded or were skipped keep their state and are not run again, the others run. Follows it
 * like `pipectl run`; exit 0 when it succeeds (or there is nothing to retry), 1 when it fails.
 */
export async function dagRetry(id: string, opts: DagRetryOptions): Promise<number> {
  return withDagRun(id, async (run) => {
    const { client, s, handle } = run;
    if (run.running)
      throw new UserError(
        `DAG run '${id}' is still running: \`pipectl dag retry\` restarts a DAG run once it has closed. To run a failed node again inside it, use \`pipectl dag retry-node ${id} <node>\``,
      );
    const snapshot = await fromWorker(run, () => closedSnapshot(handle));
    const before = expandDagState(snapshot);
    const again = Object.keys(before.nodes).filter((n) => !['succeeded', 'skipped'].includes(before.nodes[n]!.state));
    const recorded = await dagRunInput(client, handle);
    if (again.length === 0) {
      if (opts.json) printJson(dagReports(before, recorded, s));
      else
        process.stdout.write(
          `${style.green('✓')} nothing to retry: every pipeline of DAG run ${id} succeeded or was skipped\n`,
        );
      return 0;
    }
    const input = { ...recorded, kind: 'retry' as const, states: restartStates(snapshot), paused: false };
    const { taskQueue } = await handle.describe();
    const restarted = await startDagRun(client, input, taskQueue, { workflowId: id });
    const title = `DAG run restarted from failure: ${listNames(again)} (${again.length} of ${snapshot.names.length} pipelines) run again`;
    return reportDagRun(restarted, input, title, s, opts);
  });
}

async function signalDagRun(id: string, pause: boolean, opts: DagActionOptions): Promise<number> {
  return withDagRun(id, async (run) => {
    requireRunning(run, pause ? 'pause it' : 'resume it');
    await run.handle.signal(pause ? pauseSignal : resumeSignal);
    if (opts.json) printJson({ workflowId: id, paused: pause });
    else if (pause)
      process.stdout.write(
        `paused DAG run ${id}: running pipelines finish, no new ones start; \`pipectl dag resume ${id}\` lets it go on\n`,
      );
    else process.stdout.write(`resumed DAG run ${id}: pipelines whose upstreams are done start again\n`);
    return 0;
  });
}

/** `pipectl dag pause`: the DAG run starts no new pipelines until resumed; running ones finish. */
export function dagPause(id: string, opts: DagActionOptions): Promise<number> {
  return signalDagRun(id, true, opts);
}

/** `pipectl dag resume`: a paused DAG run starts pipelines again. */
export function dagResume(id: string, opts: DagActionOptions): Promise<number> {
  return signalDagRun(id, false, opts);
}

async function updateNode(id: string, node: string, retry: boolean, opts: DagActionOptions): Promise<number> {
  const verb = retry ? 'retry' : 'skip';
  return withDagRun(id, async (run) => {
    requireRunning(run, `${verb} node '${node}'`);
    let snapshot: DagRunSnapshot;
    try {
      snapshot = await fromWorker(run, () =>
        run.handle.executeUpdate(retry ? retryNodeUpdate : skipNodeUpdate, { args: [node] }),
      );
    } catch (err) {
      // The workflow's validator rejected it (unknown node, wrong state), with a message saying why.
      if (err instanceof WorkflowUpdateFailedError)
        throw new UserError(`cannot ${verb} in DAG run '${id}': ${err.cause?.message ?? err.message}`);
      throw err;
    }
    const state = expandDagState(snapshot);
    if (opts.json) printJson(stateJson(id, state));
    else if (retry) process.stdout.write(`${node} runs again in DAG run ${id}, and then its downstream\n`);
    else
      process.stdout.write(
        `skipped ${node} in DAG run ${id}: it does not run, its downstream runs as if it had succeeded\n`,
      );
    return 0;
  });
}

/** `pipectl dag retry-node`: a failed or cancelled node runs again inside the running DAG run, then its downstream. */
export function dagRetryNode(id: string, node: string, opts: DagActionOptions): Promise<number> {
  return updateNode(id, node, true, opts);
}

/** `pipectl dag skip-node`: a node that has not succeeded and is not running is marked skipped. */
export function dagSkipNode(id: string, node: string, opts: DagActionOptions): Promise<number> {
  return updateNode(id, node, false, opts);
}

/**
 * `pipectl dag cancel`: cancels a running DAG run (its running pipelines are cancelled too), waits until it closed and
 * prints its final counts. Exit 0 once it closed.
 */
export async function dagCancel(id: string, opts: DagActionOptions): Promise<number> {
  return withDagRun(id, async (run) => {
    requireRunning(run, 'cancel it');
    const { handle } = run;
    await handle.cancel();
    if (!opts.json) process.stdout.write(`cancelling DAG run ${id}: waiting for its running pipelines to stop…\n`);
    await handle.result().catch(() => undefined);
    const state = await fromWorker(run, () => readDagState(handle, false));
    if (opts.json) printJson(stateJson(id, state));
    else {
      const what =
        state.status === 'cancelled'
          ? `${style.red('✗')} DAG run ${id} cancelled`
          : `DAG run ${id} closed ${state.status} before the cancellation reached it`;
      write([`${what}: ${countsLine(state)}`]);
    }
    return 0;
  });
}
