import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';

/** Paths of a test CA and of a server and a client certificate it signed (PEM, EC P-256 keys). */
export interface TestCertificates {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate signed by another CA: the proxy must refuse it. */
  strangerCert: string;
  strangerKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Signs a leaf certificate `name` with the CA in `dir` (`ca` prefix). */
function leaf(dir: string, ca: string, name: string, extensions: string): void {
  openssl(
    dir,
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    ]),
  );
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(
    dir,
    ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial'].concat([
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ]),
  );
}

function authority(dir: string, name: string): void {
  openssl(
    dir,
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
      .concat(['-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`])
      .concat(['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']),
  );
}

/** Makes a CA, a server certificate for `serverName` and client certificates with the machine's `openssl`. */
export function makeTestCertificates(serverName: string): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'pipectl-tls-'));
  authority(dir, 'ca');
  authority(dir, 'stranger-ca');
  const common = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n';
  leaf(dir, 'ca', 'server', `${common}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:${serverName}\n`);
  leaf(dir, 'ca', 'client', `${common}extendedKeyUsage=clientAuth\n`);
  leaf(dir, 'stranger-ca', 'stranger', `${common}extendedKeyUsage=clientAuth\n`);
  const at = (f: string) => join(dir, f);
  return {
    dir,
    caCert: at('ca.pem'),
    serverCert: at('server.pem'),
    serverKey: at('server.key'),
    clientCert: at('client.pem'),
    clientKey: at('client.key'),
    strangerCert: at('stranger.pem'),
    strangerKey: at('stranger.key'),
  };
}

/** A running mutual-TLS proxy. */
export interface TlsProxy {
  /** `127.0.0.1:<port>`. */
  address: string;
  /** Connections whose TLS handshake the proxy refused (no or an untrusted client certificate), with the reason. */
  refused: string[];
  /** Connections that passed mutual TLS and were forwarded. */
  accepted(): number;
  close(): Promise<void>;
}

/**
 * A TLS-terminating TCP proxy in front of `target` (`host:port`): it demands a client certificate signed by the CA
 * (`requestCert`, `rejectUnauthorized`), offers HTTP/2 by ALPN as gRPC needs, and forwards the decrypted bytes.
 */
export async function startTlsProxy(target: string, certs: TestCertificates): Promise<TlsProxy> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<Socket>();
  const refused: string[] = [];
  let accepted = 0;
  const server = createServer(
    {
      key: readFileSync(certs.serverKey),
      cert: readFileSync(certs.serverCert),
      ca: readFileSync(certs.caCert),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (client: TLSSocket) => {
      accepted++;
      const upstream = connect({ host, port });
      sockets.add(client).add(upstream);
      const done = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', done).on('close', done);
      upstream.on('error', done).on('close', done);
      client.pipe(upstream).pipe(client);
    },
  );
  server.on('tlsClientError', (err) => refused.push(err.message));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const listening = typeof address === 'object' && address ? address.port : 0;
  return {
    address: `127.0.0.1:${listening}`,
    refused,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
