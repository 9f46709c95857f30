// Original file: proto/quicksilver/v1/worker.proto


export interface CancelTask {
  'taskId'?: (string);
}

export interface CancelTask__Output {
  'taskId': (string);
}
