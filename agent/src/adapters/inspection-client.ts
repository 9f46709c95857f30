// gRPC client of the coordinator's Inspection service. The channel's own reconnect backoff is
// capped like the agent's, so a coordinator that comes back is reached within reconnectMaxDelayMs.
import { QuicksilverError } from '../../../common/src/errors.js';
import type { InspectionClient as InspectionStub } from '../../../common/src/generated/quicksilver/v1/Inspection.js';
import { channelOptions, grpc, inspectionProto } from '../../../common/src/adapters/grpc-services.js';
import { InspectionSession, type InspectionSessionHandlers } from './inspection-session.js';

export class InspectionClient {
  private readonly stub: InspectionStub;

  constructor(address: string, options: { reconnectBaseDelayMs: number; reconnectMaxDelayMs: number }) {
    this.stub = new inspectionProto.Inspection(address, grpc.credentials.createInsecure(), {
      ...channelOptions,
      'grpc.initial_reconnect_backoff_ms': options.reconnectBaseDelayMs,
      'grpc.max_reconnect_backoff_ms': options.reconnectMaxDelayMs,
      // A fresh subchannel per agent: never inherit another client's long backoff.
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  /** Opens a new Inspect stream; messages written before the channel connects are buffered. */
  openSession(handlers: InspectionSessionHandlers): InspectionSession {
    try {
      return new InspectionSession(this.stub.Inspect(), handlers);
    } catch (error) {
      throw new QuicksilverError('UNAVAILABLE', `cannot open the Inspect stream: ${(error as Error).message}`, { cause: error });
    }
  }

  close(): void {
    this.stub.close();
  }
}

export { CHUNK_BYTES } from '../../../common/src/adapters/grpc-services.js';
