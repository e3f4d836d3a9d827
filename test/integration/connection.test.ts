import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createSecureServer, type Http2SecureServer, type IncomingHttpHeaders } from 'node:http2';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { createTestDatabase, poolFor } from '../helpers/postgres';
import { exited, ROOT, runCli, spawnWorker } from '../helpers/spawn';
import { uniqueQueue } from '../helpers/temporal';
import { makeTestCertificates, startTlsProxy, type TestCertificates, type TlsProxy } from '../helpers/tls-proxy';

/**
 * pipectl's CLI and worker reach Temporal the way Temporal Cloud is reached: through mutual TLS (a real TLS proxy
 * in front of the test server, certificates made with openssl) and with an API key (a real HTTP/2 server that records
 * what arrives). Bad settings stop them at start-up, before any connection.
 */
const SERVER_NAME = 'temporal.pipectl.test';
const dir = join(ROOT, 'test', 'fixtures', 'cli');
const queue = uniqueQueue('tls');
const certs: TestCertificates = makeTestCertificates(SERVER_NAME);
let proxy: TlsProxy;
let url: string;
let db: Pool;

/** Environment of a pipectl process that reaches the test server only through the mutual-TLS proxy. */
const tlsEnv = (over: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: proxy.address,
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
  TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
  TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
  TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
  PIPECTL_TASK_QUEUE: queue,
  PIPECTL_CONNECTION_WAREHOUSE: url,
  PIPECTL_CONNECTION_PIPECTL: url,
  ...over,
});

beforeAll(async () => {
  proxy = await startTlsProxy(process.env.TEMPORAL_ADDRESS!, certs);
  url = await createTestDatabase('tls');
  db = poolFor(url);
  await db.query('CREATE TABLE public.greetings (day date, id int, word text, PRIMARY KEY (day, id))');
});

afterAll(async () => {
  await proxy?.close();
  await db?.end();
  rmSync(certs.dir, { recursive: true, force: true });
});

describe('mutual TLS', () => {
  let worker: ChildProcess | undefined;
  afterAll(async () => {
    worker?.kill('SIGTERM');
    if (worker) await exited(worker);
  });

  test('a worker and the CLI work through the mutual-TLS proxy with a client certificate', async () => {
    worker = await spawnWorker(['--dir', dir], tlsEnv());
    const before = proxy.accepted();
    const res = await runCli(['run', 'greetings', '--window', '2026-11-20', '--dir', dir, '--json'], tlsEnv());
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ pipeline: 'greetings', status: 'succeeded', rowsLoaded: 3 });
    // Only the worker that came in through the proxy serves this queue: the rows prove it ran the steps.
    const rows = await db.query("SELECT word FROM public.greetings WHERE day = '2026-11-20' ORDER BY id");
    expect(rows.rows.map((r: { word: string }) => r.word)).toEqual(['HELLO', 'BONJOUR', 'HALLO']);
    expect(proxy.accepted()).toBeGreaterThan(before);

    const status = await runCli(['status', '--dir', dir, '--json'], tlsEnv());
    expect(status.code).toBe(0);
    const greetings = (
      JSON.parse(status.stdout) as { pipelines: { name: string; lastRun: { status: string } }[] }
    ).pipelines.find((p) => p.name === 'greetings');
    expect(greetings?.lastRun.status).toBe('succeeded');
  });

  test('without a client certificate the proxy refuses the handshake and the CLI says so (exit 2)', async () => {
    const refusedBefore = proxy.refused.length;
    const res = await runCli(
      ['status', '--dir', dir],
      tlsEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: '', TEMPORAL_TLS_CLIENT_KEY_PATH: '' }),
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`cannot connect to the Temporal server at ${proxy.address} over TLS`);
    expect(res.stderr).toContain('whether the server wants a client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH');
    expect(proxy.refused.length).toBeGreaterThan(refusedBefore);
    expect(proxy.refused.join('\n')).toMatch(/certificate/i);
    expect(res.stderr).toContain('TLS handshake: tlsv13 alert certificate required)');
  });

  test('a client certificate from another CA is refused too, and the worker exits saying so', async () => {
    const refusedBefore = proxy.refused.length;
    const res = await runCli(
      ['worker', '--dir', dir],
      tlsEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: certs.strangerCert, TEMPORAL_TLS_CLIENT_KEY_PATH: certs.strangerKey }),
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`cannot connect to the Temporal server at ${proxy.address} over TLS`);
    expect(res.stderr).toMatch(/TLS handshake: .*(unknown ca|refuse the client certificate)/);
    expect(proxy.refused.length).toBeGreaterThan(refusedBefore);
  });

  test("without the CA the server's certificate is not trusted", async () => {
    const res = await runCli(['status', '--dir', dir], tlsEnv({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: '' }));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('over TLS');
    expect(res.stderr).toContain('TLS handshake: self-signed certificate in certificate chain');
  });
});

