import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientConnectionOptions, dataConverter, nativeConnectionOptions } from '../../temporal-config/connection';
import { readSettings, SettingsError } from '../../temporal-config/settings';

const dir = mkdtempSync(join(tmpdir(), 'pipectl-conn-'));
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n';
const CA = '-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n';
const certPath = join(dir, 'client.pem');
const keyPath = join(dir, 'client.key');
const caPath = join(dir, 'ca.pem');
writeFileSync(certPath, CERT);
writeFileSync(keyPath, KEY);
writeFileSync(caPath, CA);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a Temporal config file and returns its path. */
function configFile(name: string, toml: string): string {
  const path = join(dir, name);
  writeFileSync(path, toml);
  return path;
}

const profiles = configFile(
  'temporal.toml',
  `
[profile.default]
address = "localhost:7555"
namespace = "from-file"

[profile.prod]
address = "prod.a1b2c.tmprl.cloud:7233"
namespace = "prod.a1b2c"
api_key = "file-api-key"

[profile.mtls]
address = "mtls.example.com:7233"
namespace = "mtls"
[profile.mtls.tls]
client_cert_path = "${certPath}"
client_key_path = "${keyPath}"
server_ca_cert_path = "${caPath}"
server_name = "temporal.internal"

[profile.broken]
address = "nowhere"

[profile.missing_cert]
[profile.missing_cert.tls]
client_cert_path = "${join(dir, 'gone.pem')}"
client_key_path = "${keyPath}"

[profile.plain]
address = "localhost:7444"
api_key = "k"
[profile.plain.tls]
disabled = true
`,
);

/** The SettingsError message `readSettings(env)` throws (fails the test when it does not throw one). */
function errorOf(env: NodeJS.ProcessEnv): string {
  try {
    readSettings(env);
  } catch (err) {
    expect(err).toBeInstanceOf(SettingsError);
    return (err as Error).message;
  }
  throw new Error(`readSettings(${JSON.stringify(env)}) did not throw`);
}

describe('without any connection settings', () => {
  test('a plain connection to localhost:7233, namespace default, default data converter', () => {
    const s = readSettings({});
    expect(s.temporalAddress).toBe('localhost:7233');
    expect(s.namespace).toBe('default');
    expect(s.temporal).toEqual({ tls: false, grpcMeta: {} });
    expect(clientConnectionOptions(s)).toEqual({ address: 'localhost:7233', tls: false, connectTimeout: 5_000 });
    expect(nativeConnectionOptions(s)).toEqual({ address: 'localhost:7233', tls: false });
    const converter = dataConverter(s);
    expect(converter.failureConverterPath).toBeUndefined();
    expect(converter.payloadCodecs?.map((c) => c.constructor.name)).toEqual(['MissingKeysCodec']);
  });

  test('a missing default config file (~/.config/temporalio/temporal.toml) is no error', () => {
    expect(readSettings({ HOME: join(dir, 'no-home') }).temporal.profile).toBeUndefined();
  });
});

