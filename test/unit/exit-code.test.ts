import { spawnSync } from 'node:child_process';
import { ROOT } from '../helpers/spawn';

test('loading the embedded PostgreSQL keeps the exit code a command sets (its shutdown hook would make it 0)', () => {
  const res = spawnSync(
    process.execPath,
    ['-e', "require('./dist/workers/embedded-postgres'); process.exitCode = 3;"],
    { cwd: ROOT, encoding: 'utf8' },
  );
  expect(res.stderr).toBe('');
  expect(res.status).toBe(3);
});
