import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { NativeConnection, NativeConnectionOptions } from '@temporalio/worker';
import { EncryptionCodec, MissingKeysCodec } from './codec';
import type { Settings } from './settings';

/** The TLS option both connection kinds take, from the settings (`false`: a plain connection). */
function tlsOption(s: Settings): ConnectionOptions['tls'] {
  const tls = s.temporal.tls;
  if (tls === false) return false;
  return {
    ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    ...(tls.serverCaCert ? { serverRootCACertificate: tls.serverCaCert } : {}),
    ...(tls.clientCert && tls.clientKey ? { clientCertPair: { crt: tls.clientCert, key: tls.clientKey } } : {}),
  };
}

/** Options of a client `Connection` (CLI): address, TLS, API key and extra gRPC headers. */
export function clientConnectionOptions(s: Settings, connectTimeoutMs = 5_000): ConnectionOptions {
  return {
    address: s.temporalAddress,
    tls: tlsOption(s),
    ...(s.temporal.apiKey ? { apiKey: s.temporal.apiKey } : {}),
    ...(Object.keys(s.temporal.grpcMeta).length > 0 ? { metadata: { ...s.temporal.grpcMeta } } : {}),
    connectTimeout: connectTimeoutMs,
  };
}

/** Options of a worker's `NativeConnection`: the same address, TLS, API key and headers as the client's. */
export function nativeConnectionOptions(s: Settings): NativeConnectionOptions {
  return {
    address: s.temporalAddress,
    tls: tlsOption(s),
    ...(s.temporal.apiKey ? { apiKey: s.temporal.apiKey } : {}),
    ...(Object.keys(s.temporal.grpcMeta).length > 0 ? { metadata: { ...s.temporal.grpcMeta } } : {}),
  };
}

/** Path of the failure converter that moves failure messages and stack traces into (encrypted) payloads. */
export const ENCRYPTING_FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * The data converter of every client and worker pipectl makes: with codec keys, payloads are AES-256-GCM encrypted
 * and failure messages and stack traces are encoded into them; without keys, plain payloads as the SDK writes them (an
 * encrypted payload met then fails saying that keys are missing).
 */
export function dataConverter(s: Settings): DataConverter {
  if (!s.codecKeys) return { payloadCodecs: [new MissingKeysCodec()] };
  return {
    payloadCodecs: [new EncryptionCodec(s.codecKeys)],
    failureConverterPath: ENCRYPTING_FAILURE_CONVERTER_PATH,
  };
}

/** The server could not be reached, refused the connection or the credentials; the message says which and what to check. */
export class TemporalConnectionError extends Error {
  override name = 'TemporalConnectionError';
}

/** The messages of an error and its causes, with a gRPC status when there is one. */
function details(err: unknown): { text: string; code?: number } {
  const parts: string[] = [];
  let code: number | undefined;
  let cur: unknown = err;
  for (let depth = 0; cur instanceof Error && depth < 5; depth++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'number') code ??= c;
    const msg = cur.message.trim();
    if (msg && !parts.some((p) => p.includes(msg))) parts.push(msg);
    cur = cur.cause;
  }
  if (parts.length === 0) parts.push(String(err));
  return { text: parts.join(': '), ...(code !== undefined ? { code } : {}) };
}

const UNAUTHENTICATED = 16;
const PERMISSION_DENIED = 7;

/**
 * Why a TLS handshake with the server fails, as Node's TLS sees it with the same settings (gRPC reports only "failed
 * to connect before the deadline"); `undefined` when the handshake succeeds or does not answer in time.
 */
