import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { loadClientConfigFromToml, type ClientConfigProfile, type ConfigDataSource } from '@temporalio/envconfig';
import { z } from 'zod';
import { parseDuration } from '../core/duration';

/** TLS of the connection to Temporal, with certificates already read (PEM bytes). */
export const TlsSettings = z.object({
  /** `TEMPORAL_TLS_SERVER_NAME`: the name checked against the server's certificate (default: the address's host). */
  serverName: z.string().min(1).optional(),
  /** `TEMPORAL_TLS_SERVER_CA_CERT_PATH` / `_DATA`: the CA that signed the server's certificate (default: system roots). */
  serverCaCert: z.instanceof(Buffer).optional(),
  /** `TEMPORAL_TLS_CLIENT_CERT_PATH` / `_DATA`: the client certificate for mutual TLS (always with `clientKey`). */
  clientCert: z.instanceof(Buffer).optional(),
  /** `TEMPORAL_TLS_CLIENT_KEY_PATH` / `_DATA`: the client certificate's private key. */
  clientKey: z.instanceof(Buffer).optional(),
});
export type TlsSettings = z.infer<typeof TlsSettings>;

/** How to reach Temporal beyond address and namespace: credentials and headers, from the environment or a profile. */
export const TemporalConnectionSettings = z.object({
  /** `TEMPORAL_API_KEY`: sent as `authorization: Bearer <key>` (never printed). */
  apiKey: z.string().min(1).optional(),
  /** TLS, or `false` for a plain connection. An API key or any TLS setting turns TLS on unless `TEMPORAL_TLS=false`. */
  tls: z.union([z.literal(false), TlsSettings]),
  /** `TEMPORAL_GRPC_META_<NAME>` and the profile's `grpc_meta`: extra gRPC headers on every call. */
  grpcMeta: z.record(z.string(), z.string()),
  /** The profile used (`TEMPORAL_PROFILE`, else `default` when the file has it). */
  profile: z.string().optional(),
  /** The config file the profile came from. */
  configFile: z.string().optional(),
});
export type TemporalConnectionSettings = z.infer<typeof TemporalConnectionSettings>;

/** Keys of the payload codec: every key can decrypt, `encryptWith` encrypts. */
export const CodecKeys = z.object({
  /** Id of the key new payloads are encrypted with (the first of `PIPECTL_CODEC_KEYS`, `current` of the keys file). */
  encryptWith: z.string(),
  /** AES-256 keys (32 bytes) by id; older ids stay so payloads written with them can still be read. */
  keys: z.record(z.string(), z.instanceof(Buffer)),
  /** Where the keys came from (a variable name, or the keys file), for messages. */
  source: z.string(),
});
export type CodecKeys = z.infer<typeof CodecKeys>;

