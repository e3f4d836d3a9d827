import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '../helpers/postgres';
import { exited, PIPECTL, ROOT, runCli, spawnWorker, type CliResult } from '../helpers/spawn';
import { uniqueQueue } from '../helpers/temporal';

/** source → flaky → report, and side (independent); each extract appends to a journal and obeys marker files. */
const dir = join(ROOT, 'test', 'fixtures', 'dag-cli');
const PIPELINES = ['source', 'flaky', 'report', 'side'];
const queue = uniqueQueue('dag-cli');
const stateDir = mkdtempSync(join(tmpdir(), 'pipectl-dag-cli-'));
let url: string;
let worker: ChildProcess;
const env = () => ({ PIPECTL_TASK_QUEUE: queue, PIPECTL_CONNECTION_PIPECTL: url, PIPECTL_TEST_DAG_DIR: stateDir });

/** What `pipectl dag status --json` prints. */
interface StatusJson {
  workflowId: string;
  status: string;
  kind: string;
  paused: boolean;
  nodes: Record<string, { state: string; attempts: number; error?: { type: string; message: string } }>;
  counts: Record<string, number>;
}

/** A marker file the fixture obeys: `fail` makes the pipeline's extract fail, `hold` keeps it running. */
const marker = (kind: 'fail' | 'hold', pipeline: string, day: string) => join(stateDir, `${kind}-${pipeline}-${day}`);
const set = (...files: string[]) => files.forEach((f) => writeFileSync(f, ''));
const clear = (...files: string[]) => files.forEach((f) => rmSync(f, { force: true }));

