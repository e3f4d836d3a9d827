import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Client, HistoryAndWorkflowId, WorkflowExecutionInfo } from '@temporalio/client';
import { dataConverter } from '../temporal-config/connection';
import { settings } from '../temporal-config/settings';
import { BUNDLE_PATH } from '../workers/build-bundle';
import { quietReplayLogs, replayHistories, type ReplayOutcome } from '../workers/replay';
import { UserError } from './errors';
import { printJson, style } from './output';
import { connectClient } from './runs';

/** Options of `pipectl replay`. */
export interface ReplayOptions {
  query?: string;
  limit?: string;
  bundle?: string;
  json?: boolean;
}

/** The workflow types pipectl's bundle holds; only their runs can be replayed against it. */
export const PIPECTL_WORKFLOW_TYPES = "WorkflowType IN ('runPipeline', 'dagRun', 'backfill')";

/** The `limit` most recent runs matching the query (pipectl's workflow types only). */
async function recentRuns(client: Client, query: string | undefined, limit: number): Promise<WorkflowExecutionInfo[]> {
  const full = query?.trim() ? `${PIPECTL_WORKFLOW_TYPES} AND (${query})` : PIPECTL_WORKFLOW_TYPES;
  const runs: WorkflowExecutionInfo[] = [];
  for await (const run of client.workflow.list({ query: full, pageSize: Math.min(limit, 1000) })) {
    runs.push(run);
    if (runs.length >= limit) break;
  }
  return runs;
}

/** The runs' histories, downloaded a few at a time, in order. */
async function* historiesOf(client: Client, runs: WorkflowExecutionInfo[]): AsyncGenerator<HistoryAndWorkflowId> {
  const fetch = (r: WorkflowExecutionInfo) =>
    client.workflow
      .getHandle(r.workflowId, r.runId)
      .fetchHistory()
      .then((history) => ({ workflowId: r.workflowId, history }));
  const ahead = 5;
  const pending = runs.slice(0, ahead).map(fetch);
  for (let i = 0; i < runs.length; i++) {
    const next = runs[i + ahead];
    if (next) pending.push(fetch(next));
    yield await pending[i]!;
  }
}

/**
 * `pipectl replay`: downloads the histories of recent runs from the server and replays them against the workflow code
 * about to be deployed (the prebuilt bundle, or `--bundle`). Exits 1 listing the runs the code would break.
 */
export async function replayCommand(opts: ReplayOptions): Promise<number> {
  const limit = opts.limit === undefined ? 100 : Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UserError(`--limit must be a whole number ≥ 1, not '${opts.limit}'`);
  const bundle = resolve(opts.bundle ?? BUNDLE_PATH);
  if (!existsSync(bundle))
    throw new UserError(
      opts.bundle
        ? `no workflow bundle at ${bundle}`
        : `no prebuilt workflow bundle at ${bundle}: run npm run build first`,
    );
  const s = settings();
  quietReplayLogs();
  const client = await connectClient(s);
  let runs: WorkflowExecutionInfo[];
  let outcomes: ReplayOutcome[];
  try {
    runs = await recentRuns(client, opts.query, limit);
    outcomes = runs.length
      ? await replayHistories(historiesOf(client, runs), {
          workflowBundle: { codePath: bundle },
          dataConverter: dataConverter(s),
        })
      : [];
  } finally {
    await client.connection.close();
  }
  const types = new Map(runs.map((r) => [r.runId, r.type]));
  const broken = outcomes.filter((o) => o.error);
  if (opts.json) {
    printJson({
      namespace: s.namespace,
      bundle,
      replayed: outcomes.length,
      broken: broken.map((o) => ({ ...o, workflowType: types.get(o.runId) })),
    });
    return broken.length ? 1 : 0;
  }
  if (outcomes.length === 0) {
    process.stdout.write(`No pipectl runs matched in namespace ${s.namespace}: nothing to replay.\n`);
    return 0;
  }
  if (broken.length === 0) {
    process.stdout.write(
      `${style.green('✓')} ${outcomes.length} run${outcomes.length === 1 ? '' : 's'} replay against ${bundle}\n`,
    );
    return 0;
  }
  const lines = [`${style.red('✗')} ${broken.length} of ${outcomes.length} runs would break with ${bundle}:`];
  for (const o of broken) {
    const what = o.error!.kind === 'nondeterminism' ? 'nondeterminism' : 'replay error';
    lines.push(`  ${o.workflowId} (${types.get(o.runId) ?? 'workflow'}, run ${o.runId}): ${what}: ${o.error!.message}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 1;
}
