// Original file: proto/quicksilver/v1/inspection.proto

import type { StageTimings as _quicksilver_v1_StageTimings, StageTimings__Output as _quicksilver_v1_StageTimings__Output } from '../../quicksilver/v1/StageTimings.js';

export interface Verdict {
  'idempotencyKey'?: (string);
  'stationId'?: (string);
  'barcode'?: (string);
  /**
   * Label decided by the model's threshold, e.g. "contaminated" or "clean".
   */
  'label'?: (string);
  /**
   * Probability of the model's positive label, 0..1.
   */
  'score'?: (number | string);
  /**
   * Decision threshold applied to score (score >= threshold -> positive label).
   */
  'threshold'?: (number | string);
  /**
   * true when label is the positive label
   */
  'flagged'?: (boolean);
  'modelName'?: (string);
  'modelVersion'?: (string);
  'workerId'?: (string);
  'executionProvider'?: (string);
  'timings'?: (_quicksilver_v1_StageTimings | null);
  'sha256'?: (string);
  'fileName'?: (string);
  /**
   * RFC 3339
   */
  'decidedAt'?: (string);
}

export interface Verdict__Output {
  'idempotencyKey': (string);
  'stationId': (string);
  'barcode': (string);
  /**
   * Label decided by the model's threshold, e.g. "contaminated" or "clean".
   */
  'label': (string);
  /**
   * Probability of the model's positive label, 0..1.
   */
  'score': (number);
  /**
   * Decision threshold applied to score (score >= threshold -> positive label).
   */
  'threshold': (number);
  /**
   * true when label is the positive label
   */
  'flagged': (boolean);
  'modelName': (string);
  'modelVersion': (string);
  'workerId': (string);
  'executionProvider': (string);
  'timings': (_quicksilver_v1_StageTimings__Output | null);
  'sha256': (string);
  'fileName': (string);
  /**
   * RFC 3339
   */
  'decidedAt': (string);
}
