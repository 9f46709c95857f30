// Original file: proto/quicksilver/v1/worker.proto

import type { ModelRef as _quicksilver_v1_ModelRef, ModelRef__Output as _quicksilver_v1_ModelRef__Output } from '../../quicksilver/v1/ModelRef.js';

export interface Register {
  'workerId'?: (string);
  /**
   * Execution provider that runs the model: cuda, webgpu or cpu.
   */
  'executionProvider'?: (string);
  /**
   * Device description, e.g. "NVIDIA H100 80GB" or "cpu x8".
   */
  'device'?: (string);
  'models'?: (_quicksilver_v1_ModelRef)[];
  /**
   * Largest batch the worker runs at once.
   */
  'maxBatchSize'?: (number);
  /**
   * Most tasks the coordinator may have outstanding on this worker (its credit).
   */
  'maxInFlight'?: (number);
}

export interface Register__Output {
  'workerId': (string);
  /**
   * Execution provider that runs the model: cuda, webgpu or cpu.
   */
  'executionProvider': (string);
  /**
   * Device description, e.g. "NVIDIA H100 80GB" or "cpu x8".
   */
  'device': (string);
  'models': (_quicksilver_v1_ModelRef__Output)[];
  /**
   * Largest batch the worker runs at once.
   */
  'maxBatchSize': (number);
  /**
   * Most tasks the coordinator may have outstanding on this worker (its credit).
   */
  'maxInFlight': (number);
}
