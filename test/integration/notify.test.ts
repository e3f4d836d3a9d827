import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { NotificationBody } from '../../activities/notify';
import { buildDagInput, groupPipelines, startDagRun } from '../../cli/dag';
import { failedSnapshot } from '../../cli/dag-state';
import { describeFailure, startPipelineRun } from '../../cli/runs';
import { parseWindow } from '../../core/window';
import { definePipeline, type PipelineDefinition } from '../../index';
import { catalogOf } from '../helpers/catalog';
import { freePort } from '../helpers/ports';
import { createTestDatabase } from '../helpers/postgres';
import { startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';

const queue = uniqueQueue('notify');
const window = parseWindow('2026-11-20');

/** What the local endpoint received, by path. */
interface Received {
  headers: IncomingHttpHeaders;
  body: NotificationBody;
}
const received = new Map<string, Received[]>();
/** Requests per path, answered or not. */
const hits = new Map<string, number>();
let server: Server;
let hookBase: string;
let deadUrl: string;

/** The endpoint: `/flaky/...` answers 500 twice, then 200; `/reject/...` answers 400; everything else 200. */
async function startEndpoint(): Promise<void> {
  const port = await freePort();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const n = (hits.get(path) ?? 0) + 1;
      hits.set(path, n);
      if (path.startsWith('/reject/')) {
        res.writeHead(400).end('invalid_payload');
        return;
      }
      if (path.startsWith('/flaky/') && n <= 2) {
        res.writeHead(500).end('busy');
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as NotificationBody;
      received.set(path, [...(received.get(path) ?? []), { headers: req.headers, body }]);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  hookBase = `http://127.0.0.1:${port}`;
  // A port nothing listens on: every POST is refused.
  deadUrl = `http://127.0.0.1:${await freePort()}/hook`;
}

const sourceGone = () => {
  throw ApplicationFailure.create({ type: 'SourceGone', nonRetryable: true, message: 'column amount is gone' });
};
const twoRows = () => [{ id: 1 }, { id: 2 }];

function pipeline(name: string, extra: Partial<PipelineDefinition>): PipelineDefinition {
  return definePipeline({
    name,
    taskQueue: queue,
    retry: { maximumAttempts: 1 },
    extract: twoRows,
    load: (rows) => rows.length,
    ...extra,
  });
}

let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;
// The catalog is built once the endpoint's port is known.
let catalog: ReturnType<typeof catalogOf>;

beforeAll(async () => {
  await startEndpoint();
  catalog = catalogOf([
    pipeline('n_fails', {
      extract: sourceGone,
      notify: { url: `${hookBase}/hook/n_fails`, headers: { Authorization: 'Bearer test-token' } },
    }),
    pipeline('n_succeeds', { notify: { url: `${hookBase}/hook/n_succeeds`, on: ['failure', 'success'] } }),
    pipeline('n_quiet', { notify: { url: `${hookBase}/hook/n_quiet` } }),
    pipeline('n_flaky_hook', { notify: { url: `${hookBase}/flaky/n_flaky_hook`, on: ['success'] } }),
    pipeline('n_rejected', { notify: { url: `${hookBase}/reject/n_rejected`, on: ['success'] } }),
    pipeline('n_dead_ok', { notify: { url: deadUrl, on: ['success', 'failure'] } }),
    pipeline('n_dead_fails', { extract: sourceGone, notify: { url: deadUrl } }),
    // A group whose DAG run is notified: g_b fails, so g_c does not run; g_d is an independent branch.
    pipeline('g_a', {
      schedule: {
        every: 'daily',
        group: 'notified',
        notify: { url: `${hookBase}/hook/group`, on: ['failure', 'success'] },
      },
    }),
    pipeline('g_b', { dependsOn: ['g_a'], extract: sourceGone }),
    pipeline('g_c', { dependsOn: ['g_b'] }),
    pipeline('g_d', { dependsOn: ['g_a'] }),
  ]);
  const url = await createTestDatabase('notify');
  client = await testClient();
  worker = await startTestWorker({ catalog, taskQueue: queue, connections: { pipectl: url } });
});

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
  await new Promise((resolve) => server?.close(resolve));
});

const spec = (name: string) => catalog.pipelines.get(name)!.spec;
const outcomeOf = (handle: WorkflowHandle) =>
  handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );

