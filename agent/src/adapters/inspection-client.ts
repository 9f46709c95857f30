// gRPC client of the coordinator's Inspection service. The channel's own reconnect backoff is
// capped like the agent's, so a coordinator that comes back is reached within reconnectMaxDelayMs.
import { QuicksilverError } from '../../../common/src/errors.js';
import type { InspectionClient as InspectionStub } from '../../../common/src/generated/quicksilver/v1/Inspection.js';
import { channelOptions, inspectionProto } from '../../../common/src/adapters/grpc-services.js';
import { clientSecurity, type ClientSecurity } from '../../../common/src/adapters/grpc-security.js';
import type { Logger } from '../../../common/src/logger.js';
import type { ClientSecuritySettings } from '../../../common/src/security-config.js';
import { InspectionSession, type InspectionSessionHandlers } from './inspection-session.js';

export class InspectionClient {
  private readonly stub: InspectionStub;
  private readonly security: ClientSecurity;

  /** TLS, client certificate and bearer token from the settings (docs/security.md); plaintext is logged as a warning. */
  constructor(address: string, options: ClientSecuritySettings & { reconnectBaseDelayMs: number; reconnectMaxDelayMs: number; logger: Logger }) {
    this.security = clientSecurity(options, options.logger, 'agent');
    this.stub = new inspectionProto.Inspection(address, this.security.credentials, {
      ...channelOptions,
      ...this.security.channelOptions,
      'grpc.initial_reconnect_backoff_ms': options.reconnectBaseDelayMs,
      'grpc.max_reconnect_backoff_ms': options.reconnectMaxDelayMs,
      // A fresh subchannel per agent: never inherit another client's long backoff.
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  /** Opens a new Inspect stream; messages written before the channel connects are buffered. */
  openSession(handlers: InspectionSessionHandlers): InspectionSession {
    try {
      return new InspectionSession(this.stub.Inspect(this.security.callMetadata()), handlers);
    } catch (error) {
      throw new QuicksilverError('UNAVAILABLE', `cannot open the Inspect stream: ${(error as Error).message}`, { cause: error });
    }
  }

  close(): void {
    this.stub.close();
  }
}

export { CHUNK_BYTES } from '../../../common/src/adapters/grpc-services.js';