describe('Temporal variables', () => {
  test('an API key turns TLS on and is sent as the API key of both connection kinds', () => {
    const s = readSettings({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'secret-key' });
    expect(s.temporal.apiKey).toBe('secret-key');
    expect(s.temporal.tls).toEqual({});
    expect(clientConnectionOptions(s)).toMatchObject({ apiKey: 'secret-key', tls: {} });
    expect(nativeConnectionOptions(s)).toMatchObject({ apiKey: 'secret-key', tls: {} });
  });

  test('TEMPORAL_TLS=false keeps an API key on a plain connection', () => {
    const s = readSettings({ TEMPORAL_API_KEY: 'secret-key', TEMPORAL_TLS: 'false' });
    expect(s.temporal.tls).toBe(false);
    expect(clientConnectionOptions(s)).toMatchObject({ apiKey: 'secret-key', tls: false });
  });

  test('TEMPORAL_TLS=true alone means TLS with the system roots', () => {
    expect(readSettings({ TEMPORAL_TLS: 'true' }).temporal.tls).toEqual({});
  });

  test('client certificate, key, server CA and server name are read at start-up', () => {
    const s = readSettings({
      TEMPORAL_TLS_CLIENT_CERT_PATH: certPath,
      TEMPORAL_TLS_CLIENT_KEY_DATA: KEY,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: caPath,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    const expected = {
      serverNameOverride: 'temporal.internal',
      serverRootCACertificate: Buffer.from(CA),
      clientCertPair: { crt: Buffer.from(CERT), key: Buffer.from(KEY) },
    };
    expect(clientConnectionOptions(s).tls).toEqual(expected);
    expect(nativeConnectionOptions(s).tls).toEqual(expected);
  });

  test('TEMPORAL_GRPC_META_* become gRPC headers', () => {
    const s = readSettings({ TEMPORAL_GRPC_META_X_TENANT_ID: 'acme' });
    expect(clientConnectionOptions(s).metadata).toEqual({ 'x-tenant-id': 'acme' });
  });

  test.each<[NodeJS.ProcessEnv, string]>([
    [{ TEMPORAL_TLS: 'maybe' }, 'TEMPORAL_TLS="maybe": expected true or false'],
    [
      { TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'nope.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: keyPath },
      `TEMPORAL_TLS_CLIENT_CERT_PATH="${join(dir, 'nope.pem')}": no such file`,
    ],
    [
      { TEMPORAL_TLS_CLIENT_CERT_PATH: certPath },
      'TEMPORAL_TLS_CLIENT_CERT_PATH is set but no client key: set TEMPORAL_TLS_CLIENT_KEY_PATH',
    ],
    [
      { TEMPORAL_TLS_CLIENT_KEY_PATH: keyPath },
      'TEMPORAL_TLS_CLIENT_KEY_PATH is set but no client certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH',
    ],
    [
      { TEMPORAL_TLS_CLIENT_CERT_PATH: certPath, TEMPORAL_TLS_CLIENT_CERT_DATA: CERT },
      'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_CERT_DATA are both set: set only one',
    ],
    [{ TEMPORAL_TLS_SERVER_CA_CERT_DATA: certPath }, 'TEMPORAL_TLS_SERVER_CA_CERT_DATA: not a PEM certificate'],
    [{ TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' }, 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true: not supported'],
    [{ TEMPORAL_ADDRESS: 'ns.tmprl.cloud' }, 'TEMPORAL_ADDRESS="ns.tmprl.cloud": expected host:port'],
    [
      { TEMPORAL_CONFIG_FILE: join(dir, 'absent.toml') },
      `TEMPORAL_CONFIG_FILE="${join(dir, 'absent.toml')}": no such file`,
    ],
    [{ TEMPORAL_PROFILE: 'prod', HOME: join(dir, 'no-home') }, 'TEMPORAL_PROFILE="prod": no Temporal config file at'],
  ])('a bad setting fails naming the variable: %p', (env, message) => {
    expect(errorOf(env)).toContain(message);
  });

  test('an API key never appears in an error', () => {
    const message = errorOf({ TEMPORAL_API_KEY: 'very-secret-key', TEMPORAL_GRPC_META_AUTHORIZATION: 'Bearer x' });
    expect(message).toContain('TEMPORAL_API_KEY and an authorization header');
    expect(message).not.toContain('very-secret-key');
  });
});

describe('profiles of the Temporal config file (TOML)', () => {
  test('the default profile applies without TEMPORAL_PROFILE', () => {
    const s = readSettings({ TEMPORAL_CONFIG_FILE: profiles });
    expect(s.temporalAddress).toBe('localhost:7555');
    expect(s.namespace).toBe('from-file');
    expect(s.temporal).toMatchObject({ profile: 'default', configFile: profiles, tls: false });
  });

  test('TEMPORAL_PROFILE picks a profile; its API key turns TLS on', () => {
    const s = readSettings({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'prod' });
    expect(s.temporalAddress).toBe('prod.a1b2c.tmprl.cloud:7233');
    expect(s.namespace).toBe('prod.a1b2c');
    expect(s.temporal).toMatchObject({ apiKey: 'file-api-key', tls: {}, profile: 'prod' });
  });

  test("a profile's TLS files are read; the variables win over the profile", () => {
    const s = readSettings({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'mtls' });
    expect(s.temporal.tls).toEqual({
      serverName: 'temporal.internal',
      serverCaCert: Buffer.from(CA),
      clientCert: Buffer.from(CERT),
      clientKey: Buffer.from(KEY),
    });
    const over = readSettings({
      TEMPORAL_CONFIG_FILE: profiles,
      TEMPORAL_PROFILE: 'mtls',
      TEMPORAL_ADDRESS: 'localhost:9999',
      TEMPORAL_NAMESPACE: 'mine',
      TEMPORAL_TLS_SERVER_NAME: 'other.internal',
    });
    expect([over.temporalAddress, over.namespace]).toEqual(['localhost:9999', 'mine']);
    expect(over.temporal.tls).toMatchObject({ serverName: 'other.internal' });
    expect(
      readSettings({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'mtls', TEMPORAL_TLS: 'false' }).temporal.tls,
    ).toBe(false);
  });

  test('tls.disabled in a profile keeps its API key on a plain connection', () => {
    const s = readSettings({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'plain' });
    expect(s.temporal).toMatchObject({ apiKey: 'k', tls: false });
  });

  test('the default file is found under HOME', () => {
    const home = join(dir, 'home');
    mkdirSync(join(home, '.config', 'temporalio'), { recursive: true });
    writeFileSync(join(home, '.config', 'temporalio', 'temporal.toml'), '[profile.default]\nnamespace = "at-home"\n');
    expect(readSettings({ HOME: home }).namespace).toBe('at-home');
    expect(readSettings({ HOME: home, XDG_CONFIG_HOME: join(dir, 'xdg') }).namespace).toBe('default');
  });

  test('a file without profiles is no error', () => {
    expect(readSettings({ TEMPORAL_CONFIG_FILE: configFile('empty.toml', '# nothing yet\n') }).namespace).toBe(
      'default',
    );
  });

  test.each<[NodeJS.ProcessEnv, string]>([
    [
      { TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'staging' },
      `TEMPORAL_PROFILE="staging": no [profile.staging] in ${profiles} (profiles there: default, prod, mtls, broken, missing_cert, plain)`,
    ],
    [
      { TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'broken' },
      `address in profile 'broken' of ${profiles}="nowhere": expected host:port`,
    ],
    [
      { TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'missing_cert' },
      `tls.client_cert_path in profile 'missing_cert' of ${profiles}="${join(dir, 'gone.pem')}": no such file`,
    ],
    [
      { TEMPORAL_CONFIG_FILE: configFile('bad.toml', '[profile.default\naddress = "x:1"\n') },
      `${join(dir, 'bad.toml')} (TEMPORAL_CONFIG_FILE) at line 1, column 17: Invalid TOML document: illegal character in key`,
    ],
    [
      { TEMPORAL_CONFIG_FILE: configFile('num.toml', '[profile.default]\nnamespace = 3\n') },
      `namespace in profile 'default' of ${join(dir, 'num.toml')}: must be a string`,
    ],
  ])('a bad file or profile fails naming it: %p', (env, message) => {
    expect(errorOf(env)).toContain(message);
  });
});
