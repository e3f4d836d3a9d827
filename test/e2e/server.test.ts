import { freePort } from '../helpers/ports';
import { runCli } from '../helpers/spawn';
import { removeTempDirs, tempDir } from '../helpers/temp-dir';

const stateDir = tempDir('pipectl-server-');
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  env = {
    PIPECTL_STATE_DIR: stateDir,
    TEMPORAL_ADDRESS: `localhost:${await freePort()}`,
    PIPECTL_UI_PORT: String(await freePort()),
    PIPECTL_CODEC_ENDPOINT: 'http://localhost:8888/codec',
  };
});

afterAll(async () => {
  await runCli(['server', 'stop'], env);
  removeTempDirs();
});

test('pipectl server start gives the Web UI the codec endpoint, as pipectl dev does', async () => {
  const start = await runCli(['server', 'start'], env);
  expect(start.code).toBe(0);
  expect(start.stdout).toContain(`Temporal started at ${env.TEMPORAL_ADDRESS}`);
  const res = await fetch(`http://localhost:${env.PIPECTL_UI_PORT}/api/v1/settings`);
  const settings = (await res.json()) as { Codec?: { Endpoint?: string } };
  expect(settings.Codec?.Endpoint).toBe('http://localhost:8888/codec');
  const stop = await runCli(['server', 'stop'], env);
  expect(stop.stdout).toBe('Temporal dev server stopped\n');
});
