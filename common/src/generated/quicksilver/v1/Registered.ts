// Original file: proto/quicksilver/v1/worker.proto


export interface Registered {
  'heartbeatIntervalMs'?: (number);
}

export interface Registered__Output {
  'heartbeatIntervalMs': (number);
}
