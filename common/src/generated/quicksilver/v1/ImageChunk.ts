// Original file: proto/quicksilver/v1/inspection.proto

import type { Long } from '@grpc/proto-loader';

export interface ImageChunk {
  'idempotencyKey'?: (string);
  /**
   * Byte offset of data within the image; chunks arrive in order without gaps.
   */
  'offset'?: (number | string | Long);
  'data'?: (Buffer | Uint8Array | string);
  'last'?: (boolean);
}

export interface ImageChunk__Output {
  'idempotencyKey': (string);
  /**
   * Byte offset of data within the image; chunks arrive in order without gaps.
   */
  'offset': (number);
  'data': (Buffer);
  'last': (boolean);
}
