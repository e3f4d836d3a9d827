import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { decode } from '@temporalio/common/lib/encoding';
import {
  CodecError,
  EncryptionCodec,
  MissingKeysCodec,
  startCodecServer,
  type CodecServer,
} from '../../temporal-config/codec';
import { readCodecKeys, readSettings, SettingsError } from '../../temporal-config/settings';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const b64 = (b: Buffer) => b.toString('base64');
const CANARY = `canary-${randomBytes(6).toString('hex')}`;
const plain = (): Payload => defaultPayloadConverter.toPayload({ rows: [{ secret: CANARY }] });
const text = (p: Payload) => Buffer.from(p.data ?? []).toString('latin1');

describe('EncryptionCodec', () => {
  const codec = new EncryptionCodec({ encryptWith: 'k1', keys: { k1 } });

  test('round trip: encrypted payloads name their key and hide the data; decoding gives the original back', async () => {
    const original = plain();
    const [encrypted] = await codec.encode([original]);
    expect(decode(encrypted!.metadata!.encoding!)).toBe('binary/encrypted');
    expect(decode(encrypted!.metadata!['encryption-key-id']!)).toBe('k1');
    expect(text(encrypted!)).not.toContain(CANARY);
    // iv (12) + ciphertext + tag (16); a fresh iv each time.
    const [again] = await codec.encode([original]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(encrypted!.data!))).toBe(false);
    const [decoded] = await codec.decode([encrypted!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({ rows: [{ secret: CANARY }] });
    expect(decode(decoded!.metadata!.encoding!)).toBe('json/plain');
  });

  test('payloads that are not encrypted pass through decode', async () => {
    const original = plain();
    expect(await codec.decode([original])).toEqual([original]);
  });

  test('key rotation: with keys k2,k1 new payloads use k2 and old k1 payloads still decode', async () => {
    const [old] = await codec.encode([plain()]);
    const rotated = new EncryptionCodec(readCodecKeys({ PIPECTL_CODEC_KEYS: `k2:${b64(k2)},k1:${b64(k1)}` })!);
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([old!]))[0]!)).toEqual({
      rows: [{ secret: CANARY }],
    });
    const [fresh] = await rotated.encode([plain()]);
    expect(decode(fresh!.metadata!['encryption-key-id']!)).toBe('k2');
    // Without k2, the old codec cannot read new payloads, and says which key is missing.
    await expect(codec.decode([fresh!])).rejects.toThrow(
      "a payload was encrypted with key 'k2', which is not among the configured keys (k1)",
    );
  });

  test('an altered payload is refused', async () => {
    const [encrypted] = await codec.encode([plain()]);
    const data = Buffer.from(encrypted!.data!);
    data[20] = data[20]! ^ 1;
    await expect(codec.decode([{ ...encrypted!, data: new Uint8Array(data) }])).rejects.toThrow(CodecError);
    await expect(codec.decode([{ ...encrypted!, data: new Uint8Array(data) }])).rejects.toThrow(
      "a payload encrypted with key 'k1' does not authenticate",
    );
  });

  test('a key of the same id but other bytes cannot decode', async () => {
    const [encrypted] = await codec.encode([plain()]);
    const impostor = new EncryptionCodec({ encryptWith: 'k1', keys: { k1: k2 } });
    await expect(impostor.decode([encrypted!])).rejects.toThrow('does not authenticate');
  });
});

test('without keys, an encrypted payload fails saying keys are missing; plain ones pass', async () => {
  const [encrypted] = await new EncryptionCodec({ encryptWith: 'k1', keys: { k1 } }).encode([plain()]);
  const guard = new MissingKeysCodec();
  await expect(guard.decode([encrypted!])).rejects.toThrow(
    "a payload is encrypted with key 'k1' and no codec keys are configured: set PIPECTL_CODEC_KEYS",
  );
  const original = plain();
  expect(await guard.decode([original])).toEqual([original]);
  expect(await guard.encode([original])).toEqual([original]);
});

