import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DROPPED_VISIBILITY_INDEXES, visibilityIndexes } from '../../temporal-config/dev-server-sqlite';
import { DEV_SERVER_DYNAMIC_CONFIG, portInUse, startDevServer, type DevServer } from '../../temporal-config/dev-server';
import { readSettings } from '../../temporal-config/settings';
import { freePort } from '../helpers/ports';
import { removeTempDirs, tempDir } from '../helpers/temp-dir';

const logs: string[] = [];
const log = (line: string) => logs.push(line);
let stateDir: string;
let ports: { port: number; uiPort: number; httpPort: number; metricsPort: number };
let server: DevServer | undefined;

beforeAll(async () => {
  stateDir = tempDir('pipectl-devserver-');
  const [port, uiPort, httpPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  ports = { port, uiPort, httpPort, metricsPort };
});

afterAll(async () => {
  await server?.stop();
  removeTempDirs();
});

const start = () =>
  startDevServer({ stateDir, cacheDir: readSettings().cacheDir, namespace: 'default', log, ...ports });

test('starts the dev server with its SQLite file, registers the search attributes, and survives a restart', async () => {
  server = await start();
  expect(server.started).toBe(true);
  expect(logs.join('\n')).toContain(`data ${join(stateDir, 'temporal.sqlite')}`);
  // The database keeps a write-ahead log: SQLite's header says so with file format versions 2 and 2 (bytes 18, 19).
  const header = readFileSync(join(stateDir, 'temporal.sqlite')).subarray(0, 20);
  expect(header.subarray(0, 15).toString()).toBe('SQLite format 3');
  expect([header[18], header[19]]).toEqual([2, 2]);
  // The server process got the dynamic config: one history shard's queues read up to 1,000 times a second, not 20.
  const pid = readFileSync(join(stateDir, 'temporal.pid'), 'utf8').trim();
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  for (const [key, value] of Object.entries(DEV_SERVER_DYNAMIC_CONFIG)) {
    expect(args).toContain(`${key}=${JSON.stringify(value)}`);
  }
  expect(DEV_SERVER_DYNAMIC_CONFIG['history.transferProcessorMaxPollRPS']).toBe(1000);

  const connection = await Connection.connect({ address: server.address });
  const attrs = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
  expect(Object.keys(attrs.customAttributes ?? {})).toEqual(
    expect.arrayContaining(['PipelineName', 'PipelineGroup', 'WindowStart', 'RunKind']),
  );
  // A run with no worker stays open; it must still be there after the server restarts.
  const client = new Client({ connection });
  const handle = await client.workflow.start('runPipeline', {
    workflowId: 'survivor',
    taskQueue: 'nobody-polls',
    args: [],
  });
  await connection.close();

  // A second start on a served port reuses the server instead of starting another.
  const again = await start();
  expect(again.started).toBe(false);
  expect(logs.join('\n')).toContain(`Using the Temporal server already running at localhost:${ports.port}`);

  await server.stop();
  expect(await portInUse(ports.port)).toBe(false);

  // The new database lost the visibility indexes pipectl does without, and kept the ones lists and Schedules use.
  expect(logs.join('\n')).toContain(`Dropped ${DROPPED_VISIBILITY_INDEXES.length} visibility indexes`);
  const indexes = visibilityIndexes(join(stateDir, 'temporal.sqlite'));
  for (const name of DROPPED_VISIBILITY_INDEXES) expect(indexes).not.toContain(name);
  expect(indexes).toEqual(
    expect.arrayContaining([
      'default_idx',
      'by_workflow_id',
      'by_workflow_type',
      'by_status',
      'by_temporal_scheduled_by_id',
      'by_temporal_namespace_division',
      'by_keyword_01',
      'by_keyword_04',
      'by_datetime_02',
    ]),
  );

  logs.length = 0;
  server = await start();
  // Nothing left to drop on a later start.
  expect(logs.join('\n')).not.toContain('visibility indexes');
  expect(server.started).toBe(true);
  const reconnected = await Connection.connect({ address: server.address });
  const description = await new Client({ connection: reconnected }).workflow
    .getHandle('survivor', handle.firstExecutionRunId)
    .describe();
  expect(description.status.name).toBe('RUNNING');
  // Lists still filter on a column whose index went (the task queue), by reading the table.
  const listed: string[] = [];
  for await (const info of new Client({ connection: reconnected }).workflow.list({
    query: `TaskQueue = 'nobody-polls' AND ExecutionStatus = 'Running'`,
  })) {
    listed.push(info.workflowId);
  }
  expect(listed).toEqual(['survivor']);
  await reconnected.close();

  // A file whose lock another process holds is left alone; the server starts all the same.
  await server.stop();
  const lock = `${join(stateDir, 'temporal.sqlite')}.lock`;
  mkdirSync(lock);
  logs.length = 0;
  try {
    server = await start();
  } finally {
    rmSync(lock, { recursive: true });
  }
  expect(server.started).toBe(true);
  expect(logs.join('\n')).toContain(`Could not drop the unused visibility indexes`);
  expect(logs.join('\n')).toContain(`remove ${lock} if no pipectl is starting this server`);
});

test('refuses a port served by something that is not Temporal', async () => {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const squatter: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  });
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', () => r()));
  try {
    await expect(
      startDevServer({ stateDir, cacheDir: readSettings().cacheDir, namespace: 'default', log, ...ports, port }),
    ).rejects.toThrow(`port ${port} is in use by something that is not a Temporal server`);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => squatter.close(r));
  }
});
