import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

// Registered when a test file imports this module: the file's folders go once its tests are done.
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A new folder under the system's temporary folder, removed after the test file's tests. Readable by all (0755): an
 * embedded PostgreSQL started by the test runs as its own user when the tests run as root.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  made.push(dir);
  return dir;
}
