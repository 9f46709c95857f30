// Original file: proto/quicksilver/v1/inspection.proto


/**
 * Final answer for an image that got no verdict.
 */
export interface Rejection {
  'idempotencyKey'?: (string);
  /**
   * Stable machine-readable code, e.g. IMAGE_CORRUPT, UNSUPPORTED_FORMAT, CHECKSUM_MISMATCH
   * (docs list them all).
   */
  'code'?: (string);
  /**
   * Human-readable reason naming the cause.
   */
  'reason'?: (string);
  /**
   * True when sending the same image again later may succeed (e.g. no worker available).
   */
  'retryable'?: (boolean);
}

/**
 * Final answer for an image that got no verdict.
 */
export interface Rejection__Output {
  'idempotencyKey': (string);
  /**
   * Stable machine-readable code, e.g. IMAGE_CORRUPT, UNSUPPORTED_FORMAT, CHECKSUM_MISMATCH
   * (docs list them all).
   */
  'code': (string);
  /**
   * Human-readable reason naming the cause.
   */
  'reason': (string);
  /**
   * True when sending the same image again later may succeed (e.g. no worker available).
   */
  'retryable': (boolean);
}
