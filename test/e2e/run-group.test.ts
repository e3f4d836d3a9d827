import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createTestDatabase } from '../helpers/postgres';
import { exited, ROOT, runCli, spawnWorker } from '../helpers/spawn';
import { uniqueQueue } from '../helpers/temporal';

const dir = join(ROOT, 'test', 'fixtures', 'cli-group');
const queue = uniqueQueue('group');
let url: string;
let worker: ChildProcess;
const env = () => ({ PIPECTL_TASK_QUEUE: queue, PIPECTL_CONNECTION_PIPECTL: url });

beforeAll(async () => {
  url = await createTestDatabase('group');
  worker = await spawnWorker(['--dir', dir], env());
});

afterAll(async () => {
  worker?.kill('SIGTERM');
  if (worker) await exited(worker);
});

test('pipectl run <group> runs the group and the unscheduled pipelines downstream of it as one DAG run', async () => {
  const res = await runCli(['run', 'morning', '--window', '2026-11-20', '--dir', dir, '--json'], env());
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  const reports = JSON.parse(res.stdout) as Array<{ pipeline: string; status: string; durationMs: number }>;
  expect(reports.map((r) => [r.pipeline, r.status])).toEqual([
    ['sales', 'succeeded'],
    ['stock', 'succeeded'],
    ['margin', 'succeeded'],
  ]);
});

test('the text report names the group and its DAG run ID', async () => {
  const res = await runCli(['run', 'morning', '--window', '2026-11-21', '--dir', dir], env());
  expect(res.code).toBe(0);
  expect(res.stdout).toContain('▶ DAG run of group morning (3 pipelines) · 2026-11-21 → 2026-11-22');
  expect(res.stdout).toContain('dag/morning/2026-11-21T00:00:00.000Z');
  expect(res.stdout).toContain('✓ DAG run succeeded: 3 of 3 pipelines succeeded');
});

test('a group runs alone; an unknown name lists pipelines and groups', async () => {
  const mixed = await runCli(['run', 'morning', 'audit', '--dir', dir], env());
  expect(mixed.code).toBe(1);
  expect(mixed.stderr).toContain('unknown pipeline morning; a group runs alone');
  const unknown = await runCli(['run', 'evening', '--dir', dir], env());
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain('known: audit, margin, sales, stock; groups: morning, weekly-mon-0700-utc');
});
