import { CatalogError } from '../catalog/issues';
import { WindowError } from '../core/window';
import { SettingsError } from '../temporal-config/settings';
import { EXIT, RunFailedError, UserError } from './errors';
import { style } from './output';

/** Prints an error the way its class deserves and returns the exit code. */
export function reportError(err: unknown): number {
  if (
    err instanceof CatalogError ||
    err instanceof UserError ||
    err instanceof WindowError ||
    err instanceof SettingsError
  ) {
    process.stderr.write(`${style.red('error:')} ${err.message}\n`);
    return EXIT.user;
  }
  if (err instanceof RunFailedError) {
    process.stderr.write(`${style.red('failed:')} ${err.message}\n`);
    return EXIT.failedRun;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${style.red('error:')} ${message}\n`);
  if (process.env.PIPECTL_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return EXIT.infrastructure;
}
