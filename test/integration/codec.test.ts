import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { Pool } from 'pg';
import { startDevServer } from '../../temporal-config/dev-server';
import { readSettings } from '../../temporal-config/settings';
import { freePort } from '../helpers/ports';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { exited, PIPECTL, ROOT, runCli, spawnWorker } from '../helpers/spawn';
import { uniqueQueue } from '../helpers/temporal';

/**
 * Encrypted payloads, end to end: a Temporal dev server of this file's own (so its SQLite files hold only these
 * runs), a `pipectl worker` and `pipectl run` with PIPECTL_CODEC_KEYS set, a pipeline whose rows carry a canary and a
 * pipeline whose error message carries another. Neither canary may be found in the server's files afterwards; a
 * control run without keys on the same kind of server shows that the search does find them when they are there. An
 * encrypted payload from the run's history decodes through `pipectl codec-server`.
 */
const dir = join(ROOT, 'test', 'fixtures', 'codec');
const CANARY = `canary-${randomBytes(8).toString('hex')}`;
const FAILURE_CANARY = `failure-canary-${randomBytes(8).toString('hex')}`;
const KEYS = `k2:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`;
const WINDOW = '2026-11-20';
const CANARY_RUN = 'pipeline/canary/2026-11-20T00:00:00.000Z';
let url: string;
let db: Pool;
const stateDirs: string[] = [];

beforeAll(async () => {
  url = await createTestDatabase('codec');
  db = poolFor(url);
  await db.query('CREATE TABLE public.canary (id int PRIMARY KEY, secret text)');
});

afterAll(async () => {
  await db?.end();
  if (!process.env.PIPECTL_KEEP_TEST_STATE) for (const d of stateDirs) rmSync(d, { recursive: true, force: true });
});

/** The files under `stateDir` (the SQLite database and its -wal/-shm, the server log) whose bytes hold `needle`. */
function filesHolding(stateDir: string, needle: string): string[] {
  const bytes = Buffer.from(needle);
  return readdirSync(stateDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => readFileSync(f).includes(bytes))
    .map((f) => f.slice(stateDir.length + 1));
}

/** What one server's run left behind. */
interface Outcome {
  stateDir: string;
  /** The result payload of the canary run's first completed step, as stored in the history. */
  storedResult: Payload;
  /** The canary run's first step failure of `canary_fail`, as stored. */
  storedFailure: temporal.api.failure.v1.IFailure;
}

/**
 * Starts a dev server with its own state folder, a worker and `pipectl run canary canary_fail` against it (with
 * `extraEnv`), runs `during` while everything is up, then stops worker and server.
 */
