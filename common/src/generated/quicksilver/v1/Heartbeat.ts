// Original file: proto/quicksilver/v1/worker.proto


export interface Heartbeat {
  'inFlight'?: (number);
  /**
   * RFC 3339
   */
  'sentAt'?: (string);
}

export interface Heartbeat__Output {
  'inFlight': (number);
  /**
   * RFC 3339
   */
  'sentAt': (string);
}
