// Original file: proto/quicksilver/v1/worker.proto


export interface TaskChunk {
  'taskId'?: (string);
  'data'?: (Buffer | Uint8Array | string);
  'last'?: (boolean);
}

export interface TaskChunk__Output {
  'taskId': (string);
  'data': (Buffer);
  'last': (boolean);
}
