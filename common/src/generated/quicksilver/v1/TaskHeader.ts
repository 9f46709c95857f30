// Original file: proto/quicksilver/v1/worker.proto

import type { Priority as _quicksilver_v1_Priority, Priority__Output as _quicksilver_v1_Priority__Output } from '../../quicksilver/v1/Priority.js';
import type { Long } from '@grpc/proto-loader';

/**
 * Starts a task; the image bytes follow in TaskChunk messages (each at most 1 MiB).
 */
export interface TaskHeader {
  'taskId'?: (string);
  'idempotencyKey'?: (string);
  'modelName'?: (string);
  'contentType'?: (string);
  'sizeBytes'?: (number | string | Long);
  'sha256'?: (string);
  'fileName'?: (string);
  /**
   * Realtime tasks go ahead of bulk ones in the worker's decode queue.
   */
  'priority'?: (_quicksilver_v1_Priority);
}

/**
 * Starts a task; the image bytes follow in TaskChunk messages (each at most 1 MiB).
 */
export interface TaskHeader__Output {
  'taskId': (string);
  'idempotencyKey': (string);
  'modelName': (string);
  'contentType': (string);
  'sizeBytes': (number);
  'sha256': (string);
  'fileName': (string);
  /**
   * Realtime tasks go ahead of bulk ones in the worker's decode queue.
   */
  'priority': (_quicksilver_v1_Priority__Output);
}
