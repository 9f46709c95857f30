// Original file: proto/quicksilver/v1/worker.proto


export interface Heartbeat {
  'inFlight'?: (number);
  /**
   * RFC 3339
   */
  'sentAt'?: (string);
  /**
   * the worker is shutting down: it finishes what it holds, send it no new tasks
   */
  'draining'?: (boolean);
}

export interface Heartbeat__Output {
  'inFlight': (number);
  /**
   * RFC 3339
   */
  'sentAt': (string);
  /**
   * the worker is shutting down: it finishes what it holds, send it no new tasks
   */
  'draining': (boolean);
}
