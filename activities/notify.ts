import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { NodeError, NodeState } from '../core/dag-plan';
import type { NotifyOutcome, NotifyTarget } from '../core/pipeline-spec';
import { describeWindow, type Window } from '../core/window';

/** Error type of a notification the endpoint refused for good (a 4xx other than 408 and 429): not retried. */
export const NOTIFICATION_REJECTED = 'NotificationRejected';

/** Longest one POST may take; the workflow gives the activity a little more. */
const REQUEST_TIMEOUT_MS = 8_000;
/** Longest error message quoted in a notification's text. */
const MAX_ERROR_CHARS = 300;
/** Most failed pipelines listed by name in a group notification's text (the JSON lists them all). */
const MAX_LISTED = 5;

/** What a group notification says about the DAG run's pipelines. */
export interface GroupSummary {
  /** Pipelines in the DAG run. */
  total: number;
  /** How many pipelines ended in each state. */
  counts: Record<NodeState, number>;
  /** The pipelines that failed, with their errors. */
  failed: { pipeline: string; error: NodeError }[];
}

/** What the calling workflow knows about how the run ended; the activity adds where it is seen in the Web UI. */
export interface NotificationRequest {
  target: NotifyTarget;
  outcome: NotifyOutcome;
  window: Window;
  /** For a pipeline run. */
  pipeline?: string;
  /** For a DAG run of a group. */
  group?: string;
  rowsLoaded?: number;
  /** Why a failed run failed. */
  error?: NodeError;
  /** A DAG run's pipelines. */
  summary?: GroupSummary;
}

/** The JSON body POSTed to a notification target. */
export interface NotificationBody {
  /** One readable line, in Slack's markup (`<url|label>` links). */
  text: string;
  pipeline?: string;
  group?: string;
  outcome: NotifyOutcome;
  window: Window;
  workflowId: string;
  runId: string;
  /** The run in the Temporal Web UI. */
  url: string;
  rowsLoaded?: number;
  error?: NodeError;
  summary?: GroupSummary;
}

/** The Web UI's base URL: `PIPECTL_WEB_UI_URL`, else the dev server's UI on `PIPECTL_UI_PORT` (8233). */
export function webUiBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.PIPECTL_WEB_UI_URL?.trim();
  if (explicit) {
    let url: URL | undefined;
    try {
      url = new URL(explicit);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new Error(
        `PIPECTL_WEB_UI_URL=${JSON.stringify(explicit)}: expected an http(s) URL, e.g. https://temporal.example.com`,
      );
    }
    return explicit.replace(/\/+$/, '');
  }
  return `http://localhost:${env.PIPECTL_UI_PORT || '8233'}`;
}

/** A workflow run's page in the Web UI. */
export function runUrl(base: string, namespace: string, workflowId: string, runId: string): string {
  const e = encodeURIComponent;
  return `${base}/namespaces/${e(namespace)}/workflows/${e(workflowId)}/${e(runId)}/history`;
}

/** Slack's control characters, escaped so an error message cannot break the markup. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string, max = MAX_ERROR_CHARS): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The notification's one-line text, e.g. `:x: orders_daily failed for 2026-11-20 → 2026-11-21: <error> <link>`. */
export function notificationText(req: NotificationRequest, url: string): string {
  const icon = req.outcome === 'failure' ? ':x:' : ':white_check_mark:';
  const who = req.pipeline ?? `group ${req.group ?? '?'}`;
  const verb = req.outcome === 'failure' ? 'failed' : 'succeeded';
  const rows = req.rowsLoaded !== undefined ? `${req.rowsLoaded} rows loaded` : undefined;
  let detail: string | undefined;
  if (req.summary) {
    const { total, counts, failed } = req.summary;
    if (req.outcome === 'failure') {
      const listed = failed
        .slice(0, MAX_LISTED)
        .map((f) => `${f.pipeline}: ${clip(f.error.message, 120)}`)
        .join('; ');
      const more = failed.length > MAX_LISTED ? `; and ${failed.length - MAX_LISTED} more` : '';
      const notRun = counts.upstream_failed + counts.cancelled;
      detail = `${counts.failed} of ${total} pipelines failed${listed ? ` (${listed}${more})` : ''}${notRun > 0 ? `, ${notRun} not run` : ''}`;
    } else {
      const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : '';
      detail = `${counts.succeeded} of ${total} pipelines succeeded${skipped}${rows ? `, ${rows}` : ''}`;
    }
  } else if (req.outcome === 'failure') {
    detail = req.error ? clip(req.error.message) : undefined;
  } else detail = rows;
  const body = `${who} ${verb} for ${describeWindow(req.window)}${detail ? `: ${detail}` : ''}`;
  return `${icon} ${escapeSlack(body)} <${url}|open in Temporal>`;
}

/** Options of the notification activity. */
export interface NotifyOptions {
  /** Base URL of the Temporal Web UI for links (default: `webUiBaseUrl()`). */
  webUiUrl?: string;
}

/** Builds the notification activity. */
export function createNotifyActivities(options: NotifyOptions = {}) {
  const base = options.webUiUrl ?? webUiBaseUrl();
  return {
    /**
     * POSTs one notification as JSON to its target. A network error, a timeout or a non-2xx answer is thrown to be
     * retried; a 4xx other than 408 and 429 is `NotificationRejected`, not retried. Returns the HTTP status.
     */
    async sendNotification(req: NotificationRequest): Promise<{ status: number }> {
      const ctx = Context.current();
      const run = ctx.info.workflowExecution;
      if (!run) {
        throw ApplicationFailure.create({
          type: 'NotInWorkflow',
          nonRetryable: true,
          message: 'notifications are sent by a pipeline run or a DAG run',
        });
      }
      const { workflowId, runId } = run;
      const url = runUrl(base, ctx.info.namespace, workflowId, runId);
      const body: NotificationBody = {
        text: notificationText(req, url),
        ...(req.pipeline !== undefined ? { pipeline: req.pipeline } : {}),
        ...(req.group !== undefined ? { group: req.group } : {}),
        outcome: req.outcome,
        window: req.window,
        workflowId,
        runId,
        url,
        ...(req.rowsLoaded !== undefined ? { rowsLoaded: req.rowsLoaded } : {}),
        ...(req.error ? { error: req.error } : {}),
        ...(req.summary ? { summary: req.summary } : {}),
      };
      const target = new URL(req.target.url);
      // The endpoint's origin only: a webhook URL's path often is its secret.
      const where = target.origin;
      let res: Response;
      try {
        res = await fetch(target, {
          method: 'POST',
          headers: { ...req.target.headers, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.any([AbortSignal.timeout(REQUEST_TIMEOUT_MS), ctx.cancellationSignal]),
        });
      } catch (err) {
        // fetch says only "fetch failed"; the reason (refused, DNS, timeout) is its cause.
        const e = err as { message?: unknown; cause?: { message?: unknown } } | undefined;
        throw new Error(`POST to ${where} failed: ${String(e?.cause?.message ?? e?.message ?? err)}`);
      }
      const answer = clip(await res.text().catch(() => ''), 200);
      if (res.ok) return { status: res.status };
      const message = `POST to ${where} answered ${res.status}${answer ? `: ${answer}` : ''}`;
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        throw ApplicationFailure.create({ type: NOTIFICATION_REJECTED, nonRetryable: true, message });
      }
      throw new Error(message);
    },
  };
}
