// Loads the .proto contracts at runtime with exactly the options the committed types were
// generated with (proto/loader-options.json), and exposes typed service constructors.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readFileSync } from 'node:fs';
import type * as http2 from 'node:http2';
import { join } from 'node:path';
import type { ProtoGrpcType as InspectionProto } from '../generated/inspection.js';
import type { ProtoGrpcType as WorkerProto } from '../generated/worker.js';
import type { ProtoGrpcType as FeedbackProto } from '../generated/feedback.js';
import { repoRoot } from '../paths.js';
import { ERROR_CODES, QuicksilverError, isErrorCode } from '../errors.js';

const root = join(repoRoot(), 'proto');
// The JSON names the conversion types ("Number", "String"); the loader wants the constructors.
const fileOptions = JSON.parse(readFileSync(`${root}/loader-options.json`, 'utf8')) as Record<string, unknown>;
const conversion = (name: unknown) => (name === 'String' ? String : name === 'Number' ? Number : undefined);
const loaderOptions: protoLoader.Options = {
  ...fileOptions,
  longs: conversion(fileOptions.longs),
  enums: conversion(fileOptions.enums),
  includeDirs: [root],
};

function load<T>(file: string): T {
  return grpc.loadPackageDefinition(protoLoader.loadSync(file, loaderOptions)) as unknown as T;
}

export const inspectionProto = load<InspectionProto>('quicksilver/v1/inspection.proto').quicksilver.v1;
export const workerProto = load<WorkerProto>('quicksilver/v1/worker.proto').quicksilver.v1;
export const feedbackProto = load<FeedbackProto>('quicksilver/v1/feedback.proto').quicksilver.v1;

/** Largest gRPC message accepted or sent; chunks are 1 MiB, so 4 MiB leaves headroom. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Size of the data in one ImageChunk / TaskChunk. */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * HTTP/2 flow-control window, per stream and per connection, that every client and server advertises.
 * Node's default (64 KiB) makes each 1 MiB chunk wait for WINDOW_UPDATE round trips through both
 * event loops: measured on loopback, a ~0.5 MB image costs ~1.1 CPU ms per hop with it and ~0.5–0.8 ms
 * with megabyte windows. It also bounds what one connection can hold unread.
 */
export const HTTP2_WINDOW_BYTES = 8 * 1024 * 1024;

export const channelOptions: grpc.ChannelOptions = {
  'grpc-node.flow_control_window': HTTP2_WINDOW_BYTES,
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
};

/**
 * Binds a server and widens the flow-control window of every connection it accepts. grpc-js 1.14 applies
 * 'grpc-node.flow_control_window' on clients only (grpc/grpc-node#3058 adds it to servers), so the
 * sessions are reached through the server's http2 listeners; a test checks the advertised window.
 */
export async function bindServer(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  const listeners = (server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
  if (!(listeners instanceof Map)) throw new Error('grpc-js internals changed: cannot widen the server\'s HTTP/2 window (see bindServer)');
  for (const listener of listeners.keys()) {
    listener.on('session', (session: http2.ServerHttp2Session) => {
      session.settings({ initialWindowSize: HTTP2_WINDOW_BYTES });
      session.setLocalWindowSize(HTTP2_WINDOW_BYTES);
    });
  }
  return port;
}

/** Maps a QuicksilverError to a gRPC status error at the transport boundary. */
export function toGrpcError(error: QuicksilverError): grpc.ServiceError {
  const status = grpc.status[ERROR_CODES[error.code].grpc];
  const metadata = new grpc.Metadata();
  metadata.set('quicksilver-error-code', error.code);
  return Object.assign(new Error(`${error.code}: ${error.message}`), { code: status, details: `${error.code}: ${error.message}`, metadata });
}

/** Reads a gRPC status error back into a QuicksilverError (code from metadata when present). */
export function fromGrpcError(error: grpc.ServiceError): QuicksilverError {
  const code = String(error.metadata?.get('quicksilver-error-code')[0] ?? '');
  if (isErrorCode(code)) return new QuicksilverError(code, error.details.replace(/^[A-Z_]+: /, ''));
  if (error.code === grpc.status.UNAVAILABLE && /certificate|ssl|tls|altnames|handshake/i.test(error.details)) {
    return new QuicksilverError('TLS_HANDSHAKE_FAILED',
      `TLS handshake with the server failed: ${error.details} (check tlsCaFile, tlsServerName and the server and client certificates; docs/security.md)`);
  }
  const transient = [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED, grpc.status.CANCELLED];
  return new QuicksilverError(transient.includes(error.code) ? 'UNAVAILABLE' : 'INTERNAL', `gRPC ${grpc.status[error.code]}: ${error.details}`, {
    retryable: transient.includes(error.code),
  });
}

export { grpc };