/** The settings read from single variables. */
const BaseSettings = z.object({
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

/** pipectl's settings, read once from the environment at start-up. */
export const Settings = BaseSettings.extend({
  /** Credentials, TLS and headers of the connection to Temporal. */
  temporal: TemporalConnectionSettings,
  /** `PIPECTL_CODEC_KEYS` or `PIPECTL_CODEC_KEYS_FILE`: payload encryption keys; none means payloads are not encrypted. */
  codecKeys: CodecKeys.optional(),
  /** `PIPECTL_CODEC_AUTH_TOKEN`: the bearer token `pipectl codec-server` requires (none: no token required). */
  codecAuthToken: z.string().min(1).optional(),
  /** `PIPECTL_CODEC_ENDPOINT`: URL of a codec server the dev server's Web UI uses to show decoded payloads. */
  codecEndpoint: z.string().optional(),
});
export type Settings = z.infer<typeof Settings>;
type BaseSettings = z.infer<typeof BaseSettings>;

const ENV_NAMES: Record<keyof BaseSettings, string> = {
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

/** Reads settings from `env`, naming the variable (or the config file and profile) in any error. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const cacheBase = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const profile = readTemporalProfile(env);
  const origin: Partial<Record<keyof BaseSettings, string>> = {};
  if (!env.TEMPORAL_ADDRESS && profile.values.address !== undefined) origin.temporalAddress = profile.where('address');
  if (!env.TEMPORAL_NAMESPACE && profile.values.namespace !== undefined) origin.namespace = profile.where('namespace');
  const raw = {
    temporalAddress: env.TEMPORAL_ADDRESS || profile.values.address || 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE || profile.values.namespace || 'default',
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
  const parsed = BaseSettings.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = i.path[0] as keyof BaseSettings;
      return `${origin[key] ?? ENV_NAMES[key]}=${JSON.stringify(raw[key])}: ${i.message}`;
    });
    throw new SettingsError(`invalid environment:\n  ${lines.join('\n  ')}`);
  }
  const codecAuthToken = env.PIPECTL_CODEC_AUTH_TOKEN || undefined;
  const codecEndpoint = readCodecEndpoint(env);
  const codecKeys = readCodecKeys(env);
  return {
    ...parsed.data,
    temporal: temporalConnection(env, profile),
    ...(codecKeys ? { codecKeys } : {}),
    ...(codecAuthToken ? { codecAuthToken } : {}),
    ...(codecEndpoint ? { codecEndpoint } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Temporal connection: Temporal's own variables and its SDK's environment-configuration profiles (TOML).

/** The profile read from Temporal's config file (empty when there is none), and how to name where a value came from. */
interface LoadedProfile {
  values: ClientConfigProfile;
  name?: string;
  file?: string;
  where(key: string): string;
}

/** The default config file of Temporal's CLI and SDKs: `$XDG_CONFIG_HOME` or `~/.config`, then `temporalio/temporal.toml`. */
function defaultConfigFile(env: NodeJS.ProcessEnv): string | undefined {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'temporalio', 'temporal.toml');
  if (xdg) return undefined;
  return env.HOME ? join(env.HOME, '.config', 'temporalio', 'temporal.toml') : undefined;
}

/**
 * Reads the profile `TEMPORAL_PROFILE` (default `default`) from `TEMPORAL_CONFIG_FILE` (default Temporal's config
 * file), with the Temporal SDK's parser. A missing default file means no profile; a missing named file, malformed
 * TOML or an unknown profile is an error naming the variable or the file.
 */
function readTemporalProfile(env: NodeJS.ProcessEnv): LoadedProfile {
  const explicitFile = env.TEMPORAL_CONFIG_FILE || undefined;
  const file = explicitFile ? resolve(explicitFile) : defaultConfigFile(env);
  const wanted = env.TEMPORAL_PROFILE || undefined;
  const none: LoadedProfile = { values: {}, where: (key) => key };
  let text: Buffer | undefined;
  if (file) {
    try {
      text = readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (explicitFile || code !== 'ENOENT')
        throw new SettingsError(
          `TEMPORAL_CONFIG_FILE=${JSON.stringify(explicitFile ?? file)}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
        );
    }
  }
  if (text === undefined) {
    if (wanted)
      throw new SettingsError(
        `TEMPORAL_PROFILE=${JSON.stringify(wanted)}: no Temporal config file ${file ? `at ${file}` : '(HOME is not set)'}; set TEMPORAL_CONFIG_FILE or unset TEMPORAL_PROFILE`,
      );
    return none;
  }
  let profiles: Record<string, ClientConfigProfile>;
  try {
    profiles = loadClientConfigFromToml(text, { strict: false }).profiles;
  } catch (err) {
    const e = err as Error;
    // The SDK's parser cannot convert a document without any [profile.*] table: that file simply has no profiles.
    if (e instanceof TypeError && !/\bprofile\b/.test(text.toString('utf8'))) profiles = {};
    else {
      const { line, column } = e as { line?: unknown; column?: unknown };
      const at = typeof line === 'number' ? ` at line ${line}, column ${String(column)}` : '';
      throw new SettingsError(`${file} (TEMPORAL_CONFIG_FILE)${at}: ${e.message.split('\n')[0]}`);
    }
  }
  const name = wanted ?? 'default';
  const values = profiles[name];
  if (!values) {
    if (wanted)
      throw new SettingsError(
        `TEMPORAL_PROFILE=${JSON.stringify(wanted)}: no [profile.${wanted}] in ${file} (profiles there: ${Object.keys(profiles).join(', ') || 'none'})`,
      );
    return none;
  }
  const shape = z
    .object({ address: z.string().optional(), namespace: z.string().optional(), apiKey: z.string().optional() })
    .safeParse(values);
  if (!shape.success) {
    const key = String(shape.error.issues[0]?.path[0] ?? '');
    throw new SettingsError(`${key === 'apiKey' ? 'api_key' : key} in profile '${name}' of ${file}: must be a string`);
  }
  return { values, name, file: file!, where: (key) => `${key} in profile '${name}' of ${file}` };
}

/** A boolean variable: `true`/`1` or `false`/`0`; unset or empty is `undefined`. */
function envBoolean(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name]?.trim().toLowerCase();
  if (!v) return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new SettingsError(`${name}=${JSON.stringify(env[name])}: expected true or false`);
}

/** PEM bytes from a `_PATH`/`_DATA` variable pair, else from the profile; `undefined` when neither is set. */
function pemSetting(
  env: NodeJS.ProcessEnv,
  variable: string,
  fromProfile: ConfigDataSource | undefined,
  profileKey: string,
  profile: LoadedProfile,
  kind: 'certificate' | 'private key',
): { pem: Buffer; origin: string } | undefined {
  const pathVar = `${variable}_PATH`;
  const dataVar = `${variable}_DATA`;
  const envPath = env[pathVar] || undefined;
  const envData = env[dataVar] || undefined;
  if (envPath && envData) throw new SettingsError(`${pathVar} and ${dataVar} are both set: set only one`);
  let source: ConfigDataSource | undefined;
  let origin: string;
  if (envPath) [source, origin] = [{ path: envPath }, pathVar];
  else if (envData) [source, origin] = [{ data: envData }, dataVar];
  else if (fromProfile)
    [source, origin] = [fromProfile, profile.where(`tls.${profileKey}_${'path' in fromProfile ? 'path' : 'data'}`)];
  else return undefined;
  let pem: Buffer;
  if ('path' in source) {
    try {
      pem = readFileSync(source.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SettingsError(
        `${origin}=${JSON.stringify(source.path)}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      );
    }
  } else pem = Buffer.from(source.data);
  if (!pem.toString('utf8').includes('-----BEGIN '))
    throw new SettingsError(
      `${origin}${'path' in source ? `=${JSON.stringify(source.path)}` : ''}: not a PEM ${kind} (no "-----BEGIN" line)`,
    );
  return { pem, origin };
}

/** API key, TLS and headers from the environment over the profile, as Temporal's SDKs and CLI read them. */
function temporalConnection(env: NodeJS.ProcessEnv, profile: LoadedProfile): TemporalConnectionSettings {
  const p = profile.values;
  const apiKey = env.TEMPORAL_API_KEY || p.apiKey || undefined;
  const tlsFlag = envBoolean(env, 'TEMPORAL_TLS');
  if (envBoolean(env, 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION'))
    throw new SettingsError(
      "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true: not supported by Temporal's TypeScript SDK; set TEMPORAL_TLS_SERVER_NAME to a name in the server's certificate instead",
    );
  const tlsVars = [
    'TEMPORAL_TLS_SERVER_NAME',
    'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
    'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
    'TEMPORAL_TLS_CLIENT_CERT_PATH',
    'TEMPORAL_TLS_CLIENT_CERT_DATA',
    'TEMPORAL_TLS_CLIENT_KEY_PATH',
    'TEMPORAL_TLS_CLIENT_KEY_DATA',
  ].filter((v) => env[v]);
  // As the SDK does: TLS is on with any TLS setting (or an API key), off only when explicitly disabled.
  const anyTls = p.tls !== undefined || tlsVars.length > 0 || tlsFlag !== undefined;
  const disabled = tlsFlag !== undefined ? !tlsFlag : p.tls?.disabled === true;
  let tls: TemporalConnectionSettings['tls'] = false;
  if (!disabled && (anyTls || apiKey)) {
    const serverCa = pemSetting(
      env,
      'TEMPORAL_TLS_SERVER_CA_CERT',
      p.tls?.serverCACert,
      'server_ca_cert',
      profile,
      'certificate',
    );
    const cert = pemSetting(env, 'TEMPORAL_TLS_CLIENT_CERT', p.tls?.clientCert, 'client_cert', profile, 'certificate');
    const key = pemSetting(env, 'TEMPORAL_TLS_CLIENT_KEY', p.tls?.clientKey, 'client_key', profile, 'private key');
    if (cert && !key)
      throw new SettingsError(
        `${cert.origin} is set but no client key: set TEMPORAL_TLS_CLIENT_KEY_PATH (or TEMPORAL_TLS_CLIENT_KEY_DATA)`,
      );
    if (key && !cert)
      throw new SettingsError(
        `${key.origin} is set but no client certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH (or TEMPORAL_TLS_CLIENT_CERT_DATA)`,
      );
    const serverName = env.TEMPORAL_TLS_SERVER_NAME || p.tls?.serverName || undefined;
    tls = {
      ...(serverName ? { serverName } : {}),
      ...(serverCa ? { serverCaCert: serverCa.pem } : {}),
      ...(cert && key ? { clientCert: cert.pem, clientKey: key.pem } : {}),
    };
  }
  const grpcMeta: Record<string, string> = { ...(p.grpcMeta ?? {}) };
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('TEMPORAL_GRPC_META_')) continue;
    const header = name.slice('TEMPORAL_GRPC_META_'.length).toLowerCase().replace(/_/g, '-');
    if (value) grpcMeta[header] = value;
    else delete grpcMeta[header];
  }
  if (apiKey && grpcMeta.authorization !== undefined)
    throw new SettingsError(
      'TEMPORAL_API_KEY and an authorization header (TEMPORAL_GRPC_META_AUTHORIZATION or grpc_meta) are both set: set only one',
    );
  return {
    ...(apiKey ? { apiKey } : {}),
    tls,
    grpcMeta,
    ...(profile.name ? { profile: profile.name } : {}),
    ...(profile.file ? { configFile: profile.file } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Payload codec keys.

const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A 32-byte AES key from standard base64; the message names where it came from and never shows the key. */
function aesKey(where: string, id: string, text: unknown): Buffer {
  if (typeof text !== 'string' || !BASE64.test(text.trim()))
    throw new SettingsError(`${where}: key '${id}' is not base64 (make one with \`openssl rand -base64 32\`)`);
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32)
    throw new SettingsError(
      `${where}: key '${id}' is ${key.length} bytes; AES-256 needs 32 (make one with \`openssl rand -base64 32\`)`,
    );
  return key;
}

function keyId(where: string, id: string): string {
  if (!KEY_ID.test(id))
    throw new SettingsError(`${where}: key id ${JSON.stringify(id)} must be 1-64 of A-Z a-z 0-9 _ . -`);
  return id;
}

/**
 * The codec keys: `PIPECTL_CODEC_KEYS` (`id:base64key,...`, the first encrypts) or `PIPECTL_CODEC_KEYS_FILE` (JSON
 * `{ "current": "id", "keys": { "id": "base64key", ... } }`). `undefined` when neither is set.
 */
export function readCodecKeys(env: NodeJS.ProcessEnv): CodecKeys | undefined {
  const inline = env.PIPECTL_CODEC_KEYS?.trim() || undefined;
  const file = env.PIPECTL_CODEC_KEYS_FILE || undefined;
  if (inline && file)
    throw new SettingsError('PIPECTL_CODEC_KEYS and PIPECTL_CODEC_KEYS_FILE are both set: set only one');
  if (inline) {
    const where = 'PIPECTL_CODEC_KEYS';
    const keys: Record<string, Buffer> = {};
    const ids: string[] = [];
    for (const entry of inline.split(',').map((e) => e.trim())) {
      const colon = entry.indexOf(':');
      if (colon < 0)
        throw new SettingsError(`${where}: expected id:base64key[,id:base64key...], got an entry without ':'`);
      const id = keyId(where, entry.slice(0, colon).trim());
      if (keys[id]) throw new SettingsError(`${where}: key id '${id}' appears twice`);
      keys[id] = aesKey(where, id, entry.slice(colon + 1));
      ids.push(id);
    }
    return { encryptWith: ids[0]!, keys, source: where };
  }
  if (!file) return undefined;
  const path = resolve(file);
  const where = `PIPECTL_CODEC_KEYS_FILE (${path})`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SettingsError(
      `PIPECTL_CODEC_KEYS_FILE=${JSON.stringify(file)}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // The parser's message may quote the text, keys included: report only where the error is.
    const pos = /position (\d+)/.exec((err as Error).message)?.[1];
    const before = pos === undefined ? undefined : text.slice(0, Number(pos)).split('\n');
    const at = before ? ` at line ${before.length}, column ${before[before.length - 1]!.length + 1}` : '';
    throw new SettingsError(`${where}: not valid JSON${at}`);
  }
  const shape = z.object({ current: z.string(), keys: z.record(z.string(), z.unknown()) }).safeParse(doc);
  if (!shape.success)
    throw new SettingsError(`${where}: expected { "current": "<id>", "keys": { "<id>": "<base64 key>", ... } }`);
  // JSON.parse keeps only the last of two equal member names: look for duplicates in the text itself.
  const names = [...text.matchAll(/"((?:[^"\\]|\\.)*)"\s*:/g)].map((m) => m[1]!);
  for (const id of Object.keys(shape.data.keys))
    if (names.filter((n) => n === id).length > (id === 'current' || id === 'keys' ? 2 : 1))
      throw new SettingsError(`${where}: key id '${id}' appears twice`);
  const keys: Record<string, Buffer> = {};
  for (const [id, value] of Object.entries(shape.data.keys)) keys[keyId(where, id)] = aesKey(where, id, value);
  if (Object.keys(keys).length === 0) throw new SettingsError(`${where}: no keys`);
  if (!keys[shape.data.current])
    throw new SettingsError(`${where}: current key '${shape.data.current}' is not among the keys`);
  return { encryptWith: shape.data.current, keys, source: where };
}

/** `PIPECTL_CODEC_ENDPOINT`, checked to be an http(s) URL. */
function readCodecEndpoint(env: NodeJS.ProcessEnv): string | undefined {
  const text = env.PIPECTL_CODEC_ENDPOINT?.trim();
  if (!text) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new SettingsError(
      `PIPECTL_CODEC_ENDPOINT=${JSON.stringify(text)}: expected an http(s) URL, e.g. http://localhost:8888`,
    );
  return text.replace(/\/+$/, '');
}

let cached: Settings | undefined;

/** Settings of this process, read on first use. */
export function settings(): Settings {
  cached ??= readSettings();
  return cached;
}
