// Original file: proto/quicksilver/v1/feedback.proto


export interface FeedbackReply {
  /**
   * tp, fp, tn or fn: the verdict judged against the truth.
   */
  'outcome'?: (string);
  /**
   * "name@version" of the model that decided.
   */
  'modelVersion'?: (string);
  'stationId'?: (string);
  'idempotencyKey'?: (string);
}

export interface FeedbackReply__Output {
  /**
   * tp, fp, tn or fn: the verdict judged against the truth.
   */
  'outcome': (string);
  /**
   * "name@version" of the model that decided.
   */
  'modelVersion': (string);
  'stationId': (string);
  'idempotencyKey': (string);
}
