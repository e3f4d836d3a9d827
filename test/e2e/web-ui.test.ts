import type { Client } from '@temporalio/client';
import type { Page } from 'playwright-core';
import type { Pool } from 'pg';
import { definePipeline, postgres } from '../../index';
import { startPipelineRun } from '../../cli/runs';
import { parseWindow } from '../../core/window';
import { launchBrowser, screenshotPath } from '../helpers/browser';
import { catalogOf } from '../helpers/catalog';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { namespaceClient, startTestWorker, uniqueQueue } from '../helpers/temporal';

/**
 * What a user sees in the Temporal Web UI (the one the dev server serves), in a real headless Chromium: runs found by a
 * visibility query on pipectl's search attributes, and a run's page saying what it is. Runs happen in a namespace of
 * this file's own, so the lists hold only its runs. Screenshots land in test/artifacts/.
 *
 * The Web UI of this Temporal CLI (UI 2.42.1) has no summary column in the workflows list: the list shows the search
 * attributes as columns, and the summary is on the run's page (User Metadata tab).
 */
const namespace = 'pipectl-web-ui';
const queue = uniqueQueue('web-ui');
const UI_TIMEOUT_MS = 60_000;

let db: Pool;
let client: Client;
let worker: Awaited<ReturnType<typeof startTestWorker>>;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;

const orders = definePipeline({
  name: 'ui_orders',
  description: 'Order totals, for the Web UI test',
  taskQueue: queue,
  extract: (ctx) => [
    { id: 1, day: ctx.window.start },
    { id: 2, day: ctx.window.start },
  ],
  load: postgres.upsert({ connection: 'warehouse', table: 'public.ui_orders', key: ['id', 'day'] }),
});

const refunds = definePipeline({
  name: 'ui_refunds',
  taskQueue: queue,
  extract: (ctx) => [{ id: 1, day: ctx.window.start }],
  load: postgres.upsert({ connection: 'warehouse', table: 'public.ui_refunds', key: ['id', 'day'] }),
});

const catalog = catalogOf([orders, refunds]);
const specOf = (name: string) => catalog.pipelines.get(name)!.spec;

/** Visibility lists a closed run a moment after it closes: asks until `query` matches `count` runs. */
async function awaitVisible(query: string, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { count: seen } = await client.workflow.count(query);
    if (seen === count) return;
    if (Date.now() > deadline) throw new Error(`visibility shows ${seen} runs for ${query}, expected ${count}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The workflows list of the test's namespace filtered by a visibility query, as a user would open it. */
async function openList(query: string): Promise<void> {
  const url = `http://localhost:${process.env.PIPECTL_UI_PORT}/namespaces/${namespace}/workflows`;
  await page.goto(`${url}?query=${encodeURIComponent(query)}`);
}

/** The list's rows for pipectl runs (the header and empty rows have no workflow ID). */
const runRows = () => page.getByRole('row').filter({ hasText: 'pipeline/ui_' });

beforeAll(async () => {
  // Fails the file at once, with what to install, when Chromium is missing.
  browser = await launchBrowser();
  // The list shows pipectl's search attributes as columns (the UI keeps its column choice in localStorage).
  // The script runs in the page, where `localStorage` exists (the tests compile without the DOM's types).
  await browser.context.addInitScript((ns) => {
    const columns = ['Status', 'Workflow ID', 'PipelineName', 'PipelineGroup', 'WindowStart', 'RunKind', 'Type', 'End'];
    const { localStorage } = globalThis as unknown as { localStorage: { setItem(key: string, value: string): void } };
    localStorage.setItem(
      'namespace-workflow-table-columns',
      JSON.stringify({ [ns]: columns.map((label) => ({ label })) }),
    );
  }, namespace);
  page = await browser.context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);

  client = await namespaceClient(namespace);
  const url = await createTestDatabase('web_ui');
  db = poolFor(url);
  await db.query('CREATE TABLE public.ui_orders (id int, day timestamptz, PRIMARY KEY (id, day))');
  await db.query('CREATE TABLE public.ui_refunds (id int, day timestamptz, PRIMARY KEY (id, day))');
  worker = await startTestWorker({
    catalog,
    taskQueue: queue,
    connections: { warehouse: url, pipectl: url },
    namespace,
  });

  // Real runs: two windows of ui_orders, one of ui_refunds.
  for (const [name, day] of [
    ['ui_orders', '2026-11-20'],
    ['ui_orders', '2026-11-21'],
    ['ui_refunds', '2026-11-20'],
  ] as const) {
    const handle = await startPipelineRun(client, specOf(name), parseWindow(day), 'manual', queue);
    await handle.result();
  }
  await awaitVisible('PipelineName = "ui_orders" AND ExecutionStatus = "Completed"', 2);
  await awaitVisible('PipelineName = "ui_refunds" AND ExecutionStatus = "Completed"', 1);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await db?.end();
  await client?.connection.close();
});

