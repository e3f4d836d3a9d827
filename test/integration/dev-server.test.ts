import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DEV_SERVER_DYNAMIC_CONFIG, portInUse, startDevServer, type DevServer } from '../../temporal-config/dev-server';
import { readSettings } from '../../temporal-config/settings';
import { freePort } from '../helpers/ports';

const logs: string[] = [];
const log = (line: string) => logs.push(line);
let stateDir: string;
let ports: { port: number; uiPort: number; httpPort: number; metricsPort: number };
let server: DevServer | undefined;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'pipectl-devserver-'));
  chmodSync(stateDir, 0o755);
  const [port, uiPort, httpPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  ports = { port, uiPort, httpPort, metricsPort };
});

afterAll(async () => {
  await server?.stop();
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

  server = await start();
  expect(server.started).toBe(true);
  const reconnected = await Connection.connect({ address: server.address });
  const description = await new Client({ connection: reconnected }).workflow
    .getHandle('survivor', handle.firstExecutionRunId)
    .describe();
  expect(description.status.name).toBe('RUNNING');
  await reconnected.close();
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
