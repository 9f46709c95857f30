// Who may talk to the coordinator: stations (Inspect), workers (WorkerLink) and curators (Feedback:
// ground truth that moves the accuracy gauges, so it needs an identity too). A caller proves its
// identity with a bearer token from the token file, or with a client certificate (mutual TLS) whose
// subject CN is "<role>:<id>" (e.g. "station:conveyor-1", "worker:gpu-a"). Transport-free: the gRPC
// adapter hands in the token and the verified certificate's CN.
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { readJsonFile } from './config.js';
import { QuicksilverError } from './errors.js';

export type Role = 'station' | 'worker' | 'curator';
export interface Principal {
  role: Role;
  id: string;
  /** How the identity was proven. */
  via: 'token' | 'certificate' | 'none';
}

const ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * A worker with `bulkProcess` runs its bulk work in a child process that registers as a worker of its own,
 * `<worker id>` + this suffix, with the parent's credential: a worker's credential covers that id too.
 */
export const BULK_PROCESS_ID_SUFFIX = '-bulk';
const TOKEN = z.string().min(16, 'tokens must be at least 16 characters');

/** The token file: `{ "stations": { "<station id>": "<token>" }, "workers": { "<worker id>": "<token>" }, "curators": { "<curator id>": "<token>" } }`. */
export const TokenFileSchema = z.object({
  stations: z.record(z.string().regex(ID), TOKEN).default({}),
  workers: z.record(z.string().regex(ID), TOKEN).default({}),
  curators: z.record(z.string().regex(ID), TOKEN).default({}),
}).strict();

/** Why a caller was refused; the label of quicksilver_coordinator_auth_failures_total. */
export type AuthFailureReason = 'missing_credentials' | 'invalid_token' | 'wrong_role' | 'identity_mismatch' | 'invalid_certificate_identity';

export class AuthError extends QuicksilverError {
  constructor(readonly reason: AuthFailureReason, message: string) {
    super(reason === 'wrong_role' || reason === 'identity_mismatch' ? 'PERMISSION_DENIED' : 'UNAUTHENTICATED', message);
  }
}

interface TokenEntry {
  principal: Principal;
  digest: Buffer;
}

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

export interface AccessPolicyOptions {
  /** Token file contents (already parsed); undefined = no tokens accepted. */
  tokens?: z.infer<typeof TokenFileSchema>;
  /** Client certificates are verified by TLS (mutual TLS): their CN names the caller. */
  clientCertificates: boolean;
}

export class AccessPolicy {
  private readonly entries: TokenEntry[] = [];

  constructor(private readonly options: AccessPolicyOptions) {
    for (const [id, token] of Object.entries(options.tokens?.stations ?? {})) this.entries.push({ principal: { role: 'station', id, via: 'token' }, digest: digest(token) });
    for (const [id, token] of Object.entries(options.tokens?.workers ?? {})) this.entries.push({ principal: { role: 'worker', id, via: 'token' }, digest: digest(token) });
    for (const [id, token] of Object.entries(options.tokens?.curators ?? {})) this.entries.push({ principal: { role: 'curator', id, via: 'token' }, digest: digest(token) });
  }

  /** Reads and validates a token file; a bad file is a CONFIG_INVALID naming it. */
  static readTokenFile(path: string): z.infer<typeof TokenFileSchema> {
    const raw = readJsonFile(path, 'token file');
    const parsed = TokenFileSchema.safeParse(raw);
    if (!parsed.success) {
      // Never echo values: they are secrets.
      throw new QuicksilverError('CONFIG_INVALID', `token file ${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return parsed.data;
  }

  /** True when callers must prove who they are (a token file or mutual TLS is configured). */
  get enforced(): boolean {
    return this.options.tokens !== undefined || this.options.clientCertificates;
  }

  /**
   * Identifies a caller that needs `role`. `authorization` is the raw metadata value ("Bearer <token>");
   * `certificateCn` the CN of the client certificate TLS verified (undefined without mutual TLS).
   */
  authenticate(role: Role, credentials: { authorization?: string; certificateCn?: string }): Principal {
    if (!this.enforced) return { role, id: '', via: 'none' };
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(credentials.authorization ?? '')?.[1];
    let principal: Principal | undefined;
    if (bearer !== undefined) {
      if (this.options.tokens === undefined) throw new AuthError('invalid_token', 'a bearer token was sent but this coordinator accepts no tokens (no token file)');
      principal = this.lookup(bearer);
      if (!principal) throw new AuthError('invalid_token', 'the bearer token is not valid');
    } else if (credentials.certificateCn !== undefined && this.options.clientCertificates) {
      const match = /^(station|worker|curator):([A-Za-z0-9._:-]{1,128})$/.exec(credentials.certificateCn);
      if (!match) throw new AuthError('invalid_certificate_identity', `client certificate CN '${credentials.certificateCn}' is not "station:<id>", "worker:<id>" or "curator:<id>"`);
      principal = { role: match[1] as Role, id: match[2]!, via: 'certificate' };
    } else {
      throw new AuthError('missing_credentials', `no credentials: send 'authorization: Bearer <token>' metadata${this.options.clientCertificates ? " or a client certificate signed by the coordinator's client CA (an untrusted certificate counts as none)" : ''}`);
    }
    if (principal.role !== role) throw new AuthError('wrong_role', `a ${principal.role} credential (${principal.id}) cannot be used as a ${role}`);
    return principal;
  }

  /** Checks that what the caller claims (station id in a header, worker id in Register) is its own (a worker's: or its bulk process's). */
  authorize(principal: Principal, claimedId: string): void {
    if (principal.via === 'none' || principal.id === claimedId) return;
    if (principal.role === 'worker' && claimedId === `${principal.id}${BULK_PROCESS_ID_SUFFIX}`) return;
    throw new AuthError('identity_mismatch', `${principal.role} '${principal.id}' may not act as ${principal.role} '${claimedId}'`);
  }

  /** Constant time in the token and in which entry matches: every entry is compared. */
  private lookup(token: string): Principal | undefined {
    const presented = digest(token);
    let found: Principal | undefined;
    for (const entry of this.entries) if (timingSafeEqual(entry.digest, presented) && !found) found = entry.principal;
    return found;
  }
}
