// Config fields for transport security, shared by the process schemas (spread into their flat
// zod objects). Paths point at PEM files or secret files; secrets themselves never go on a command
// line (use a file or the environment). See docs/security.md.
import { z } from 'zod';

const path = (description: string) => z.string().default('').describe(description);

/** A gRPC client of the coordinator (agent, worker). */
export const clientSecurityFields = {
  tlsCaFile: path("PEM CA bundle that signs the coordinator's certificate; set = TLS, '' = plaintext (insecure, logged as a warning)"),
  tlsCertFile: path("PEM client certificate for mutual TLS, CN \"station:<id>\" or \"worker:<id>\" ('' = none)"),
  tlsKeyFile: path("PEM private key of tlsCertFile ('' = none)"),
  tlsServerName: path("name expected in the coordinator's certificate when it differs from the address host ('' = the host)"),
  authTokenFile: path("file holding this process's bearer token for the coordinator ('' = none)"),
};

/** The coordinator's gRPC server and who may call it. */
export const serverSecurityFields = {
  tlsCertFile: path("PEM certificate chain of the gRPC server; set (with tlsKeyFile) = TLS, '' = plaintext"),
  tlsKeyFile: path("PEM private key of tlsCertFile"),
  tlsClientCaFile: path("PEM CA bundle that signs client certificates; set = mutual TLS (a verified certificate identifies its station or worker)"),
  authTokensFile: path("JSON token file {\"stations\":{id:token},\"workers\":{id:token}}; set = callers need a token or a verified client certificate"),
  allowInsecure: z.boolean().default(false)
    .describe('allow plaintext or unauthenticated gRPC on a non-loopback address (a trusted network only); loopback is always allowed, with a warning'),
};

/** A NATS client (user/password, token or a .creds file; TLS options passed through). */
export const natsSecurityFields = {
  natsUser: z.string().default('').describe("NATS user name ('' = none)"),
  natsPassword: z.string().default('').describe("NATS password; prefer the environment variable over a flag ('' = none)"),
  natsToken: z.string().default('').describe("NATS authentication token; prefer the environment variable over a flag ('' = none)"),
  natsCredsFile: path("NATS .creds file (JWT + NKey seed) for decentralized auth ('' = none)"),
  natsTlsCaFile: path("PEM CA bundle that signs the NATS server certificate; set = TLS to NATS"),
  natsTlsCertFile: path("PEM client certificate for NATS mutual TLS ('' = none)"),
  natsTlsKeyFile: path("PEM private key of natsTlsCertFile ('' = none)"),
};

export type ClientSecuritySettings = { [K in keyof typeof clientSecurityFields]: string };
export type NatsSecuritySettings = { [K in keyof typeof natsSecurityFields]: string };

/** True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackAddress(hostPort: string): boolean {
  const host = hostPort.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
