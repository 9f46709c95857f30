// Original file: proto/quicksilver/v1/worker.proto

import type { ModelRef as _quicksilver_v1_ModelRef, ModelRef__Output as _quicksilver_v1_ModelRef__Output } from '../../quicksilver/v1/ModelRef.js';
import type { Priority as _quicksilver_v1_Priority, Priority__Output as _quicksilver_v1_Priority__Output } from '../../quicksilver/v1/Priority.js';

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
  /**
   * Priority classes this worker takes; empty (an older worker) = all. A bulk-only worker gets its
   * whole credit for bulk work; a realtime-only one never holds bulk work.
   */
  'priorities'?: (_quicksilver_v1_Priority)[];
  /**
   * The worker reads images sent by reference (TaskHeader.image_uri): it has allowed roots or URL
   * prefixes. False (as from an older worker): the coordinator sends it no task by reference.
   */
  'readsImageReferences'?: (boolean);
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
  /**
   * Priority classes this worker takes; empty (an older worker) = all. A bulk-only worker gets its
   * whole credit for bulk work; a realtime-only one never holds bulk work.
   */
  'priorities': (_quicksilver_v1_Priority__Output)[];
  /**
   * The worker reads images sent by reference (TaskHeader.image_uri): it has allowed roots or URL
   * prefixes. False (as from an older worker): the coordinator sends it no task by reference.
   */
  'readsImageReferences': (boolean);
}