describe('API key', () => {
  /** A TLS HTTP/2 server that records each gRPC call's path and headers and refuses it as a bad API key would be. */
  let server: Http2SecureServer;
  let address: string;
  const calls: { path: string; headers: IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    server = createSecureServer({
      key: readFileSync(certs.serverKey),
      cert: readFileSync(certs.serverCert),
      ALPNProtocols: ['h2'],
    });
    server.on('stream', (stream, headers) => {
      calls.push({ path: String(headers[':path']), headers });
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '16',
          'grpc-message': 'Request unauthorized: API key not valid',
        },
        { endStream: true },
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const a = server.address();
    address = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** An API key alone turns TLS on, as with Temporal Cloud; only the test CA and name are needed here. */
  const keyEnv = (key: string): NodeJS.ProcessEnv => ({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_API_KEY: key,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    TEMPORAL_NAMESPACE: 'acme.a1b2c',
    PIPECTL_TASK_QUEUE: queue,
    PIPECTL_CONNECTION_WAREHOUSE: url,
    PIPECTL_CONNECTION_PIPECTL: url,
  });

  test('the CLI sends the key as "authorization: Bearer <key>" over TLS and reports the refusal clearly', async () => {
    const res = await runCli(['status', '--dir', dir], keyEnv('cli-key-123'));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`the Temporal server at ${address} refused the credentials`);
    expect(res.stderr).toContain('API key not valid');
    expect(res.stderr).toContain('check TEMPORAL_API_KEY and TEMPORAL_NAMESPACE (acme.a1b2c)');
    expect(res.stderr).not.toContain('cli-key-123');
    const call = calls.find((c) => c.headers.authorization === 'Bearer cli-key-123');
    expect(call?.path).toBe('/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo');
  });

  test('the worker sends it the same way', async () => {
    const res = await runCli(['worker', '--dir', dir], keyEnv('worker-key-456'));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('refused the credentials');
    expect(calls.some((c) => c.headers.authorization === 'Bearer worker-key-456')).toBe(true);
  });
});

describe('bad settings stop pipectl at start-up, naming the variable, before connecting', () => {
  const configFile = () => {
    const path = join(certs.dir, 'temporal.toml');
    writeFileSync(path, '[profile.default]\nnamespace = "x"\n[profile.prod]\naddress = "prod.tmprl.cloud:7233"\n');
    return path;
  };
  test.each<[string, () => NodeJS.ProcessEnv, string]>([
    [
      'a missing certificate file',
      () => ({
        TEMPORAL_TLS_CLIENT_CERT_PATH: join(certs.dir, 'gone.pem'),
        TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
      }),
      `TEMPORAL_TLS_CLIENT_CERT_PATH="${join(certs.dir, 'gone.pem')}": no such file`,
    ],
    [
      'a certificate without its key',
      () => ({ TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert }),
      'TEMPORAL_TLS_CLIENT_CERT_PATH is set but no client key',
    ],
    ['TEMPORAL_TLS=maybe', () => ({ TEMPORAL_TLS: 'maybe' }), 'TEMPORAL_TLS="maybe": expected true or false'],
    [
      'an unknown profile',
      () => ({ TEMPORAL_CONFIG_FILE: configFile(), TEMPORAL_PROFILE: 'staging' }),
      'TEMPORAL_PROFILE="staging": no [profile.staging] in',
    ],
    [
      'bad codec keys',
      () => ({ PIPECTL_CODEC_KEYS: 'k1:c2hvcnQ=' }),
      "PIPECTL_CODEC_KEYS: key 'k1' is 5 bytes; AES-256 needs 32",
    ],
  ])('%s', async (_, env, message) => {
    for (const command of ['worker', 'status']) {
      const res = await runCli([command, '--dir', dir], { PIPECTL_TASK_QUEUE: queue, ...env() });
      expect([command, res.code]).toEqual([command, 1]);
      expect(res.stderr).toContain(`error: `);
      expect(res.stderr).toContain(message);
    }
  });
});
