// Original file: proto/quicksilver/v1/inspection.proto

import type { Priority as _quicksilver_v1_Priority, Priority__Output as _quicksilver_v1_Priority__Output } from '../../quicksilver/v1/Priority.js';
import type { Long } from '@grpc/proto-loader';

/**
 * Metadata sent before the bytes of an image.
 */
export interface ImageHeader {
  /**
   * Client-generated key, unique per image (e.g. station id + SHA-256); a resend of the same
   * key is the same image. 1..128 chars of [A-Za-z0-9._:-].
   */
  'idempotencyKey'?: (string);
  /**
   * Scanner station that captured the image, [A-Za-z0-9_-]{1,64}.
   */
  'stationId'?: (string);
  /**
   * Specimen barcode or catalog number when the station knows it; may be empty.
   */
  'barcode'?: (string);
  /**
   * Capture time, RFC 3339 (e.g. 2026-11-27T10:15:00Z).
   */
  'captureTime'?: (string);
  /**
   * image/jpeg, image/tiff or image/png.
   */
  'contentType'?: (string);
  /**
   * Total size of the image in bytes (> 0).
   */
  'sizeBytes'?: (number | string | Long);
  /**
   * Lower-case hex SHA-256 of the whole image; the coordinator verifies it.
   */
  'sha256'?: (string);
  /**
   * Original file name, for logs and reports (a base name: no directory parts).
   */
  'fileName'?: (string);
  /**
   * Model to run; empty means the coordinator's default model.
   */
  'modelName'?: (string);
  /**
   * Scheduling class; unspecified means REALTIME (a conveyor waiting for its flag).
   */
  'priority'?: (_quicksilver_v1_Priority);
  /**
   * Set to send the image by reference: where workers read it (an absolute path or file:// URL on
   * storage the workers mount, or an http(s) URL), under a worker's referenceAllowedRoots or
   * referenceAllowedUrlPrefixes. No ImageChunk follows; the worker checks size_bytes and sha256
   * against what it reads. When no worker can read it, the answer is a retryable Rejection
   * IMAGE_REFERENCE_UNREADABLE and the agent sends the bytes instead. Empty: the bytes follow.
   */
  'imageUri'?: (string);
}

/**
 * Metadata sent before the bytes of an image.
 */
export interface ImageHeader__Output {
  /**
   * Client-generated key, unique per image (e.g. station id + SHA-256); a resend of the same
   * key is the same image. 1..128 chars of [A-Za-z0-9._:-].
   */
  'idempotencyKey': (string);
  /**
   * Scanner station that captured the image, [A-Za-z0-9_-]{1,64}.
   */
  'stationId': (string);
  /**
   * Specimen barcode or catalog number when the station knows it; may be empty.
   */
  'barcode': (string);
  /**
   * Capture time, RFC 3339 (e.g. 2026-11-27T10:15:00Z).
   */
  'captureTime': (string);
  /**
   * image/jpeg, image/tiff or image/png.
   */
  'contentType': (string);
  /**
   * Total size of the image in bytes (> 0).
   */
  'sizeBytes': (number);
  /**
   * Lower-case hex SHA-256 of the whole image; the coordinator verifies it.
   */
  'sha256': (string);
  /**
   * Original file name, for logs and reports (a base name: no directory parts).
   */
  'fileName': (string);
  /**
   * Model to run; empty means the coordinator's default model.
   */
  'modelName': (string);
  /**
   * Scheduling class; unspecified means REALTIME (a conveyor waiting for its flag).
   */
  'priority': (_quicksilver_v1_Priority__Output);
  /**
   * Set to send the image by reference: where workers read it (an absolute path or file:// URL on
   * storage the workers mount, or an http(s) URL), under a worker's referenceAllowedRoots or
   * referenceAllowedUrlPrefixes. No ImageChunk follows; the worker checks size_bytes and sha256
   * against what it reads. When no worker can read it, the answer is a retryable Rejection
   * IMAGE_REFERENCE_UNREADABLE and the agent sends the bytes instead. Empty: the bytes follow.
   */
  'imageUri': (string);
}
