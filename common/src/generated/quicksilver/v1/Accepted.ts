// Original file: proto/quicksilver/v1/inspection.proto


export interface Accepted {
  'idempotencyKey'?: (string);
}

export interface Accepted__Output {
  'idempotencyKey': (string);
}
