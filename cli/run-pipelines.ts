import { topologicalOrder } from '../core/graph';
import type { RunPipelineResult } from '../core/run-input';
import { describeWindow, parseWindow, previousDay, type Window } from '../core/window';
import { formatDuration } from '../core/duration';
import { catalogFor, commandSettings, type CatalogOptions } from './context';
import { UserError } from './errors';
import { interactive, printJson, style } from './output';
import { connectClient, describeFailure, followRun, startPipelineRun } from './runs';
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
  const unknown = names.filter((n) => !catalog.pipelines.has(n));
  if (unknown.length > 0) {
    throw new UserError(
      `unknown pipeline${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${[...catalog.pipelines.keys()].sort().join(', ')}`,
    );
  }
  const first = catalog.pipelines.get(names[0]!)!.spec;
  const timeZone = first.schedule?.timezone ?? 'UTC';
  const window = opts.window ? parseWindow(opts.window, timeZone) : previousDay(Date.now(), timeZone);
  const order = topologicalOrder(catalog.graph, new Set(names));
  const client = await connectClient(s);
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