async function runOnOwnServer(
  extraEnv: NodeJS.ProcessEnv,
  during: (env: NodeJS.ProcessEnv) => Promise<void> = async () => undefined,
): Promise<Outcome> {
  const stateDir = mkdtempSync(join(tmpdir(), 'pipectl-codec-'));
  stateDirs.push(stateDir);
  const [port, uiPort, httpPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const server = await startDevServer({
    stateDir,
    cacheDir: readSettings().cacheDir,
    port,
    uiPort,
    httpPort,
    metricsPort,
    namespace: 'default',
    log: () => undefined,
  });
  const env: NodeJS.ProcessEnv = {
    TEMPORAL_ADDRESS: server.address,
    PIPECTL_TASK_QUEUE: uniqueQueue('codec'),
    PIPECTL_CONNECTION_WAREHOUSE: url,
    PIPECTL_CONNECTION_PIPECTL: url,
    PIPECTL_TEST_CANARY: CANARY,
    PIPECTL_TEST_FAILURE_CANARY: FAILURE_CANARY,
    ...extraEnv,
  };
  let worker: ChildProcess | undefined;
  try {
    worker = await spawnWorker(['--dir', dir], env);
    const res = await runCli(['run', 'canary', 'canary_fail', '--window', WINDOW, '--dir', dir, '--json'], env);
    expect(res.code).toBe(1);
    const reports = JSON.parse(res.stdout) as { pipeline: string; status: string; error?: { message: string } }[];
    // pipectl reads back what it wrote: the rows went through, the failure message reads in full.
    expect(reports.map((r) => [r.pipeline, r.status]).sort()).toEqual([
      ['canary', 'succeeded'],
      ['canary_fail', 'failed'],
    ]);
    expect(reports.find((r) => r.pipeline === 'canary_fail')?.error?.message).toContain(FAILURE_CANARY);
    await during(env);

    // The raw history, through a client without any codec: what the server stores.
    const connection = await Connection.connect({ address: server.address });
    const raw = new Client({ connection });
    const events = (await raw.workflow.getHandle(CANARY_RUN).fetchHistory()).events ?? [];
    const storedResult = events.find((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.length)!
      .activityTaskCompletedEventAttributes!.result!.payloads![0]!;
    const failRuns = raw.workflow.list({ query: `WorkflowId = 'pipeline/canary_fail/2026-11-20T00:00:00.000Z'` });
    let storedFailure: temporal.api.failure.v1.IFailure | undefined;
    for await (const run of failRuns) {
      const failed = (await raw.workflow.getHandle(run.workflowId, run.runId).fetchHistory()).events?.find(
        (e) => e.activityTaskFailedEventAttributes,
      );
      storedFailure = failed?.activityTaskFailedEventAttributes?.failure ?? undefined;
    }
    await connection.close();
    return { stateDir, storedResult, storedFailure: storedFailure! };
  } finally {
    worker?.kill('SIGTERM');
    if (worker) await exited(worker);
    // Stopping the server checkpoints SQLite's write-ahead log; the -wal file is searched too if it is left.
    await server.stop();
  }
}

let control: Outcome;
let encrypted: Outcome;

test('control: without keys the canaries are in the server database in plain text (the search finds them)', async () => {
  control = await runOnOwnServer({});
  expect(Buffer.from(control.storedResult.data!).toString()).toContain(CANARY);
  expect(control.storedFailure.message).toContain(FAILURE_CANARY);
  const found = filesHolding(control.stateDir, CANARY);
  expect(found.some((f) => f.startsWith('temporal.sqlite'))).toBe(true);
  expect(filesHolding(control.stateDir, FAILURE_CANARY).some((f) => f.startsWith('temporal.sqlite'))).toBe(true);
});

test('with PIPECTL_CODEC_KEYS no canary reaches any file of the server, and pipectl still reads everything', async () => {
  encrypted = await runOnOwnServer({ PIPECTL_CODEC_KEYS: KEYS }, async (env) => {
    // Schedules made by sync carry encrypted memos; a second sync must still recognise them as unchanged.
    const first = await runCli(['sync', '--dir', dir, '--json'], env);
    expect(first.code).toBe(0);
    const second = await runCli(['sync', '--dir', dir, '--json'], env);
    expect(second.code).toBe(0);
    expect((JSON.parse(second.stdout) as { counts: Record<string, number> }).counts).toMatchObject({ unchanged: 1 });
    // Status reads the results and the failure of the runs through the codec (visibility may lag a moment behind).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const status = await runCli(['status', '--dir', dir, '--json'], env);
      expect(status.code).toBe(0);
      const pipelines = (
        JSON.parse(status.stdout) as { pipelines: { name: string; lastError: { message: string } | null }[] }
      ).pipelines;
      const message = pipelines.find((p) => p.name === 'canary_fail')?.lastError?.message ?? '';
      if (message.includes(FAILURE_CANARY) || Date.now() > deadline) {
        expect(message).toContain(FAILURE_CANARY);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    // Replaying the encrypted histories needs the keys too.
    const replay = await runCli(['replay', '--json'], env);
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ broken: [] });
    // Without the keys, pipectl cannot read them, and says what is missing.
    const keyless = await runCli(['status', '--dir', dir, '--json'], { ...env, PIPECTL_CODEC_KEYS: '' });
    expect(keyless.code).not.toBe(0);
    expect(keyless.stderr).toContain(
      "a payload is encrypted with key 'k2' and no codec keys are configured: set PIPECTL_CODEC_KEYS or PIPECTL_CODEC_KEYS_FILE",
    );
  });
  const meta = (p: Payload, k: string) => Buffer.from(p.metadata![k]!).toString();
  expect(meta(encrypted.storedResult, 'encoding')).toBe('binary/encrypted');
  expect(meta(encrypted.storedResult, 'encryption-key-id')).toBe('k2');
  expect(encrypted.storedFailure.message).toBe('Encoded failure');
  expect(encrypted.storedFailure.stackTrace ?? '').toBe('');

  const files = readdirSync(encrypted.stateDir);
  expect(files).toContain('temporal.sqlite');
  expect(filesHolding(encrypted.stateDir, CANARY)).toEqual([]);
  expect(filesHolding(encrypted.stateDir, FAILURE_CANARY)).toEqual([]);
  // The rows themselves reached the warehouse in the clear: only Temporal's copy is encrypted.
  const rows = await db.query('SELECT secret FROM public.canary WHERE id = 1');
  expect(rows.rows[0].secret).toBe(`seen ${CANARY}`);
});

/** Starts `pipectl codec-server` and resolves once it listens. */
function startCodecServerCli(args: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PIPECTL, 'codec-server', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`codec server did not start:\n${output}`)), 30_000);
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('codec server listening')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`codec server exited with ${code}:\n${output}`)));
  });
}

test('pipectl codec-server decodes a payload from the history, for the holder of the token only', async () => {
  const port = await freePort();
  const token = randomBytes(12).toString('hex');
  const server = await startCodecServerCli(['--port', String(port), '--cors-origin', 'http://localhost:8233'], {
    PIPECTL_CODEC_KEYS: KEYS,
    PIPECTL_CODEC_AUTH_TOKEN: token,
  });
  try {
    const p = encrypted.storedResult;
    const body = JSON.stringify({
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(p.data!).toString('base64'),
        },
      ],
    });
    const post = (authorization: string) =>
      fetch(`http://127.0.0.1:${port}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization },
        body,
      });
    const ok = await post(`Bearer ${token}`);
    expect(ok.status).toBe(200);
    const decoded = (await ok.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(decoded.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(Buffer.from(decoded.payloads[0]!.data, 'base64').toString()).toContain(CANARY);
    expect((await post('Bearer wrong-token')).status).toBe(401);
    expect((await post('')).status).toBe(401);
  } finally {
    server.kill('SIGTERM');
    expect(await exited(server)).toBe(0);
  }
});
