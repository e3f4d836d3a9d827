import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

/**
 * A new folder under the system's temporary folder, readable by all (0755: an embedded PostgreSQL started by the test
 * runs as its own user when the tests run as root). The test file removes it with {@link removeTempDirs} once
 * whatever runs in it has stopped.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  made.push(dir);
  return dir;
}

/** Removes every folder {@link tempDir} made in this test file. */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