/** How many times each pipeline's extract ran for a day, from the fixture's journal. */
function ran(day: string): Record<string, number> {
  const file = join(stateDir, 'journal.log');
  const out: Record<string, number> = {};
  for (const line of existsSync(file) ? readFileSync(file, 'utf8').split('\n') : []) {
    const [name, d] = line.split(' ');
    if (name && d === day) out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

/** The DAG run ID `pipectl run` prints in its header. */
function dagIdIn(stdout: string): string {
  const id = /DAG run of .*\s(dag\/manual\/\S+)/.exec(stdout)?.[1];
  if (!id) throw new Error(`no DAG run ID in:\n${stdout}`);
  return id;
}

const dag = (args: string[]) => runCli(['dag', ...args], env());

/** Starts the four pipelines as a DAG run for a day without following it; returns its ID. */
async function startDetached(day: string): Promise<string> {
  const res = await runCli(['run', ...PIPELINES, '--window', day, '--dir', dir, '--detach'], env());
  expect(res).toMatchObject({ code: 0, stderr: '' });
  return dagIdIn(res.stdout);
}

async function status(id: string): Promise<StatusJson> {
  const res = await dag(['status', id, '--json']);
  expect(res).toMatchObject({ code: 0, stderr: '' });
  return JSON.parse(res.stdout) as StatusJson;
}

const states = (s: StatusJson) => Object.fromEntries(Object.entries(s.nodes).map(([n, node]) => [n, node.state]));

/** Polls `pipectl dag status --json` until `ready` holds; fails with the last state after a generous while. */
async function until(id: string, what: string, ready: (s: StatusJson) => boolean): Promise<StatusJson> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const s = await status(id);
    if (ready(s)) return s;
    if (Date.now() > deadline) throw new Error(`DAG run ${id} never got to: ${what}; last state ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Pipeline and status of each run report `--json` printed (as `pipectl run --json` prints them). */
const reported = (stdout: string) =>
  (JSON.parse(stdout) as { pipeline: string; status: string }[]).map((r) => [r.pipeline, r.status]);
/** The reports of a DAG run of the fixtures in which every pipeline succeeded: dependency order, ties by name. */
const ALL_SUCCEEDED = ['side', 'source', 'flaky', 'report'].map((p) => [p, 'succeeded']);

/** Refused with exit 1 and this message on stderr. */
function expectRefused(res: CliResult, message: string): void {
  expect(res.stderr).toContain(message);
  expect(res.code).toBe(1);
}

/**
 * `pipectl <args>` running in the background (with `terminal`, on a pseudo-terminal through util-linux `script`): wait
 * for a text in its output, or for its end.
 */
function startCli(
  args: string[],
  { terminal = false } = {},
): { printed(text: string): Promise<void>; done: Promise<CliResult> } {
  const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const [command, argv] = terminal
    ? ['script', ['-qfec', [process.execPath, PIPECTL, ...args].map(quote).join(' '), '/dev/null']]
    : [process.execPath, [PIPECTL, ...args]];
  const child = spawn(command, argv, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env() } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  return {
    async printed(text) {
      while (!stdout.includes(text)) {
        if (child.exitCode !== null)
          throw new Error(`pipectl ${args.join(' ')} ended before printing ${text}:\n${stdout}${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    done,
  };
}

/** util-linux `script`, which runs a command on a pseudo-terminal (macOS has another `script`). */
const hasScript = /util-linux/.test(spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout ?? '');

beforeAll(async () => {
  url = await createTestDatabase('dagcli');
  worker = await spawnWorker(['--dir', dir], env());
});

afterAll(async () => {
  worker?.kill('SIGTERM');
  if (worker) await exited(worker);
  rmSync(stateDir, { recursive: true, force: true });
});

describe('a DAG run with a failure, restarted from failure', () => {
  const day = '2031-03-01';
  let id: string;

  test('one node fails, its downstream is upstream_failed, the independent branch succeeds: dag status shows it', async () => {
    set(marker('fail', 'flaky', day));
    const run = await runCli(['run', ...PIPELINES, '--window', day, '--dir', dir], env());
    expect(run.stdout).toContain('✗ flaky failed: SourceDown: extractRows: the source of flaky is down');
    expect(run.code).toBe(1);
    id = dagIdIn(run.stdout);

    const s = await status(id);
    expect(s).toMatchObject({ workflowId: id, status: 'failed', kind: 'manual', paused: false });
    expect(states(s)).toEqual({ source: 'succeeded', flaky: 'failed', report: 'upstream_failed', side: 'succeeded' });
    expect(s.nodes.flaky!.error).toEqual({ type: 'SourceDown', message: 'extractRows: the source of flaky is down' });
    expect(s.counts).toEqual({
      pending: 0,
      waiting: 0,
      running: 0,
      succeeded: 2,
      failed: 1,
      upstream_failed: 1,
      skipped: 0,
      cancelled: 0,
    });

    const text = await dag(['status', id]);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(`DAG run failed · 2031-03-01 → 2031-03-02 · ${id}`);
    // Dependency order, one row per node: mark, name, state, attempts, …, error.
    expect(lines.filter((l) => /^[✓✗–·…] /.test(l)).map((l) => l.split(/\s+/).slice(0, 4))).toEqual([
      ['✓', 'side', 'succeeded', '1'],
      ['✓', 'source', 'succeeded', '1'],
      ['✗', 'flaky', 'failed', '1'],
      ['–', 'report', 'upstream', 'failed'],
    ]);
    expect(text.stdout).toMatch(/✗ +flaky +failed .*SourceDown: extractRows: the source of flaky is down/);
    expect(text.stdout).toContain('2 succeeded · 1 failed · 1 upstream failed');
    expect(text.stdout).toContain('] 4/4 finished');
    expect(ran(day)).toEqual({ source: 1, flaky: 1, side: 1 });
  });

  test('dag retry runs only the failed node and its downstream again, under the same ID, and exits 0', async () => {
    clear(marker('fail', 'flaky', day));
    const res = await dag(['retry', id]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(
      `▶ DAG run restarted from failure: flaky, report (2 of 4 pipelines) run again · 2031-03-01 → 2031-03-02  ${id}`,
    );
    expect(res.stdout).toContain('✓ flaky succeeded: 1 rows loaded');
    expect(res.stdout).toContain('✓ report succeeded: 1 rows loaded');
    expect(res.stdout).not.toMatch(/source|side/);
    expect(res.stdout).toContain('✓ DAG run succeeded: 4 of 4 pipelines succeeded');
    // The journal proves it: the succeeded pipelines have no second line.
    expect(ran(day)).toEqual({ source: 1, side: 1, flaky: 2, report: 1 });

    const s = await status(id);
    expect(s).toMatchObject({ status: 'succeeded', kind: 'retry' });
    expect(states(s)).toEqual({ source: 'succeeded', flaky: 'succeeded', report: 'succeeded', side: 'succeeded' });
  });

  test('dag retry of a DAG run with nothing left to retry says so and starts nothing', async () => {
    const res = await dag(['retry', id]);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout).toContain(`nothing to retry: every pipeline of DAG run ${id} succeeded or was skipped`);
    const json = await dag(['retry', id, '--json']);
    expect(json.code).toBe(0);
    expect(reported(json.stdout)).toEqual(ALL_SUCCEEDED);
    expect(ran(day)).toEqual({ source: 1, side: 1, flaky: 2, report: 1 });
  });
});

describe('steering a running DAG run', () => {
  const day = '2031-03-02';
  let id: string;

  test('while it runs, dag retry is refused, and so are retry-node and skip-node in the wrong state', async () => {
    set(marker('hold', 'source', day), marker('hold', 'side', day), marker('fail', 'flaky', day));
    id = await startDetached(day);
    await until(
      id,
      'source and side running',
      (s) => s.nodes.source!.state === 'running' && s.nodes.side!.state === 'running',
    );

    expectRefused(
      await dag(['retry', id]),
      `DAG run '${id}' is still running: \`pipectl dag retry\` restarts a DAG run once it has closed. To run a failed node again inside it, use \`pipectl dag retry-node ${id} <node>\``,
    );
    expectRefused(
      await dag(['retry-node', id, 'source']),
      `cannot retry in DAG run '${id}': node 'source' is running: only a failed or cancelled node can be retried`,
    );
    expectRefused(
      await dag(['skip-node', id, 'side']),
      `cannot skip in DAG run '${id}': node 'side' is running: only a node that has not succeeded and is not running can be skipped`,
    );
    expectRefused(await dag(['retry-node', id, 'nope']), "no node 'nope' in this DAG run");
    expect(states(await status(id))).toMatchObject({ source: 'running', side: 'running', flaky: 'pending' });
  });

  test('dag pause stops new pipelines from starting; dag resume lets them go on', async () => {
    const paused = await dag(['pause', id]);
    expect(paused).toMatchObject({ code: 0, stderr: '' });
    expect(paused.stdout).toBe(
      `paused DAG run ${id}: running pipelines finish, no new ones start; \`pipectl dag resume ${id}\` lets it go on\n`,
    );
    await until(id, 'paused', (s) => s.paused);
    clear(marker('hold', 'source', day));
    // source finishes, but flaky, now ready, does not start while the DAG run is paused.
    const s = await until(id, 'source succeeded', (st) => st.nodes.source!.state === 'succeeded');
    expect(s).toMatchObject({ status: 'running', paused: true });
    expect(s.nodes.flaky!.state).toBe('pending');
    expect(ran(day).flaky).toBeUndefined();

    const resumed = await dag(['resume', id, '--json']);
    expect(resumed).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(resumed.stdout)).toEqual({ workflowId: id, paused: false });
    const after = await until(id, 'flaky failed', (st) => st.nodes.flaky!.state === 'failed');
    expect(after.paused).toBe(false);
    expect(states(after)).toMatchObject({ report: 'upstream_failed', side: 'running' });
  });

  test('dag skip-node and dag retry-node steer nodes; dag status --watch follows it until it closes', async () => {
    const skipped = await dag(['skip-node', id, 'report']);
    expect(skipped).toMatchObject({ code: 0, stderr: '' });
    expect(skipped.stdout).toContain(`skipped report in DAG run ${id}`);
    clear(marker('fail', 'flaky', day));
    const retried = await dag(['retry-node', id, 'flaky', '--json']);
    expect(retried).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(retried.stdout)).toMatchObject({ workflowId: id, nodes: { report: { state: 'skipped' } } });
    await until(id, 'flaky succeeded', (s) => s.nodes.flaky!.state === 'succeeded');

    // side is still held: the watch starts on a running DAG run and sees it close.
    const watch = startCli(['dag', 'status', id, '--watch']);
    await watch.printed(`DAG run running · 2031-03-02 → 2031-03-03 · ${id}`);
    clear(marker('hold', 'side', day));
    const res = await watch.done;
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout).toContain('  … side running\n');
    expect(res.stdout).toContain('  ✓ side succeeded: 1 rows loaded\n');
    expect(res.stdout).toContain('DAG run succeeded\n3 succeeded · 1 skipped\n');
    expect(res.stdout).toContain('] 4/4 finished');

    const s = await status(id);
    expect(s.status).toBe('succeeded');
    expect(s.nodes.flaky).toMatchObject({ state: 'succeeded', attempts: 2 });
    expect(ran(day)).toEqual({ source: 1, side: 1, flaky: 2 });
  });
});

