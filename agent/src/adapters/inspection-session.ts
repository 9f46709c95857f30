// One Inspect stream (bidirectional gRPC call). Backpressure: send() resolves only once grpc-js has
// consumed the message (its write callback: serialized and handed to HTTP/2, which applies the
// peer's flow control) and, when write() returned false, after 'drain'. So one message at a time is
// in the transport and a large image never piles up in memory. Closes exactly once, with a typed error.
import type { InspectRequest } from '../../../common/src/generated/quicksilver/v1/InspectRequest.js';
import type { InspectResponse__Output } from '../../../common/src/generated/quicksilver/v1/InspectResponse.js';
import { QuicksilverError } from '../../../common/src/errors.js';
import { fromGrpcError, type grpc } from '../../../common/src/adapters/grpc-services.js';
import type { InspectRequestSink } from '../image-sender.js';

export interface InspectionSessionHandlers {
  onResponse(response: InspectResponse__Output): void;
  /** Called once when the stream is gone (peer error, peer end, or close()). */
  onClosed(error: QuicksilverError): void;
}

type InspectCall = grpc.ClientDuplexStream<InspectRequest, InspectResponse__Output>;

export class InspectionSession implements InspectRequestSink {
  private closedWith: QuicksilverError | undefined;
  private writeBufferFull = false;
  private waiters: Array<() => boolean> = [];

  constructor(
    private readonly call: InspectCall,
    private readonly handlers: InspectionSessionHandlers,
  ) {
    call.on('data', (response: InspectResponse__Output) => {
      if (!this.closedWith) handlers.onResponse(response);
    });
    call.on('drain', () => {
      this.writeBufferFull = false;
      this.wakeWaiters();
    });
    call.on('error', (error: grpc.ServiceError) => this.finish(fromGrpcError(error)));
    call.on('end', () => this.finish(new QuicksilverError('UNAVAILABLE', 'the coordinator ended the stream')));
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  send(message: InspectRequest): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    let consumed = false;
    const room = this.call.write(message, () => {
      consumed = true;
      this.wakeWaiters();
    });
    if (!room) this.writeBufferFull = true;
    return new Promise<void>((resolve, reject) => {
      const settle = (): boolean => {
        if (this.closedWith) reject(this.closedWith);
        else if (consumed && !this.writeBufferFull) resolve();
        else return false;
        return true;
      };
      if (!settle()) this.waiters.push(settle);
    });
  }

  /** Ends the stream (idempotent); `reason` is what onClosed reports. */
  close(reason = new QuicksilverError('UNAVAILABLE', 'stream closed by the agent')): void {
    if (this.closedWith) return;
    this.finish(reason);
    this.call.end();
    this.call.cancel();
  }

  private finish(error: QuicksilverError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.wakeWaiters();
    this.handlers.onClosed(error);
  }

  private wakeWaiters(): void {
    this.waiters = this.waiters.filter((settle) => !settle());
  }
}
