// The one way Quicksilver processes connect to NATS: credentials (user/password, token or a .creds
// file) and TLS from config, and a refused credential turned into a clear NATS_AUTH_FAILED error.
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, ErrorCode, type ConnectionOptions, type NatsConnection } from 'nats';
import { QuicksilverError } from '../errors.js';
import type { NatsSecuritySettings } from '../security-config.js';

export type NatsConnectSettings = Partial<NatsSecuritySettings>;

/** nats.js connection options for the configured credentials and TLS (no secret is ever logged). */
export function natsSecurityOptions(settings: NatsConnectSettings): Partial<ConnectionOptions> {
  const options: Partial<ConnectionOptions> = {};
  if (settings.natsUser) {
    options.user = settings.natsUser;
    options.pass = settings.natsPassword ?? '';
  } else if (settings.natsPassword) {
    throw new QuicksilverError('CONFIG_INVALID', 'natsPassword is set without natsUser');
  }
  if (settings.natsToken) options.token = settings.natsToken;
  if (settings.natsCredsFile) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(settings.natsCredsFile);
    } catch (error) {
      throw new QuicksilverError('CONFIG_INVALID', `cannot read the NATS creds file ${settings.natsCredsFile}: ${(error as Error).message}`);
    }
    options.authenticator = credsAuthenticator(creds);
  }
  if (settings.natsTlsCaFile || settings.natsTlsCertFile || settings.natsTlsKeyFile) {
    if (Boolean(settings.natsTlsCertFile) !== Boolean(settings.natsTlsKeyFile)) {
      throw new QuicksilverError('CONFIG_INVALID', 'natsTlsCertFile and natsTlsKeyFile must be set together');
    }
    options.tls = {
      ...(settings.natsTlsCaFile ? { caFile: settings.natsTlsCaFile } : {}),
      ...(settings.natsTlsCertFile ? { certFile: settings.natsTlsCertFile, keyFile: settings.natsTlsKeyFile } : {}),
    };
  }
  return options;
}

/** True for the errors a NATS server gives a wrong or missing credential. */
export function isNatsAuthError(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === ErrorCode.AuthorizationViolation || code === ErrorCode.AuthenticationExpired || code === ErrorCode.AuthenticationTimeout
    || /authorization violation|authentication/i.test((error as Error).message ?? '');
}

/** Connects with the configured security; a refused credential is NATS_AUTH_FAILED, anything else UNAVAILABLE. */
export async function connectNats(settings: NatsConnectSettings & { servers: string[]; name: string }, options: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  try {
    // noAsyncTraces: nats.js otherwise captures a stack trace (new Error()) for every request and JetStream
    // publish, one of the largest costs of a verdict's publish; our errors name their cause without it.
    return await connect({ noAsyncTraces: true, ...options, ...natsSecurityOptions(settings), servers: settings.servers, name: settings.name });
  } catch (error) {
    if (isNatsAuthError(error)) {
      const method = settings.natsCredsFile ? 'creds file' : settings.natsToken ? 'token' : settings.natsUser ? `user '${settings.natsUser}' and password` : 'no credentials';
      throw new QuicksilverError('NATS_AUTH_FAILED', `NATS at ${settings.servers.join(',')} refused the connection (${(error as Error).message}): check the configured ${method} (natsUser/natsPassword, natsToken or natsCredsFile)`);
    }
    if (error instanceof QuicksilverError) throw error;
    throw new QuicksilverError('UNAVAILABLE', `cannot connect to NATS at ${settings.servers.join(',')}: ${(error as Error).message}`, { cause: error });
  }
}

export interface BackgroundConnectOptions {
  /** Pause between attempts; also NATS's own reconnect wait once connected. */
  retryMs: number;
  /** True once the owner stops: no more attempts, and a connection made meanwhile is closed. */
  isStopped(): boolean;
  /** Called with each failed attempt's error (for the owner's log line) before the next try. */
  onRetry(error: Error): void;
  onConnected(connection: NatsConnection): Promise<void> | void;
  /** A refused credential on the first attempt is thrown instead of retried (fail at start on a bad config). */
  failFastOnAuth?: boolean;
}

/**
 * Connects now, or keeps trying every retryMs in the background until it connects or the owner
 * stops (NATS need not be up for a process to start). `firstAttempt` settles after the first try.
 */
export function connectNatsInBackground(settings: NatsConnectSettings & { servers: string[]; name: string }, options: BackgroundConnectOptions): { firstAttempt: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const attempt = async (first: boolean): Promise<void> => {
    if (options.isStopped()) return;
    let connection: NatsConnection;
    try {
      connection = await connectNats(settings, { maxReconnectAttempts: -1, reconnectTimeWait: options.retryMs });
    } catch (error) {
      if (first && options.failFastOnAuth && error instanceof QuicksilverError && error.code === 'NATS_AUTH_FAILED') throw error;
      options.onRetry(error as Error);
      timer = setTimeout(() => void attempt(false), options.retryMs);
      return;
    }
    if (options.isStopped()) {
      await connection.close();
      return;
    }
    await options.onConnected(connection);
  };
  return { firstAttempt: attempt(true), cancel: () => clearTimeout(timer) };
}
