import { rmSync } from 'node:fs';

/** Stops what the global setup started. */
export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as Record<string, unknown>).__pipectlTestStack as
    { server: { stop(): Promise<void> }; pg: { stop(): Promise<void> } } | undefined;
  await stack?.pg.stop();
  await stack?.server.stop();
  if (process.env.PIPECTL_TEST_STATE_DIR && !process.env.PIPECTL_KEEP_TEST_STATE) {
    rmSync(process.env.PIPECTL_TEST_STATE_DIR, { recursive: true, force: true });
  }
}
