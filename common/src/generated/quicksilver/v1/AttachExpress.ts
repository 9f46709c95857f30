// Original file: proto/quicksilver/v1/worker.proto


/**
 * First message of a worker's express stream; worker_id is that of its registered main stream.
 */
export interface AttachExpress {
  'workerId'?: (string);
}

/**
 * First message of a worker's express stream; worker_id is that of its registered main stream.
 */
export interface AttachExpress__Output {
  'workerId': (string);
}
