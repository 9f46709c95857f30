// Original file: proto/quicksilver/v1/feedback.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { FeedbackReply as _quicksilver_v1_FeedbackReply, FeedbackReply__Output as _quicksilver_v1_FeedbackReply__Output } from '../../quicksilver/v1/FeedbackReply.js';
import type { FeedbackRequest as _quicksilver_v1_FeedbackRequest, FeedbackRequest__Output as _quicksilver_v1_FeedbackRequest__Output } from '../../quicksilver/v1/FeedbackRequest.js';

export interface FeedbackClient extends grpc.Client {
  /**
   * Joins the truth to its verdict (by idempotency key, else the latest verdict for the barcode)
   * and counts it per model version and station. INVALID_ARGUMENT for a malformed request,
   * NOT_FOUND when no verdict matches, ALREADY_EXISTS when the verdict already has feedback.
   */
  Submit(argument: _quicksilver_v1_FeedbackRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_quicksilver_v1_FeedbackReply__Output>): grpc.ClientUnaryCall;
  Submit(argument: _quicksilver_v1_FeedbackRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_quicksilver_v1_FeedbackReply__Output>): grpc.ClientUnaryCall;
  Submit(argument: _quicksilver_v1_FeedbackRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_quicksilver_v1_FeedbackReply__Output>): grpc.ClientUnaryCall;
  Submit(argument: _quicksilver_v1_FeedbackRequest, callback: grpc.requestCallback<_quicksilver_v1_FeedbackReply__Output>): grpc.ClientUnaryCall;
  /**
   * Joins the truth to its verdict (by idempotency key, else the latest verdict for the barcode)
   * and counts it per model version and station. INVALID_ARGUMENT for a malformed request,
   * NOT_FOUND when no verdict matches, ALREADY_EXISTS when the verdict already has feedback.
   */
  submit(argument: _quicksilver_v1_FeedbackRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_quicksilver_v1_FeedbackReply__Output>): grpc.ClientUnaryCall;
  submit(argument: _quicksilver_v1_FeedbackRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_quicksilver_v1_FeedbackReply__Output>): grpc.ClientUnaryCall;
  submit(argument: _quicksilver_v1_FeedbackRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_quicksilver_v1_FeedbackReply__Output>): grpc.ClientUnaryCall;
  submit(argument: _quicksilver_v1_FeedbackRequest, callback: grpc.requestCallback<_quicksilver_v1_FeedbackReply__Output>): grpc.ClientUnaryCall;
  
}

export interface FeedbackHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Joins the truth to its verdict (by idempotency key, else the latest verdict for the barcode)
   * and counts it per model version and station. INVALID_ARGUMENT for a malformed request,
   * NOT_FOUND when no verdict matches, ALREADY_EXISTS when the verdict already has feedback.
   */
  Submit: grpc.handleUnaryCall<_quicksilver_v1_FeedbackRequest__Output, _quicksilver_v1_FeedbackReply>;
  
}

export interface FeedbackDefinition extends grpc.ServiceDefinition {
  Submit: MethodDefinition<_quicksilver_v1_FeedbackRequest, _quicksilver_v1_FeedbackReply, _quicksilver_v1_FeedbackRequest__Output, _quicksilver_v1_FeedbackReply__Output>
}
