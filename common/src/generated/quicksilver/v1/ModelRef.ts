// Original file: proto/quicksilver/v1/worker.proto


export interface ModelRef {
  'name'?: (string);
  'version'?: (string);
}

export interface ModelRef__Output {
  'name': (string);
  'version': (string);
}
