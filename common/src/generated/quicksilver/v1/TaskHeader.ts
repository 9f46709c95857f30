// Original file: proto/quicksilver/v1/worker.proto

import type { Priority as _quicksilver_v1_Priority, Priority__Output as _quicksilver_v1_Priority__Output } from '../../quicksilver/v1/Priority.js';
import type { Long } from '@grpc/proto-loader';

/**
 * Starts a task; the image bytes follow in TaskChunk messages (each at most 1 MiB), unless image_uri
 * is set: then none follow and the worker reads the image there.
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
  /**
   * Where the worker reads the image (ImageHeader.image_uri): it must lie under the worker's
   * referenceAllowedRoots or referenceAllowedUrlPrefixes and match size_bytes and sha256, else the
   * task fails with IMAGE_REFERENCE_UNREADABLE (retryable: the agent then sends the bytes). Sent only
   * to workers that registered with reads_image_references.
   */
  'imageUri'?: (string);
}

/**
 * Starts a task; the image bytes follow in TaskChunk messages (each at most 1 MiB), unless image_uri
 * is set: then none follow and the worker reads the image there.
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
  /**
   * Where the worker reads the image (ImageHeader.image_uri): it must lie under the worker's
   * referenceAllowedRoots or referenceAllowedUrlPrefixes and match size_bytes and sha256, else the
   * task fails with IMAGE_REFERENCE_UNREADABLE (retryable: the agent then sends the bytes). Sent only
   * to workers that registered with reads_image_references.
   */
  'imageUri': (string);
}
