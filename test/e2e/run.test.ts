import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { exited, PIPECTL, ROOT, runCli, spawnWorker } from '../helpers/spawn';
import { uniqueQueue } from '../helpers/temporal';
import { freePort } from '../helpers/ports';

const dir = join(ROOT, 'test', 'fixtures', 'cli');
const queue = uniqueQueue('cli');
let url: string;
let db: Pool;
let worker: ChildProcess;
const env = () => ({ PIPECTL_TASK_QUEUE: queue, PIPECTL_CONNECTION_WAREHOUSE: url, PIPECTL_CONNECTION_PIPECTL: url });

beforeAll(async () => {
  url = await createTestDatabase('cli');
  db = poolFor(url);
  await db.query('CREATE TABLE public.greetings (day date, id int, word text, PRIMARY KEY (day, id))');
  worker = await spawnWorker(['--dir', dir], env());
});

afterAll(async () => {
  worker?.kill('SIGTERM');
  if (worker) await exited(worker);
  await db?.end();
});

test('pipectl run follows a run to success and exits 0', async () => {
  const res = await runCli(['run', 'greetings', '--window', '2026-11-20', '--dir', dir], env());
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  expect(res.stdout).toContain('▶ greetings · 2026-11-20 → 2026-11-21');
  expect(res.stdout).toMatch(/✓ greetings succeeded in .*: 3 rows extracted, 3 loaded/);
  expect(res.stdout).toContain('/namespaces/default/workflows/pipeline%2Fgreetings%2F2026-11-20T00%3A00%3A00.000Z');
  const rows = await db.query("SELECT id, word FROM public.greetings WHERE day = '2026-11-20' ORDER BY id");
  expect(rows.rows).toEqual([
    { id: 1, word: 'HELLO' },
    { id: 2, word: 'BONJOUR' },
    { id: 3, word: 'HALLO' },
  ]);
});

test('running the same window again gives the same rows, never duplicates', async () => {
  const res = await runCli(['run', 'greetings', '--window', '2026-11-20', '--dir', dir], env());
  expect(res.code).toBe(0);
  const rows = await db.query("SELECT count(*)::int AS n FROM public.greetings WHERE day = '2026-11-20'");
  expect(rows.rows[0].n).toBe(3);
});

test('--json prints the run report', async () => {
  const res = await runCli(['run', 'greetings', '--window', '2026-11-21/2026-11-22', '--dir', dir, '--json'], env());
  expect(res.code).toBe(0);
  const report = JSON.parse(res.stdout);
  expect(report).toMatchObject({
    pipeline: 'greetings',
    workflowId: 'pipeline/greetings/2026-11-21T00:00:00.000Z',
    window: { start: '2026-11-21T00:00:00.000Z', end: '2026-11-22T00:00:00.000Z' },
    status: 'succeeded',
    rowsExtracted: 3,
    rowsLoaded: 3,
  });
});

test('a failed run exits 1 naming the error type; its downstream does not run', async () => {
  const res = await runCli(
    ['run', 'after_doomed', 'doomed', 'greetings', '--window', '2026-11-23', '--dir', dir, '--json'],
    env(),
  );
  expect(res.code).toBe(1);
  const reports = JSON.parse(res.stdout) as {
    pipeline: string;
    status: string;
    error?: { type: string; message: string };
  }[];
  expect(reports.map((r) => [r.pipeline, r.status])).toEqual([
    ['greetings', 'succeeded'],
    ['doomed', 'failed'],
    ['after_doomed', 'not_run'],
  ]);
  expect(reports[1]!.error).toEqual({ type: 'QuotaExceeded', message: 'extractRows: the API quota is used up' });
  const plain = await runCli(['run', 'doomed', '--window', '2026-11-24', '--dir', dir], env());
  expect(plain.code).toBe(1);
  expect(plain.stdout).toContain('✗ doomed failed: QuotaExceeded: extractRows: the API quota is used up');
});

test('user mistakes exit 1 with a clear message', async () => {
  const unknown = await runCli(['run', 'nope', '--dir', dir], env());
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain('unknown pipeline nope; known: after_doomed, doomed, greetings');
  const badWindow = await runCli(['run', 'greetings', '--window', '2026-02-30', '--dir', dir], env());
  expect(badWindow.code).toBe(1);
  expect(badWindow.stderr).toContain('2026-02-30 is not a calendar date');
  const backwards = await runCli(['run', 'greetings', '--window', '2026-11-22/2026-11-20', '--dir', dir], env());
  expect(backwards.code).toBe(1);
  expect(backwards.stderr).toContain('the end must be after the start');
});

test('an unreachable server exits 2 and says how to start one', async () => {
  const port = await freePort();
  const res = await runCli(['run', 'greetings', '--dir', dir], { ...env(), TEMPORAL_ADDRESS: `localhost:${port}` });
  expect(res.code).toBe(2);
  expect(res.stderr).toContain(`cannot reach the Temporal server at localhost:${port}`);
  expect(res.stderr).toContain('pipectl server start');
});

test('--help works for every command', async () => {
  for (const args of [
    ['--help'],
    ['run', '--help'],
    ['validate', '--help'],
    ['dev', '--help'],
    ['worker', '--help'],
    ['server', '--help'],
  ]) {
    const res = await runCli(args);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Usage: pipectl/);
  }
});

test('pipectl worker serves queues with their own step limits, and refuses a bad one by name', async () => {
  const bad = await runCli(['worker', '--dir', dir, '--task-queue', 'heavy:lots'], env());
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain('--task-queue "heavy:lots": the limit after \':\' must be a whole number');
  const beat = await runCli(['worker', '--dir', dir], { ...env(), PIPECTL_HEARTBEAT_INTERVAL: '500ms' });
  expect(beat.code).toBe(1);
  expect(beat.stderr).toContain('PIPECTL_HEARTBEAT_INTERVAL=500ms: expected a duration from 1s to 1m (e.g. 10s)');

  const other = uniqueQueue('other');
  const pooled = await spawnWorker(['--dir', dir, '--task-queue', `${other}:2`, 'spare'], env());
  pooled.kill('SIGTERM');
  expect(await exited(pooled)).toBe(0);
  expect(pooled.output()).toContain(`worker polling ${other} (2 steps at once), spare on`);
  // The fixture's pipelines run on the default queue, which this worker does not serve: it says who must.
  expect(pooled.output()).toContain(`note: this worker does not serve task queue '${queue}' (pipelines`);
});

test('a run with no worker on its task queue: pipectl run says so, waits, and finishes once a worker starts', async () => {
  const idle = uniqueQueue('cli-idle');
  const cli = spawn(process.execPath, [PIPECTL, 'run', 'greetings', '--window', '2026-11-23', '--dir', dir], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', ...env(), PIPECTL_TASK_QUEUE: idle },
  });
  let stdout = '';
  let stderr = '';
  cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let late: ChildProcess | undefined;
  try {
    for (let i = 0; i < 200 && !stderr.includes('no worker'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(stderr).toBe(
      `warning: no worker is polling task queue ${idle}: the run waits until one does (start one with pipectl worker, ` +
        'or pipectl dev; Ctrl-C stops following, the run stays queued)\n',
    );
    expect(cli.exitCode).toBeNull();
    late = await spawnWorker(['--dir', dir], { ...env(), PIPECTL_TASK_QUEUE: idle });
    expect(await exited(cli)).toBe(0);
    expect(stdout).toMatch(/✓ greetings succeeded in .*: 3 rows extracted, 3 loaded/);
  } finally {
    cli.kill('SIGKILL');
    late?.kill('SIGTERM');
    if (late) await exited(late);
  }
});