describe('codec keys from the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pipectl-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return path;
  };

  test('no keys: no codec', () => {
    expect(readSettings({}).codecKeys).toBeUndefined();
  });

  test('PIPECTL_CODEC_KEYS: the first key encrypts', () => {
    const keys = readSettings({ PIPECTL_CODEC_KEYS: ` k2:${b64(k2)} , k1:${b64(k1)}` }).codecKeys!;
    expect(keys.encryptWith).toBe('k2');
    expect(keys.keys).toEqual({ k1, k2 });
  });

  test('PIPECTL_CODEC_KEYS_FILE: JSON with the current key and every key by id', () => {
    const path = file('keys.json', JSON.stringify({ current: 'k2', keys: { k1: b64(k1), k2: b64(k2) } }));
    const keys = readSettings({ PIPECTL_CODEC_KEYS_FILE: path }).codecKeys!;
    expect(keys.encryptWith).toBe('k2');
    expect(keys.keys).toEqual({ k1, k2 });
  });

  const short = b64(randomBytes(16));
  test.each<[NodeJS.ProcessEnv, string]>([
    [{ PIPECTL_CODEC_KEYS: `k1:${short}` }, "PIPECTL_CODEC_KEYS: key 'k1' is 16 bytes; AES-256 needs 32"],
    [{ PIPECTL_CODEC_KEYS: 'k1:not base64!' }, "PIPECTL_CODEC_KEYS: key 'k1' is not base64"],
    [{ PIPECTL_CODEC_KEYS: `k1:${b64(k1)},k1:${b64(k2)}` }, "PIPECTL_CODEC_KEYS: key id 'k1' appears twice"],
    [
      { PIPECTL_CODEC_KEYS: b64(k1) },
      "PIPECTL_CODEC_KEYS: expected id:base64key[,id:base64key...], got an entry without ':'",
    ],
    [{ PIPECTL_CODEC_KEYS: `bad id:${b64(k1)}` }, 'PIPECTL_CODEC_KEYS: key id "bad id" must be'],
    [
      { PIPECTL_CODEC_KEYS: `k1:${b64(k1)}`, PIPECTL_CODEC_KEYS_FILE: '/x' },
      'PIPECTL_CODEC_KEYS and PIPECTL_CODEC_KEYS_FILE are both set',
    ],
    [
      { PIPECTL_CODEC_KEYS_FILE: join(dir, 'absent.json') },
      `PIPECTL_CODEC_KEYS_FILE="${join(dir, 'absent.json')}": no such file`,
    ],
    [
      { PIPECTL_CODEC_KEYS_FILE: file('bad.json', `{ current: "k1", "keys": { "k1": "${b64(k1)}" } }`) },
      'not valid JSON',
    ],
    [
      { PIPECTL_CODEC_KEYS_FILE: file('comma.json', `{"current":"k1","keys":{"k1":"${b64(k1)}",}}`) },
      'not valid JSON at line 1, column',
    ],
    [{ PIPECTL_CODEC_KEYS_FILE: file('shape.json', '{"keys": []}') }, 'expected { "current": "<id>", "keys"'],
    [
      { PIPECTL_CODEC_KEYS_FILE: file('cur.json', JSON.stringify({ current: 'k9', keys: { k1: b64(k1) } })) },
      "current key 'k9' is not among the keys",
    ],
    [
      { PIPECTL_CODEC_KEYS_FILE: file('dup.json', `{"current":"k1","keys":{"k1":"${b64(k1)}","k1":"${b64(k2)}"}}`) },
      "key id 'k1' appears twice",
    ],
    [
      { PIPECTL_CODEC_KEYS_FILE: file('len.json', `{"current":"k1","keys":{"k1":"${short}"}}`) },
      "key 'k1' is 16 bytes",
    ],
    [{ PIPECTL_CODEC_ENDPOINT: 'localhost:8888' }, 'PIPECTL_CODEC_ENDPOINT="localhost:8888": expected an http(s) URL'],
  ])('bad keys fail at start-up naming the variable, never showing a key: %p', (env, message) => {
    let error: unknown;
    try {
      readSettings(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SettingsError);
    const msg = (error as Error).message;
    expect(msg).toContain(message);
    for (const key of [b64(k1), b64(k2), short]) expect(msg).not.toContain(key);
  });
});

describe('codec server (HTTP on loopback)', () => {
  const codec = new EncryptionCodec({ encryptWith: 'k1', keys: { k1 } });
  let server: CodecServer;
  beforeAll(async () => {
    server = await startCodecServer(codec, { port: 0, corsOrigins: ['http://localhost:8233'], authToken: 'tok' });
  });
  afterAll(() => server.close());
  const post = (path: string, body: string, headers: Record<string, string> = { authorization: 'Bearer tok' }) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });
  const asJson = (p: Payload) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data!).toString('base64'),
  });

  test('POST /encode then /decode gives the payload back', async () => {
    const enc = await post('/encode', JSON.stringify({ payloads: [asJson(plain())] }));
    expect(enc.status).toBe(200);
    const encoded = (await enc.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(encoded.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(encoded.payloads[0]!.data, 'base64').toString('latin1')).not.toContain(CANARY);
    const dec = await post('/codec/decode', JSON.stringify(encoded));
    expect(dec.status).toBe(200);
    const decoded = (await dec.json()) as { payloads: { data: string }[] };
    expect(JSON.parse(Buffer.from(decoded.payloads[0]!.data, 'base64').toString())).toEqual({
      rows: [{ secret: CANARY }],
    });
  });

  test('without the token: 401', async () => {
    expect((await post('/decode', '{"payloads":[]}', {})).status).toBe(401);
    expect((await post('/decode', '{"payloads":[]}', { authorization: 'Bearer nope' })).status).toBe(401);
  });

  test('bad JSON or shape: 400 with a message', async () => {
    const bad = await post('/decode', '{not json');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('the body is not JSON');
    const shape = await post('/decode', '{"payloads":[{"data":5}]}');
    expect(shape.status).toBe(400);
    expect(((await shape.json()) as { error: string }).error).toContain('payloads.0.data');
  });

  test('a payload of an unknown key: 400 naming the key id', async () => {
    const other = new EncryptionCodec({ encryptWith: 'k2', keys: { k2 } });
    const [p] = await other.encode([plain()]);
    const res = await post('/decode', JSON.stringify({ payloads: [asJson(p!)] }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain("encrypted with key 'k2'");
  });

  test('CORS preflight for the Web UI origin, none for others', async () => {
    const pre = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:8233', 'access-control-request-method': 'POST' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    expect(pre.headers.get('access-control-allow-headers')).toBe('content-type, x-namespace, authorization');
    expect(pre.headers.get('access-control-allow-credentials')).toBe('true');
    const other = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.test' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('unknown paths and methods', async () => {
    expect((await post('/other', '{}')).status).toBe(404);
    expect((await fetch(`${server.url}/decode`)).status).toBe(405);
  });
});