export async function tlsHandshakeProblem(s: Settings, timeoutMs = 3_000): Promise<string | undefined> {
  const tls = s.temporal.tls;
  if (tls === false) return undefined;
  const { connect } = await import('node:tls');
  const { isIP } = await import('node:net');
  const colon = s.temporalAddress.lastIndexOf(':');
  const host = s.temporalAddress.slice(0, colon);
  const servername = tls.serverName ?? (isIP(host) ? undefined : host);
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port: Number(s.temporalAddress.slice(colon + 1)),
      ...(servername ? { servername } : {}),
      ...(tls.serverCaCert ? { ca: tls.serverCaCert } : {}),
      ...(tls.clientCert && tls.clientKey ? { cert: tls.clientCert, key: tls.clientKey } : {}),
      ALPNProtocols: ['h2'],
    });
    const finish = (why: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    // OpenSSL's messages carry its internals ("…:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:…").
    socket.once('error', (e) => finish(/SSL routines:[^:]*:([^:]+):/.exec(e.message)?.[1] ?? e.message));
    // With TLS 1.3 a server refuses a client certificate just after the handshake: give its alert a moment.
    socket.once('secureConnect', () => {
      socket.once('close', () =>
        finish('the server closed the connection right after the handshake (did it refuse the client certificate?)'),
      );
      setTimeout(() => finish(undefined), 300);
    });
  });
}

/** Turns a failed connect into a message naming the address, what went wrong and the settings to check. */
export function connectionProblem(s: Settings, err: unknown, tlsProblem?: string): TemporalConnectionError {
  const found = details(err);
  const code = found.code;
  const text = tlsProblem ? `${found.text}; TLS handshake: ${tlsProblem}` : found.text;
  const profile = s.temporal.profile ? ` (profile '${s.temporal.profile}' of ${s.temporal.configFile})` : '';
  const where = `the Temporal server at ${s.temporalAddress}${profile}`;
  if (
    code === UNAUTHENTICATED ||
    code === PERMISSION_DENIED ||
    /unauthenticated|permission denied|valid authentication credentials|does not have permission/i.test(text)
  ) {
    const check = s.temporal.apiKey
      ? 'TEMPORAL_API_KEY'
      : s.temporal.tls && s.temporal.tls.clientCert
        ? 'the client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH)'
        : 'the credentials: set TEMPORAL_API_KEY or a client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH)';
    return new TemporalConnectionError(
      `${where} refused the credentials (${text}); check ${check} and TEMPORAL_NAMESPACE (${s.namespace})`,
    );
  }
  if (s.temporal.tls) {
    const cert = s.temporal.tls.clientCert
      ? 'the client certificate, the server CA (TEMPORAL_TLS_SERVER_CA_CERT_PATH) and TEMPORAL_TLS_SERVER_NAME'
      : 'whether the server wants a client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH), the server CA (TEMPORAL_TLS_SERVER_CA_CERT_PATH) and TEMPORAL_TLS_SERVER_NAME';
    return new TemporalConnectionError(
      `cannot connect to ${where} over TLS (${text}); check TEMPORAL_ADDRESS, ${cert}, or set TEMPORAL_TLS=false for a plain connection`,
    );
  }
  return new TemporalConnectionError(
    `cannot reach ${where} (${text}); start one with \`pipectl server start\` or \`pipectl dev\`, or set TEMPORAL_ADDRESS`,
  );
}

/** A client for the settings' server and namespace, with pipectl's data converter. */
export async function connectClient(s: Settings, connectTimeoutMs = 5_000): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect(clientConnectionOptions(s, connectTimeoutMs));
  } catch (err) {
    throw connectionProblem(s, err, await tlsHandshakeProblem(s));
  }
  return new Client({ connection, namespace: s.namespace, dataConverter: dataConverter(s) });
}

/** A worker's connection to the settings' server (pass `dataConverter(s)` and `s.namespace` to `Worker.create`). */
export async function connectWorker(s: Settings): Promise<NativeConnection> {
  const { NativeConnection } = await import('@temporalio/worker');
  try {
    return await NativeConnection.connect(nativeConnectionOptions(s));
  } catch (err) {
    throw connectionProblem(s, err, await tlsHandshakeProblem(s));
  }
}
