import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { decode, encode } from '@temporalio/common/lib/encoding';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import type { CodecKeys } from './settings';

/** The `encoding` metadata of an encrypted payload. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata key naming the key a payload was encrypted with. */
export const METADATA_KEY_ID = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A payload could not be decrypted: unknown key id, wrong key, or altered bytes. The message says which. */
export class CodecError extends Error {
  override name = 'CodecError';
}

/**
 * AES-256-GCM encryption of whole payloads. The original payload (metadata and data) is serialized as a protobuf
 * `Payload` and encrypted; the result carries `encoding: binary/encrypted` and `encryption-key-id`, and its data is
 * iv (12 bytes) + ciphertext + tag (16 bytes). Decoding picks the key by id, so payloads written with an older key
 * still decode after rotation; payloads that are not encrypted pass through unchanged.
 */
export class EncryptionCodec implements PayloadCodec {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #encryptWith: string;

  /** A codec over `keys`, encrypting with `keys.encryptWith`. */
  constructor(keys: Pick<CodecKeys, 'encryptWith' | 'keys'>) {
    this.#keys = new Map(Object.entries(keys.keys));
    if (!this.#keys.has(keys.encryptWith)) throw new CodecError(`no key '${keys.encryptWith}' to encrypt with`);
    this.#encryptWith = keys.encryptWith;
  }

  /** Id of the key new payloads are encrypted with. */
  get keyId(): string {
    return this.#encryptWith;
  }

  /** Encrypts every payload with the current key. */
  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.#keys.get(this.#encryptWith)!;
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: encode(ENCRYPTED_ENCODING), [METADATA_KEY_ID]: encode(this.#encryptWith) },
        data: new Uint8Array(data),
      };
    });
  }

  /** Decrypts encrypted payloads with the key their metadata names; other payloads are returned as they are. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[METADATA_KEY_ID];
      if (!idBytes) throw new CodecError(`an encrypted payload has no ${METADATA_KEY_ID} metadata`);
      const id = decode(idBytes);
      const key = this.#keys.get(id);
      if (!key)
        throw new CodecError(
          `a payload was encrypted with key '${id}', which is not among the configured keys (${[...this.#keys.keys()].join(', ')}); add it to PIPECTL_CODEC_KEYS or the keys file`,
        );
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new CodecError(`an encrypted payload (key '${id}') is truncated`);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new CodecError(
          `a payload encrypted with key '${id}' does not authenticate: it was altered, or key '${id}' is not the key it was written with`,
        );
      }
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/**
 * The codec of a process without keys: payloads pass through unchanged, but an encrypted payload fails with a message
 * that says how to read it (instead of the SDK's "Unknown encoding: binary/encrypted").
 */
export class MissingKeysCodec implements PayloadCodec {
  /** Leaves payloads as they are. */
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }

  /** Leaves plain payloads as they are; refuses encrypted ones, naming their key. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    for (const payload of payloads) {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (encoding && decode(encoding) === ENCRYPTED_ENCODING) {
        const id = payload.metadata?.[METADATA_KEY_ID];
        throw new CodecError(
          `a payload is encrypted${id ? ` with key '${decode(id)}'` : ''} and no codec keys are configured: set PIPECTL_CODEC_KEYS or PIPECTL_CODEC_KEYS_FILE`,
        );
      }
    }
    return payloads;
  }
}

/** The body of a remote-codec request and response (Temporal's codec server protocol): payloads with base64 fields. */
export const CodecRequest = z.object({
  /** The payloads to encode or decode, in order. */
  payloads: z.array(
    z.object({
      /** Metadata values, base64. */
      metadata: z.record(z.string(), z.string()).optional(),
      /** The payload's bytes, base64. */
      data: z.string().optional(),
    }),
  ),
});
export type CodecRequest = z.infer<typeof CodecRequest>;

const BASE64_TEXT = /^[A-Za-z0-9+/_-]*={0,2}$/;

function fromBase64(where: string, text: string): Uint8Array {
  if (!BASE64_TEXT.test(text)) throw new CodecRequestError(400, `${where} is not base64`);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function toJsonPayload(p: Payload): CodecRequest['payloads'][number] {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

/** A request the codec server refuses, with its HTTP status. */
class CodecRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Options of the codec server. */
export interface CodecServerOptions {
  /** Interface to listen on (default 127.0.0.1: only this machine). */
  host?: string;
  /** Port (0: any free port). */
  port: number;
  /** Web UI origins allowed to call it from a browser (CORS), e.g. `http://localhost:8233`. */
  corsOrigins?: string[];
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  authToken?: string;
  /** Largest request body in bytes (default 16 MiB). */
  maxBodyBytes?: number;
}

/** A running codec server. */
export interface CodecServer {
  /** `http://host:port`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves Temporal's remote codec protocol for `codec`: `POST /encode` and `POST /decode` take and return
 * `{ "payloads": [{ "metadata": { key: base64 }, "data": base64 }] }` (any path prefix before them is accepted, so
 * the endpoint may be `http://host:8888/codec`). Answers CORS preflights for the configured Web UI origins.
 */
export async function startCodecServer(codec: PayloadCodec, options: CodecServerOptions): Promise<CodecServer> {
  const { createServer } = await import('node:http');
  const origins = new Set(options.corsOrigins ?? []);
  const maxBody = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const expected = options.authToken ? Buffer.from(`Bearer ${options.authToken}`) : undefined;
  const authorized = (header: string | undefined): boolean => {
    if (!expected) return true;
    const got = Buffer.from(header ?? '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };

  const server = createServer((req, res) => {
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0]!;
    const op = path.endsWith('/encode') ? 'encode' : path.endsWith('/decode') ? 'decode' : undefined;
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'content-type, x-namespace, authorization');
      res.setHeader('Access-Control-Max-Age', '600');
      res.writeHead(204);
      res.end();
      return;
    }
    if (!op) return reply(404, { error: `no such endpoint ${path}: POST …/encode or …/decode` });
    if (req.method !== 'POST') return reply(405, { error: `${req.method} ${path}: use POST` });
    if (!authorized(req.headers.authorization)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return reply(401, { error: 'missing or wrong Authorization: Bearer <token> (PIPECTL_CODEC_AUTH_TOKEN)' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) return reply(413, { error: `request body over ${maxBody} bytes` });
      void handle(op, Buffer.concat(chunks).toString('utf8')).then(
        (body) => reply(200, body),
        (err: unknown) =>
          reply(err instanceof CodecRequestError ? err.status : 400, {
            error: err instanceof Error ? err.message : String(err),
          }),
      );
    });
  });

  const handle = async (op: 'encode' | 'decode', text: string): Promise<CodecRequest> => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new CodecRequestError(400, `the body is not JSON (${(err as Error).message})`);
    }
    const parsed = CodecRequest.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new CodecRequestError(
        400,
        `expected { "payloads": [{ "metadata": { "<key>": "<base64>" }, "data": "<base64>" }] }: ${issue.path.join('.') || 'body'}: ${issue.message}`,
      );
    }
    const payloads: Payload[] = parsed.data.payloads.map((p, i) => ({
      metadata: Object.fromEntries(
        Object.entries(p.metadata ?? {}).map(([k, v]) => [k, fromBase64(`payloads.${i}.metadata.${k}`, v)]),
      ),
      data: fromBase64(`payloads.${i}.data`, p.data ?? ''),
    }));
    const out = op === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
    return { payloads: out.map(toJsonPayload) };
  };

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolveListen());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}
