// Original file: proto/quicksilver/v1/worker.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CoordinatorMessage as _quicksilver_v1_CoordinatorMessage, CoordinatorMessage__Output as _quicksilver_v1_CoordinatorMessage__Output } from '../../quicksilver/v1/CoordinatorMessage.js';
import type { WorkerMessage as _quicksilver_v1_WorkerMessage, WorkerMessage__Output as _quicksilver_v1_WorkerMessage__Output } from '../../quicksilver/v1/WorkerMessage.js';

export interface WorkerLinkClient extends grpc.Client {
  /**
   * The worker opens the stream and sends Register first; the coordinator answers
   * Registered, then sends tasks. The worker returns one TaskResult per task and a
   * Heartbeat every heartbeat_interval_ms. When the stream ends, the coordinator
   * re-dispatches the worker's unfinished tasks.
   * 
   * Once registered, the worker opens a second Connect stream and sends AttachExpress
   * first: the coordinator then sends realtime (conveyor) tasks on it, so they never queue
   * behind bulk image bytes on the main stream. Results may return on either stream. The
   * loss of either stream counts as the loss of the worker.
   */
  Connect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_quicksilver_v1_WorkerMessage, _quicksilver_v1_CoordinatorMessage__Output>;
  Connect(options?: grpc.CallOptions): grpc.ClientDuplexStream<_quicksilver_v1_WorkerMessage, _quicksilver_v1_CoordinatorMessage__Output>;
  /**
   * The worker opens the stream and sends Register first; the coordinator answers
   * Registered, then sends tasks. The worker returns one TaskResult per task and a
   * Heartbeat every heartbeat_interval_ms. When the stream ends, the coordinator
   * re-dispatches the worker's unfinished tasks.
   * 
   * Once registered, the worker opens a second Connect stream and sends AttachExpress
   * first: the coordinator then sends realtime (conveyor) tasks on it, so they never queue
   * behind bulk image bytes on the main stream. Results may return on either stream. The
   * loss of either stream counts as the loss of the worker.
   */
  connect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_quicksilver_v1_WorkerMessage, _quicksilver_v1_CoordinatorMessage__Output>;
  connect(options?: grpc.CallOptions): grpc.ClientDuplexStream<_quicksilver_v1_WorkerMessage, _quicksilver_v1_CoordinatorMessage__Output>;
  
}

export interface WorkerLinkHandlers extends grpc.UntypedServiceImplementation {
  /**
   * The worker opens the stream and sends Register first; the coordinator answers
   * Registered, then sends tasks. The worker returns one TaskResult per task and a
   * Heartbeat every heartbeat_interval_ms. When the stream ends, the coordinator
   * re-dispatches the worker's unfinished tasks.
   * 
   * Once registered, the worker opens a second Connect stream and sends AttachExpress
   * first: the coordinator then sends realtime (conveyor) tasks on it, so they never queue
   * behind bulk image bytes on the main stream. Results may return on either stream. The
   * loss of either stream counts as the loss of the worker.
   */
  Connect: grpc.handleBidiStreamingCall<_quicksilver_v1_WorkerMessage__Output, _quicksilver_v1_CoordinatorMessage>;
  
}

export interface WorkerLinkDefinition extends grpc.ServiceDefinition {
  Connect: MethodDefinition<_quicksilver_v1_WorkerMessage, _quicksilver_v1_CoordinatorMessage, _quicksilver_v1_WorkerMessage__Output, _quicksilver_v1_CoordinatorMessage__Output>
}
