// Original file: proto/quicksilver/v1/inspection.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { InspectRequest as _quicksilver_v1_InspectRequest, InspectRequest__Output as _quicksilver_v1_InspectRequest__Output } from '../../quicksilver/v1/InspectRequest.js';
import type { InspectResponse as _quicksilver_v1_InspectResponse, InspectResponse__Output as _quicksilver_v1_InspectResponse__Output } from '../../quicksilver/v1/InspectResponse.js';

/**
 * One long-lived bidirectional stream per station. Several images may be in flight on
 * the same stream; every message names the image it belongs to by its idempotency key.
 */
export interface InspectionClient extends grpc.Client {
  /**
   * Client stream, per image: one ImageHeader, then ImageChunk messages in order
   * (offset 0..size, each at most 1 MiB of data; the last one has last = true). An image sent
   * by reference (ImageHeader.image_uri set) is its header alone.
   * Server stream, per image: Accepted once the header is valid, then exactly one
   * Verdict or one Rejection.
   */
  Inspect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_quicksilver_v1_InspectRequest, _quicksilver_v1_InspectResponse__Output>;
  Inspect(options?: grpc.CallOptions): grpc.ClientDuplexStream<_quicksilver_v1_InspectRequest, _quicksilver_v1_InspectResponse__Output>;
  /**
   * Client stream, per image: one ImageHeader, then ImageChunk messages in order
   * (offset 0..size, each at most 1 MiB of data; the last one has last = true). An image sent
   * by reference (ImageHeader.image_uri set) is its header alone.
   * Server stream, per image: Accepted once the header is valid, then exactly one
   * Verdict or one Rejection.
   */
  inspect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_quicksilver_v1_InspectRequest, _quicksilver_v1_InspectResponse__Output>;
  inspect(options?: grpc.CallOptions): grpc.ClientDuplexStream<_quicksilver_v1_InspectRequest, _quicksilver_v1_InspectResponse__Output>;
  
}

/**
 * One long-lived bidirectional stream per station. Several images may be in flight on
 * the same stream; every message names the image it belongs to by its idempotency key.
 */
export interface InspectionHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Client stream, per image: one ImageHeader, then ImageChunk messages in order
   * (offset 0..size, each at most 1 MiB of data; the last one has last = true). An image sent
   * by reference (ImageHeader.image_uri set) is its header alone.
   * Server stream, per image: Accepted once the header is valid, then exactly one
   * Verdict or one Rejection.
   */
  Inspect: grpc.handleBidiStreamingCall<_quicksilver_v1_InspectRequest__Output, _quicksilver_v1_InspectResponse>;
  
}

export interface InspectionDefinition extends grpc.ServiceDefinition {
  Inspect: MethodDefinition<_quicksilver_v1_InspectRequest, _quicksilver_v1_InspectResponse, _quicksilver_v1_InspectRequest__Output, _quicksilver_v1_InspectResponse__Output>
}
