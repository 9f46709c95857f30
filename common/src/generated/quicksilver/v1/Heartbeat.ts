// Original file: proto/quicksilver/v1/worker.proto

import type { ModelRef as _quicksilver_v1_ModelRef, ModelRef__Output as _quicksilver_v1_ModelRef__Output } from '../../quicksilver/v1/ModelRef.js';

export interface Heartbeat {
  'inFlight'?: (number);
  /**
   * RFC 3339
   */
  'sentAt'?: (string);
  /**
   * The worker is shutting down, or cannot run models now (not ready, e.g. its GPU failed): it finishes what
   * it holds, send it no new tasks. Not sticky: false again (a not-ready worker that recovered) = send tasks again.
   */
  'draining'?: (boolean);
  /**
   * The models served now, hot-swapped versions included; empty (from an older worker) = unchanged.
   */
  'models'?: (_quicksilver_v1_ModelRef)[];
}

export interface Heartbeat__Output {
  'inFlight': (number);
  /**
   * RFC 3339
   */
  'sentAt': (string);
  /**
   * The worker is shutting down, or cannot run models now (not ready, e.g. its GPU failed): it finishes what
   * it holds, send it no new tasks. Not sticky: false again (a not-ready worker that recovered) = send tasks again.
   */
  'draining': (boolean);
  /**
   * The models served now, hot-swapped versions included; empty (from an older worker) = unchanged.
   */
  'models': (_quicksilver_v1_ModelRef__Output)[];
}
