import { ApplicationFailure } from '@temporalio/common';
import { connectionEnvVar } from '../core/identifiers';
import { CONNECTION_NOT_CONFIGURED, type ConnectionResolver } from '../activities/postgres/pools';
import type { EmbeddedPostgresServer } from './embedded-postgres';

/** Connection names configured through `PIPECTL_CONNECTION_<NAME>` variables. */
export function configuredConnections(env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(env)) {
    const m = /^PIPECTL_CONNECTION_([A-Z0-9_]+)$/.exec(key);
    if (m && value) out.set(m[1]!.toLowerCase(), value);
  }
  return out;
}

/**
 * Resolves a connection name: its `PIPECTL_CONNECTION_<NAME>` variable first; otherwise, when an embedded server
 * runs, a database of that name on it; otherwise a non-retryable error naming the variable to set.
 */
export function connectionResolver(
  env: NodeJS.ProcessEnv = process.env,
  embedded?: Pick<EmbeddedPostgresServer, 'database'>,
): ConnectionResolver {
  const configured = configuredConnections(env);
  return async (name) => {
    const url = configured.get(name);
    if (url) return url;
    if (embedded) return embedded.database(name);
    throw ApplicationFailure.create({
      type: CONNECTION_NOT_CONFIGURED,
      nonRetryable: true,
      message: `connection '${name}' is not configured: set ${connectionEnvVar(name)}=postgres://user:password@host:5432/database`,
    });
  };
}

/** Connection names a set of pipelines uses (for deciding whether the embedded server is needed). */
export function connectionsUsed(specs: Iterable<{ extract: unknown; load: unknown }>): Set<string> {
  const names = new Set<string>();
  for (const s of specs) {
    for (const step of [s.extract, s.load]) {
      if (step && typeof step === 'object' && 'connection' in step) names.add(String(step.connection));
    }
  }
  return names;
}
