import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../core/duration';

/** pipectl's settings, read once from the environment at start-up. */
export const Settings = z.object({
  /** `TEMPORAL_ADDRESS`: host:port of the Temporal frontend. */
  temporalAddress: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port, e.g. localhost:7233'),
  /** `TEMPORAL_NAMESPACE`. */
  namespace: z.string().min(1),
  /** `PIPECTL_TASK_QUEUE`: the default task queue of pipelines and the worker. */
  taskQueue: z.string().regex(/^[A-Za-z0-9_.-]{1,200}$/, 'letters, digits, _, . and -'),
  /** `PIPECTL_PIPELINES_DIR`: folder of pipeline definitions. */
  pipelinesDir: z.string().min(1),
  /** `PIPECTL_STATE_DIR`: where the dev server's SQLite file, embedded PostgreSQL data and logs live. */
  stateDir: z.string().min(1),
  /** `PIPECTL_CACHE_DIR`: where the Temporal CLI is built once and reused (outside the repo). */
  cacheDir: z.string().min(1),
  /** `PIPECTL_UI_PORT`: port of the dev server's Web UI. */
  uiPort: z.coerce.number().int().min(1).max(65535),
  /** `PIPECTL_INLINE_LIMIT_BYTES`: step results larger than this are staged in PostgreSQL (at most 256 KiB). */
  inlineLimitBytes: z.coerce
    .number()
    .int()
    .min(0)
    .max(256 * 1024),
  /** `PIPECTL_FILES_DIR`: base of relative paths in file steps (default: the working directory; `.pipectl/files` under `pipectl dev`). */
  filesDir: z.string().min(1),
  /** `PIPECTL_STAGING_CONNECTION`: the named connection that holds staged data. */
  stagingConnection: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'a connection name'),
  /** `PIPECTL_MAX_PARALLEL`: most pipeline runs at once in a DAG run, unless its group sets `maxParallel`. */
  maxParallel: z.coerce
    .number()
    .int('a whole number')
    .min(1, 'at least 1')
    .max(1000, 'at most 1000 (Temporal limits pending child workflows)'),
  /** `PIPECTL_UPSTREAM_POLL`: longest interval between checks of an upstream in another group. */
  upstreamPollMs: z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms < 1000) {
      ctx.addIssue({ code: 'custom', message: "a duration of at least 1s, e.g. '30s' or '1 minute'" });
      return z.NEVER;
    }
    return ms;
  }),
});
export type Settings = z.infer<typeof Settings>;

const ENV_NAMES: Record<keyof Settings, string> = {
  temporalAddress: 'TEMPORAL_ADDRESS',
  namespace: 'TEMPORAL_NAMESPACE',
  taskQueue: 'PIPECTL_TASK_QUEUE',
  pipelinesDir: 'PIPECTL_PIPELINES_DIR',
  stateDir: 'PIPECTL_STATE_DIR',
  cacheDir: 'PIPECTL_CACHE_DIR',
  uiPort: 'PIPECTL_UI_PORT',
  inlineLimitBytes: 'PIPECTL_INLINE_LIMIT_BYTES',
  stagingConnection: 'PIPECTL_STAGING_CONNECTION',
  filesDir: 'PIPECTL_FILES_DIR',
  maxParallel: 'PIPECTL_MAX_PARALLEL',
  upstreamPollMs: 'PIPECTL_UPSTREAM_POLL',
};

/** A setting could not be read; the message names the environment variable. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Reads settings from `env`, naming the variable in any error. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const cacheBase = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const raw = {
    temporalAddress: env.TEMPORAL_ADDRESS || 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.PIPECTL_TASK_QUEUE || 'pipectl',
    pipelinesDir: resolve(env.PIPECTL_PIPELINES_DIR || 'pipelines'),
    stateDir: resolve(env.PIPECTL_STATE_DIR || '.pipectl'),
    cacheDir: resolve(env.PIPECTL_CACHE_DIR || join(cacheBase, 'pipectl')),
    uiPort: env.PIPECTL_UI_PORT || '8233',
    inlineLimitBytes: env.PIPECTL_INLINE_LIMIT_BYTES || String(256 * 1024),
    stagingConnection: env.PIPECTL_STAGING_CONNECTION || 'pipectl',
    filesDir: resolve(env.PIPECTL_FILES_DIR || '.'),
    maxParallel: env.PIPECTL_MAX_PARALLEL || '8',
    upstreamPollMs: env.PIPECTL_UPSTREAM_POLL || '1 minute',
  };
  const parsed = Settings.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = i.path[0] as keyof Settings;
      return `${ENV_NAMES[key]}=${JSON.stringify(raw[key])}: ${i.message}`;
    });
    throw new SettingsError(`invalid environment:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

let cached: Settings | undefined;

/** Settings of this process, read on first use. */
export function settings(): Settings {
  cached ??= readSettings();
  return cached;
}
