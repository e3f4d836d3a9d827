import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { buildDagInput, startDagRun } from '../../cli/dag';
import { awaitDagRun } from '../../cli/dag-state';
import { startPipelineRun } from '../../cli/runs';
import { parseWindow } from '../../core/window';
import { definePipeline } from '../../index';
import { catalogOf } from '../helpers/catalog';
import { createTestDatabase } from '../helpers/postgres';
import { runCli } from '../helpers/spawn';
import { startTestWorker, testClient, uniqueQueue } from '../helpers/temporal';

/**
 * `pipectl replay` against the live test server: recent runs replay against the prebuilt bundle and against a bundle
 * with a compatible change; a bundle with an incompatible change is refused, listing the runs it would break.
 */
const queue = uniqueQueue('replay');
const step = (name: string) =>
  definePipeline({
    name,
    taskQueue: queue,
    ...(name === 'rp_b' ? { dependsOn: ['rp_a'] } : {}),
    extract: () => [{ name }],
    load: (rows) => rows.length,
  });
const catalog = catalogOf([step('rp_a'), step('rp_b')]);
const QUERY = "PipelineName IN ('rp_a', 'rp_b')";
let client: Client;
let dir: string;
let pipelineRunId: string;

async function bundle(module: string): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve(module),
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: console.error,
    },
  });
  const file = join(dir, `${module.replace(/\W+/g, '-')}.js`);
  writeFileSync(file, code);
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pipectl-replay-'));
  client = await testClient();
  const worker = await startTestWorker({
    catalog,
    taskQueue: queue,
    connections: { pipectl: await createTestDatabase('replay') },
  });
  try {
    const run = await startPipelineRun(
      client,
      catalog.pipelines.get('rp_a')!.spec,
      parseWindow('2025-02-01'),
      'manual',
      queue,
    );
    await run.result();
    pipelineRunId = run.workflowId;
    const dag = await startDagRun(
      client,
      buildDagInput(catalog, ['rp_a', 'rp_b'], parseWindow('2025-02-02'), 'manual', queue),
      queue,
    );
    await awaitDagRun(dag);
  } finally {
    await worker.stop();
  }
  // Visibility is eventually consistent: wait until the four runs (one, and the DAG run with its two) are listed.
  for (let i = 0; (await client.workflow.count(QUERY)).count < 4; i++) {
    if (i > 100) throw new Error('the runs never showed up in visibility');
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  await client?.connection.close();
  rmSync(dir, { recursive: true, force: true });
});

test('recent runs replay against the prebuilt bundle and against a compatible change', async () => {
  const current = await runCli(['replay', '--query', QUERY]);
  expect(current.stderr).toBe('');
  expect(current.code).toBe(0);
  expect(current.stdout).toMatch(/✓ 4 runs replay against .*dist\/workflow-bundle\.js/);

  const compatible = await runCli([
    'replay',
    '--query',
    QUERY,
    '--bundle',
    await bundle('../replay/compatible-workflows'),
  ]);
  expect(compatible.code).toBe(0);
  expect(compatible.stdout).toContain('✓ 4 runs replay against');
}, 120_000);

test('an incompatible change exits 1 listing the runs it would break', async () => {
  const file = await bundle('../replay/nondeterministic-workflows');
  const res = await runCli(['replay', '--query', QUERY, '--bundle', file]);
  expect(res.code).toBe(1);
  expect(res.stdout).toContain(`✗ 3 of 4 runs would break with ${file}:`);
  expect(res.stdout).toContain(`${pipelineRunId} (runPipeline, run `);
  expect(res.stdout).toContain('pipeline/rp_b/2025-02-02T00:00:00.000Z (runPipeline');
  expect(res.stdout).toContain('nondeterminism');
  expect(res.stdout).not.toContain('(dagRun');

  const json = await runCli(['replay', '--query', QUERY, '--bundle', file, '--json', '--limit', '2']);
  expect(json.code).toBe(1);
  const out = JSON.parse(json.stdout) as { replayed: number; broken: { workflowId: string; workflowType: string }[] };
  expect(out.replayed).toBe(2);
  expect(out.broken.every((b) => b.workflowType === 'runPipeline')).toBe(true);
}, 120_000);

test('bad options are refused before the server is asked', async () => {
  const limit = await runCli(['replay', '--limit', '0']);
  expect(limit.code).toBe(1);
  expect(limit.stderr).toContain("--limit must be a whole number ≥ 1, not '0'");
  const missing = await runCli(['replay', '--bundle', '/nonexistent/bundle.js']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('no workflow bundle at /nonexistent/bundle.js');
});