/** The link to a run in the test server's Web UI. */
const runLink = (workflowId: string, runId: string) =>
  `http://localhost:${process.env.PIPECTL_UI_PORT}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;

/** The attempts of each `sendNotification` activity in a run's history, and how each one closed. */
async function notificationActivities(handle: WorkflowHandle) {
  const { events } = await handle.fetchHistory();
  const scheduled = events!.filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendNotification',
  );
  return scheduled.map((s) => {
    const id = String(s.eventId);
    const started = events!.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === id);
    const completed = events!.some((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id);
    return {
      summary: s.userMetadata?.summary?.data ? Buffer.from(s.userMetadata.summary.data).toString('utf8') : undefined,
      attempts: started?.activityTaskStartedEventAttributes?.attempt,
      completed,
    };
  });
}

test('a failed run POSTs its error, window and Web UI link as JSON, then fails with its own error', async () => {
  const handle = await startPipelineRun(client, spec('n_fails'), window, 'manual', queue);
  const err = await outcomeOf(handle);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(describeFailure(err)).toEqual({ type: 'SourceGone', message: 'extractRows: column amount is gone' });

  const [got, ...more] = received.get('/hook/n_fails') ?? [];
  expect(more).toEqual([]);
  expect(got!.headers['content-type']).toBe('application/json');
  expect(got!.headers.authorization).toBe('Bearer test-token');
  const { runId } = await handle.describe();
  const link = runLink(handle.workflowId, runId);
  expect(got!.body).toEqual({
    text: `:x: n_fails failed for 2026-11-20 → 2026-11-21: extractRows: column amount is gone <${link}|open in Temporal>`,
    pipeline: 'n_fails',
    outcome: 'failure',
    window,
    workflowId: 'pipeline/n_fails/2026-11-20T00:00:00.000Z',
    runId,
    url: link,
    error: { type: 'SourceGone', message: 'extractRows: column amount is gone' },
  });
  expect(got!.body.url).toContain(encodeURIComponent(handle.workflowId));
  // The Web UI names the activity.
  expect(await notificationActivities(handle)).toEqual([
    { summary: JSON.stringify('notify · n_fails · failure'), attempts: 1, completed: true },
  ]);
});

test('a successful run notifies a target that asked for successes, and not one that did not', async () => {
  const ok = await startPipelineRun(client, spec('n_succeeds'), window, 'manual', queue);
  expect((await ok.result()).rowsLoaded).toBe(2);
  const bodies = (received.get('/hook/n_succeeds') ?? []).map((r) => r.body);
  expect(bodies).toHaveLength(1);
  expect(bodies[0]).toMatchObject({ pipeline: 'n_succeeds', outcome: 'success', rowsLoaded: 2 });
  expect(bodies[0]!.text).toMatch(
    /^:white_check_mark: n_succeeds succeeded for 2026-11-20 → 2026-11-21: 2 rows loaded </,
  );
  expect(bodies[0]).not.toHaveProperty('error');

  const quiet = await startPipelineRun(client, spec('n_quiet'), window, 'manual', queue);
  expect((await quiet.result()).rowsLoaded).toBe(2);
  expect(hits.get('/hook/n_quiet')).toBeUndefined();
  // Nothing was even tried: no notification activity in the history.
  expect(await notificationActivities(quiet)).toEqual([]);
});

test('an endpoint that answers 500 twice then 200 gets the notification once, on the third attempt', async () => {
  const handle = await startPipelineRun(client, spec('n_flaky_hook'), window, 'manual', queue);
  expect((await handle.result()).rowsLoaded).toBe(2);
  expect(hits.get('/flaky/n_flaky_hook')).toBe(3);
  expect(received.get('/flaky/n_flaky_hook')).toHaveLength(1);
  expect(await notificationActivities(handle)).toEqual([
    { summary: JSON.stringify('notify · n_flaky_hook · success'), attempts: 3, completed: true },
  ]);
});

test('an endpoint that refuses the request (400) is not retried, and the run still succeeds', async () => {
  const handle = await startPipelineRun(client, spec('n_rejected'), window, 'manual', queue);
  expect((await handle.result()).rowsLoaded).toBe(2);
  expect(hits.get('/reject/n_rejected')).toBe(1);
  expect(await notificationActivities(handle)).toEqual([
    { summary: JSON.stringify('notify · n_rejected · success'), attempts: 1, completed: false },
  ]);
});

test('a dead endpoint does not fail a run, nor change the error of a failing one', async () => {
  const [ok, broken] = await Promise.all([
    startPipelineRun(client, spec('n_dead_ok'), window, 'manual', queue),
    startPipelineRun(client, spec('n_dead_fails'), window, 'manual', queue),
  ]);
  const [result, err] = await Promise.all([ok.result(), outcomeOf(broken)]);
  expect(result.rowsLoaded).toBe(2);
  expect(describeFailure(err)).toEqual({ type: 'SourceGone', message: 'extractRows: column amount is gone' });
  // Each delivery was retried to its limit, then given up.
  for (const handle of [ok, broken]) {
    const [notification, ...more] = await notificationActivities(handle);
    expect(more).toEqual([]);
    expect(notification).toMatchObject({ attempts: 5, completed: false });
  }
}, 120_000);

test("a group's DAG run sends one notification at its end, summarising its pipelines", async () => {
  const input = buildDagInput(catalog, groupPipelines(catalog, 'notified'), window, 'manual', queue, {
    group: 'notified',
  });
  const handle = await startDagRun(client, input, queue);
  const err = await outcomeOf(handle);
  expect(failedSnapshot(err)?.status).toBe('failed');

  const [got, ...more] = received.get('/hook/group') ?? [];
  expect(more).toEqual([]);
  const { runId } = await handle.describe();
  const link = runLink(handle.workflowId, runId);
  expect(got!.body).toEqual({
    text: `:x: group notified failed for 2026-11-20 → 2026-11-21: 1 of 4 pipelines failed (g_b: extractRows: column amount is gone), 1 not run <${link}|open in Temporal>`,
    group: 'notified',
    outcome: 'failure',
    window,
    workflowId: 'dag/notified/2026-11-20T00:00:00.000Z',
    runId,
    url: link,
    rowsLoaded: 4,
    summary: {
      total: 4,
      counts: expect.objectContaining({ succeeded: 2, failed: 1, upstream_failed: 1, cancelled: 0 }) as unknown,
      failed: [{ pipeline: 'g_b', error: { type: 'SourceGone', message: 'extractRows: column amount is gone' } }],
    },
  });
});
