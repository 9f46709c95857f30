// Original file: proto/quicksilver/v1/worker.proto


export interface TaskError {
  /**
   * stable code, see docs
   */
  'code'?: (string);
  'reason'?: (string);
  /**
   * true: the coordinator may try another worker
   */
  'retryable'?: (boolean);
}

export interface TaskError__Output {
  /**
   * stable code, see docs
   */
  'code': (string);
  'reason': (string);
  /**
   * true: the coordinator may try another worker
   */
  'retryable': (boolean);
}