describe('cancelling a DAG run', () => {
  const day = '2031-03-03';
  let id: string;

  test('dag cancel cancels it and its running pipeline, waits until it closed and prints the counts', async () => {
    set(marker('hold', 'source', day));
    id = await startDetached(day);
    await until(
      id,
      'source running, side succeeded',
      (s) => s.nodes.source!.state === 'running' && s.nodes.side!.state === 'succeeded',
    );
    const res = await dag(['cancel', id]);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout).toBe(
      `cancelling DAG run ${id}: waiting for its running pipelines to stop…\n✗ DAG run ${id} cancelled: 1 succeeded · 3 cancelled\n`,
    );
    const s = await status(id);
    expect(s.status).toBe('cancelled');
    expect(states(s)).toEqual({ source: 'cancelled', flaky: 'cancelled', report: 'cancelled', side: 'succeeded' });
    expectRefused(await dag(['cancel', id]), `cannot cancel it: DAG run '${id}' is not running (cancelled)`);
    expectRefused(await dag(['pause', id]), `\`pipectl dag retry ${id}\` restarts the pipelines that did not succeed`);
  });

  test('dag retry restarts a cancelled DAG run: what succeeded is not run again', async () => {
    clear(marker('hold', 'source', day));
    const res = await dag(['retry', id, '--json']);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(reported(res.stdout)).toEqual(ALL_SUCCEEDED);
    expect(ran(day)).toEqual({ source: 2, side: 1, flaky: 1, report: 1 });
  });
});

