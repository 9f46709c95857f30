// Original file: proto/quicksilver/v1/worker.proto


export interface Classification {
  'label'?: (string);
  /**
   * probability of the positive label
   */
  'score'?: (number | string);
  'threshold'?: (number | string);
  'flagged'?: (boolean);
  'modelName'?: (string);
  'modelVersion'?: (string);
}

export interface Classification__Output {
  'label': (string);
  /**
   * probability of the positive label
   */
  'score': (number);
  'threshold': (number);
  'flagged': (boolean);
  'modelName': (string);
  'modelVersion': (string);
}
