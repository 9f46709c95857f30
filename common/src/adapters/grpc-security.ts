// TLS and credentials for the gRPC links (agent -> coordinator, worker -> coordinator, health).
// Server: TLS with its certificate; with a client CA it asks every peer for a certificate but lets
// the handshake succeed without one, so the coordinator can answer a clear UNAUTHENTICATED (and
// count it) instead of a bare TLS alert. Only certificates that chain to the CA count as identity.
// Client: verifies the server against its CA file, presents its own certificate for mutual TLS, and
// sends its bearer token as `authorization` metadata on each call.
import { readFileSync } from 'node:fs';
import { QuicksilverError } from '../errors.js';
import type { Logger } from '../logger.js';
import { grpc } from './grpc-services.js';

export interface ServerTlsSettings {
  /** PEM certificate chain and key of this server; '' = plaintext. */
  tlsCertFile: string;
  tlsKeyFile: string;
  /** PEM CA bundle that signs client certificates ('' = client certificates are not asked for). */
  tlsClientCaFile: string;
}

export interface ClientTlsSettings {
  /** PEM CA bundle that signs the coordinator's certificate; '' = plaintext (no TLS). */
  tlsCaFile: string;
  /** This client's certificate and key, presented for mutual TLS ('' = none). */
  tlsCertFile: string;
  tlsKeyFile: string;
  /** Override of the name checked in the server certificate ('' = the host of the address). */
  tlsServerName: string;
  /** File holding this client's bearer token ('' = no token). */
  authTokenFile: string;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new QuicksilverError('CONFIG_INVALID', `cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

/** Both halves of a pair or neither. */
function pair(cert: string, key: string, what: string): { cert: Buffer; key: Buffer } | undefined {
  if (!cert && !key) return undefined;
  if (!cert || !key) throw new QuicksilverError('CONFIG_INVALID', `${what}: tlsCertFile and tlsKeyFile must be set together`);
  return { cert: readPem(cert, `${what} certificate`), key: readPem(key, `${what} private key`) };
}

export function serverCredentials(settings: ServerTlsSettings, logger: Logger, what: string): grpc.ServerCredentials {
  const identity = pair(settings.tlsCertFile, settings.tlsKeyFile, what);
  if (!identity) {
    if (settings.tlsClientCaFile) throw new QuicksilverError('CONFIG_INVALID', `${what}: tlsClientCaFile needs tlsCertFile and tlsKeyFile (mutual TLS runs over TLS)`);
    logger.warn({ security: 'plaintext' }, `${what}: gRPC without TLS (insecure: for a local demo or test only; see docs/security.md)`);
    return grpc.ServerCredentials.createInsecure();
  }
  if (!settings.tlsClientCaFile) return grpc.ServerCredentials.createSsl(null, [{ cert_chain: identity.cert, private_key: identity.key }], false);
  const ca = readPem(settings.tlsClientCaFile, `${what} client CA`);
  // One static provider answers both as CA and as identity source (grpc-js swaps their order internally).
  // Answers come on a microtask: grpc-js registers its own watcher only after adding these listeners.
  const provider: grpc.experimental.CertificateProvider = {
    addCaCertificateListener: (listener) => queueMicrotask(() => listener({ caCertificate: ca })),
    removeCaCertificateListener: () => {},
    addIdentityCertificateListener: (listener) => queueMicrotask(() => listener({ certificate: identity.cert, privateKey: identity.key })),
    removeIdentityCertificateListener: () => {},
  };
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

export interface ClientSecurity {
  credentials: grpc.ChannelCredentials;
  /** Channel options to add (TLS server-name override). */
  channelOptions: grpc.ChannelOptions;
  /** Metadata to send with each call (the bearer token). */
  callMetadata(): grpc.Metadata;
}

export function clientSecurity(settings: ClientTlsSettings, logger: Logger, what: string): ClientSecurity {
  const token = settings.authTokenFile ? readPem(settings.authTokenFile, `${what} token file`).toString('utf8').trim() : '';
  if (settings.authTokenFile && !token) throw new QuicksilverError('CONFIG_INVALID', `${what}: the token file ${settings.authTokenFile} is empty`);
  const identity = pair(settings.tlsCertFile, settings.tlsKeyFile, what);
  let credentials: grpc.ChannelCredentials;
  if (!settings.tlsCaFile) {
    if (identity) throw new QuicksilverError('CONFIG_INVALID', `${what}: a client certificate needs tlsCaFile (mutual TLS runs over TLS)`);
    logger.warn({ security: 'plaintext', bearerTokenInCleartext: Boolean(token) }, `${what}: gRPC without TLS (insecure: for a local demo or test only; see docs/security.md)`);
    credentials = grpc.credentials.createInsecure();
  } else {
    credentials = grpc.credentials.createSsl(readPem(settings.tlsCaFile, `${what} CA`), identity?.key ?? null, identity?.cert ?? null);
  }
  return {
    credentials,
    channelOptions: settings.tlsServerName ? { 'grpc.ssl_target_name_override': settings.tlsServerName, 'grpc.default_authority': settings.tlsServerName } : {},
    callMetadata() {
      const metadata = new grpc.Metadata();
      if (token) metadata.set('authorization', `Bearer ${token}`);
      return metadata;
    },
  };
}

/** What a server call carries for authentication: the raw authorization value and the verified client certificate's CN. */
export function callCredentials(call: Pick<grpc.ServerDuplexStream<unknown, unknown>, 'metadata' | 'getAuthContext'>): { authorization?: string; certificateCn?: string } {
  const authorization = call.metadata.get('authorization')[0];
  const cn = call.getAuthContext()?.sslPeerCertificate?.subject?.CN;
  return {
    authorization: typeof authorization === 'string' ? authorization : undefined,
    certificateCn: typeof cn === 'string' ? cn : Array.isArray(cn) ? cn[0] : undefined,
  };
}
