import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../../temporal-config/search-attributes';
import { TEMPORAL_SERVER_VERSION } from '../../temporal-config/temporal-server';
import { ROOT } from '../helpers/spawn';

/** One service of `docker-compose config`'s normalised output, as far as these tests read it. */
interface ComposeService {
  image?: string;
  build?: { context: string };
  container_name?: string;
  ports?: unknown[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  entrypoint?: string[];
}

/**
 * The compose file as Debian's `docker-compose` (v1, which needs no engine to parse) normalises it, turned into JSON
 * by the PyYAML that docker-compose itself depends on.
 */
function composeConfig(): { services: Record<string, ComposeService>; volumes: Record<string, unknown> } {
  const which = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
  if (which.error || which.status !== 0) {
    throw new Error(
      "docker-compose is not installed: install Debian's (`apt-get install docker-compose`), as .ci/run does, " +
        'to check docker-compose.yml',
    );
  }
  const config = spawnSync('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), 'config'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect({ status: config.status, stderr: config.stderr }).toEqual({ status: 0, stderr: '' });
  const json = spawnSync(
    'python3',
    ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
    { input: config.stdout, encoding: 'utf8' },
  );
  expect(json.stderr).toBe('');
  return JSON.parse(json.stdout) as ReturnType<typeof composeConfig>;
}

const config = composeConfig();
const services = config.services;
const serverVersion = TEMPORAL_SERVER_VERSION.replace(/^v/, '');

test('docker-compose config accepts the file and finds the whole topology', () => {
  expect(Object.keys(services).sort()).toEqual([
    'pipeline-databases',
    'postgresql',
    'temporal',
    'temporal-namespace',
    'temporal-schema',
    'temporal-ui',
    'worker',
  ]);
});

test('every image is pinned to a version; Temporal to the server pipectl builds for the plain-process stack', () => {
  for (const [name, service] of Object.entries(services)) {
    expect({ name, image: service.image }).toEqual({ name, image: expect.stringMatching(/:\d+(\.\d+)+$/) });
  }
  expect(services.temporal!.image).toBe(`temporalio/server:${serverVersion}`);
  expect(services['temporal-schema']!.image).toBe(`temporalio/admin-tools:${serverVersion}`);
  expect(services['temporal-namespace']!.image).toBe(`temporalio/admin-tools:${serverVersion}`);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  expect(services.worker!.image).toBe(`pipectl-worker:${pkg.version}`);
});

test('long-running services have health checks, and each starts once what it needs is healthy or done', () => {
  for (const name of ['postgresql', 'temporal', 'temporal-ui', 'worker']) {
    expect({ name, test: services[name]!.healthcheck?.test.length }).toEqual({ name, test: expect.any(Number) });
  }
  expect(services.postgresql!.healthcheck!.test.join(' ')).toContain('pg_isready');
  expect(services['temporal-schema']!.depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
  expect(services['pipeline-databases']!.depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
  expect(services.temporal!.depends_on).toEqual({
    'temporal-schema': { condition: 'service_completed_successfully' },
  });
  expect(services['temporal-namespace']!.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
  expect(services['temporal-ui']!.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
  expect(services.worker!.depends_on).toEqual({
    'temporal-namespace': { condition: 'service_completed_successfully' },
    'pipeline-databases': { condition: 'service_completed_successfully' },
  });
});

test('PostgreSQL keeps its data in a named volume', () => {
  expect(Object.keys(config.volumes)).toEqual(['postgresql-data']);
  expect(services.postgresql!.volumes).toEqual(['postgresql-data:/var/lib/postgresql/data:rw']);
});

test('workers are built from the Dockerfile, scale (no fixed name or host port) and reach Temporal and PostgreSQL', () => {
  const worker = services.worker!;
  expect(worker.build?.context).toBe(ROOT);
  expect(worker.container_name).toBeUndefined();
  expect(worker.ports).toBeUndefined();
  expect(worker.environment).toMatchObject({
    TEMPORAL_ADDRESS: 'temporal:7233',
    TEMPORAL_NAMESPACE: services['temporal-namespace']!.environment!.TEMPORAL_NAMESPACE,
    PIPECTL_EMBEDDED_POSTGRES: '0',
  });
  const connections = Object.entries(worker.environment!).filter(([k]) => k.startsWith('PIPECTL_CONNECTION_'));
  expect(connections.map(([k]) => k).sort()).toEqual([
    'PIPECTL_CONNECTION_PIPECTL',
    'PIPECTL_CONNECTION_SOURCE',
    'PIPECTL_CONNECTION_WAREHOUSE',
  ]);
  for (const [, url] of connections) expect(new URL(url).host).toBe('postgresql:5432');
  expect(services['temporal-ui']!.environment!.TEMPORAL_ADDRESS).toBe('temporal:7233');
});

test('the one-shot jobs run the scripts the plain-process stack uses, which register every search attribute', () => {
  for (const name of ['temporal-schema', 'temporal-namespace']) {
    const mounts = services[name]!.volumes!.map((v) => v.split(':')[0]!);
    expect(mounts).toHaveLength(1);
    expect(existsSync(mounts[0]!)).toBe(true);
    expect(mounts[0]!).toContain(join('temporal-config', 'stack-config'));
  }
  const script = readFileSync(join(ROOT, 'temporal-config', 'stack-config', 'create-namespace.sh'), 'utf8');
  const listed = /for attribute in ([^;]+);/
    .exec(script)![1]!
    .trim()
    .split(/\s+/)
    .filter((word) => word !== '\\');
  expect(listed).toEqual(SEARCH_ATTRIBUTES.map((a) => `${a.name}:${a.cliType}`));
});

test('the Dockerfile builds in one stage and runs a worker from the prebuilt bundle in another, as a non-root user', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\w+))?$/gm)].map((m) => m[2]);
  expect(stages).toEqual(['build', 'runtime']);
  expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:\d+\.\d+\.\d+-bookworm-slim$/m);
  expect(dockerfile).toContain('RUN npm run build && test -s dist/workflow-bundle.js');
  expect(dockerfile).toContain('COPY --from=build /app/dist ./dist');
  expect(dockerfile).toMatch(/^USER node$/m);
  expect(dockerfile).toMatch(/^CMD \["node", "bin\/pipectl.js", "worker"\]$/m);
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.pipectl']));
});
