import { readSettings, SettingsError } from '../../temporal-config/settings';

test('defaults apply when nothing is set', () => {
  const s = readSettings({});
  expect(s).toMatchObject({
    temporalAddress: 'localhost:7233',
    namespace: 'default',
    taskQueue: 'pipectl',
    maxParallel: 8,
    upstreamPollMs: 60_000,
  });
});

test('DAG run settings are read from the environment', () => {
  const s = readSettings({ PIPECTL_MAX_PARALLEL: '32', PIPECTL_UPSTREAM_POLL: '30s' });
  expect(s.maxParallel).toBe(32);
  expect(s.upstreamPollMs).toBe(30_000);
});

test.each([
  [{ PIPECTL_MAX_PARALLEL: 'many' }, 'PIPECTL_MAX_PARALLEL="many"'],
  [{ PIPECTL_MAX_PARALLEL: '0' }, 'PIPECTL_MAX_PARALLEL="0": at least 1'],
  [
    { PIPECTL_MAX_PARALLEL: '5000' },
    'PIPECTL_MAX_PARALLEL="5000": at most 1000 (Temporal limits pending child workflows)',
  ],
  [
    { PIPECTL_UPSTREAM_POLL: 'soon' },
    `PIPECTL_UPSTREAM_POLL="soon": a duration of at least 1s, e.g. '30s' or '1 minute'`,
  ],
  [{ TEMPORAL_ADDRESS: 'localhost' }, 'TEMPORAL_ADDRESS="localhost": expected host:port, e.g. localhost:7233'],
])('a bad value is refused naming the variable: %p', (env, message) => {
  expect(() => readSettings(env)).toThrow(SettingsError);
  expect(() => readSettings(env)).toThrow(message);
});
