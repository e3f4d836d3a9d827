import { Pool } from 'pg';
import { ApplicationFailure } from '@temporalio/common';

/** Turns a connection name into a PostgreSQL URL; may create the database (embedded mode). */
export type ConnectionResolver = (name: string) => Promise<string>;

/** Error type of a step that names a connection nobody configured. */
export const CONNECTION_NOT_CONFIGURED = 'ConnectionNotConfigured';

/** One pool per named connection, created on first use and shared by every step of the worker. */
export class PostgresPools {
  private readonly pools = new Map<string, Promise<Pool>>();

  constructor(
    private readonly resolve: ConnectionResolver,
    private readonly poolSize = 10,
  ) {}

  /** The pool of `name`, connecting on first use. */
  get(name: string): Promise<Pool> {
    let pool = this.pools.get(name);
    if (!pool) {
      pool = this.resolve(name).then((connectionString) => {
        const p = new Pool({ connectionString, max: this.poolSize, application_name: `pipectl:${name}` });
        // An idle client that loses its server must not crash the worker; the next query reconnects.
        p.on('error', () => undefined);
        return p;
      });
      pool.catch(() => this.pools.delete(name));
      this.pools.set(name, pool);
    }
    return pool;
  }

  /** The URL of `name`, as its pool connects (for a pool of another thread). */
  url(name: string): Promise<string> {
    return this.resolve(name);
  }

  /** Closes every pool. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map(async (p) => (await p.catch(() => undefined))?.end()));
  }
}

/** A resolver over an explicit map, for tests and for connections given as URLs. */
export function staticResolver(urls: Record<string, string>): ConnectionResolver {
  return async (name) => {
    const url = urls[name];
    if (!url) {
      throw ApplicationFailure.create({
        type: CONNECTION_NOT_CONFIGURED,
        nonRetryable: true,
        message: `connection '${name}' is not configured`,
      });
    }
    return url;
  };
}