test('the workflows list filtered by PipelineName shows that pipeline’s runs with their search attributes, and no other pipeline’s', async () => {
  await openList('PipelineName = "ui_orders"');
  const row = runRows().filter({ hasText: 'pipeline/ui_orders/2026-11-20T00:00:00.000Z' });
  await row.waitFor();
  await runRows().filter({ hasText: 'pipeline/ui_orders/2026-11-21T00:00:00.000Z' }).waitFor();
  // Columns: status, workflow ID, PipelineName, PipelineGroup, WindowStart, RunKind, type, end.
  expect(await row.innerText()).toMatch(
    /Completed\s+pipeline\/ui_orders\/2026-11-20T00:00:00\.000Z\s+ui_orders\s+manual\s+2026-11-20 UTC 00:00:00(\.00)?\s+manual\s+runPipeline/,
  );
  expect(await runRows().count()).toBe(2);
  expect(await page.getByText('ui_refunds').count()).toBe(0);
  const shot = screenshotPath('list');
  await page.screenshot({ path: shot });
  process.stdout.write(`Web UI list screenshot: ${shot}\n`);

  // A window is findable too: the pipeline and the window start together pick one run.
  await openList('PipelineName = "ui_orders" AND WindowStart >= "2026-11-21T00:00:00Z"');
  await runRows().filter({ hasText: 'pipeline/ui_orders/2026-11-21T00:00:00.000Z' }).waitFor();
  await page.getByRole('row').filter({ hasText: 'pipeline/ui_orders/2026-11-20T00:00:00.000Z' }).waitFor({
    state: 'detached',
  });
  expect(await runRows().count()).toBe(1);
});

test('a run’s page says what it is: its summary, its details, its steps’ states and their summaries with row counts', async () => {
  await openList('PipelineName = "ui_orders"');
  await page.getByRole('link', { name: 'pipeline/ui_orders/2026-11-20T00:00:00.000Z' }).click();
  await page.getByRole('heading', { name: 'pipeline/ui_orders/2026-11-20T00:00:00.000Z' }).waitFor();
  await page.getByRole('tab', { name: 'User Metadata' }).click();
  // The UI renders the summary and the details (markdown) each in a frame of its own.
  const [summary, details] = [0, 1].map((i) => page.locator('iframe[title="output"]').nth(i).contentFrame());
  await summary!.getByText('ui_orders · 2026-11-20 → 2026-11-21', { exact: true }).waitFor();
  await details!.getByText('Order totals, for the Web UI test').waitFor();
  await details!
    .getByText('manual run of ui_orders for [2026-11-20T00:00:00.000Z, 2026-11-21T00:00:00.000Z)')
    .waitFor();
  // Each step's activity carries a summary; load's says how many rows it loaded.
  await page.getByText('extract · ui_orders', { exact: true }).waitFor();
  await page.getByText('load · ui_orders · 2 rows', { exact: true }).waitFor();
  // Current details come from a query the worker answers, closed run or not: each step's state and rows.
  const current = page.locator('iframe[title="output"]').nth(2).contentFrame();
  // Rendered as markdown: one list item per step.
  await current.getByText('extract: succeeded · 2 rows', { exact: true }).waitFor();
  await current.getByText('transform: skipped', { exact: true }).waitFor();
  await current.getByText('load: succeeded · 2 rows', { exact: true }).waitFor();
  const shot = screenshotPath('run');
  await page.screenshot({ path: shot, fullPage: true });
  process.stdout.write(`Web UI run screenshot: ${shot}\n`);
});