(hasScript ? test : test.skip)('on a terminal, dag status redraws in place until the DAG run closes', async () => {
  const day = '2031-03-05';
  set(marker('hold', 'source', day));
  const id = await startDetached(day);
  await until(
    id,
    'source running, side succeeded',
    (s) => s.nodes.source!.state === 'running' && s.nodes.side!.state === 'succeeded',
  );
  const live = startCli(['dag', 'status', id], { terminal: true });
  await live.printed('1/4 finished');
  await live.printed('\u001b[11A'); // the cursor goes back up 11 lines: a frame drawn over the first
  const cancel = await dag(['cancel', id]);
  expect(cancel.code).toBe(0);
  const res = await live.done;
  expect(res.code).toBe(0);
  const frames = res.stdout.split('\u001b[11A');
  expect(frames[0]).toContain('DAG run running · 2031-03-05 → 2031-03-06 · ');
  expect(frames[0]).toMatch(/… +source +running +1 /);
  expect(frames.at(-1)).toContain('DAG run cancelled · 2031-03-05 → 2031-03-06 · ');
  expect(frames.at(-1)).toMatch(/✗ +source +cancelled +1 /);
  expect(frames.at(-1)).toContain('1 succeeded · 3 cancelled');
});

test('an unknown ID, or a workflow that is not a DAG run, exits 1 with a clear message', async () => {
  expectRefused(
    await dag(['status', 'dag/manual/nope']),
    "no DAG run 'dag/manual/nope': check the ID (pipectl run prints it)",
  );
  const single = await runCli(['run', 'side', '--window', '2031-03-04', '--dir', dir], env());
  expect(single.code).toBe(0);
  const pipelineRun = 'pipeline/side/2031-03-04T00:00:00.000Z';
  expectRefused(await dag(['retry', pipelineRun]), `'${pipelineRun}' is a runPipeline workflow, not a DAG run`);
});

test('--help works for dag and each of its commands', async () => {
  for (const sub of ['', 'status', 'retry', 'pause', 'resume', 'retry-node', 'skip-node', 'cancel']) {
    const res = await runCli(['dag', ...(sub ? [sub] : []), '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`Usage: pipectl dag${sub ? ` ${sub}` : ''}`);
  }
});
