// Original file: proto/quicksilver/v1/worker.proto

import type { Classification as _quicksilver_v1_Classification, Classification__Output as _quicksilver_v1_Classification__Output } from '../../quicksilver/v1/Classification.js';
import type { TaskError as _quicksilver_v1_TaskError, TaskError__Output as _quicksilver_v1_TaskError__Output } from '../../quicksilver/v1/TaskError.js';

export interface TaskResult {
  'taskId'?: (string);
  'classification'?: (_quicksilver_v1_Classification | null);
  'error'?: (_quicksilver_v1_TaskError | null);
  'decodeMs'?: (number | string);
  'inferenceMs'?: (number | string);
  /**
   * size of the batch this task ran in
   */
  'batchSize'?: (number);
  /**
   * time on the worker waiting for a decode slot and for its batch to run
   */
  'queueMs'?: (number | string);
  /**
   * reading an image_uri task's image and checking its size and SHA-256
   */
  'readMs'?: (number | string);
  'outcome'?: "classification"|"error";
}

export interface TaskResult__Output {
  'taskId': (string);
  'classification'?: (_quicksilver_v1_Classification__Output | null);
  'error'?: (_quicksilver_v1_TaskError__Output | null);
  'decodeMs': (number);
  'inferenceMs': (number);
  /**
   * size of the batch this task ran in
   */
  'batchSize': (number);
  /**
   * time on the worker waiting for a decode slot and for its batch to run
   */
  'queueMs': (number);
  /**
   * reading an image_uri task's image and checking its size and SHA-256
   */
  'readMs': (number);
  'outcome'?: "classification"|"error";
}
