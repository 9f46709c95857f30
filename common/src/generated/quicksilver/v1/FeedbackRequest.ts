// Original file: proto/quicksilver/v1/feedback.proto


export interface FeedbackRequest {
  /**
   * Idempotency key of the image whose verdict is judged (preferred).
   */
  'idempotencyKey'?: (string);
  /**
   * Specimen barcode; used when idempotency_key is empty.
   */
  'barcode'?: (string);
  /**
   * Ground truth: true when the sheet carries mercury.
   */
  'contaminated'?: (boolean);
  /**
   * Who judged it, and how (e.g. xrf, visual); free text for the audit log.
   */
  'curator'?: (string);
  'method'?: (string);
}

export interface FeedbackRequest__Output {
  /**
   * Idempotency key of the image whose verdict is judged (preferred).
   */
  'idempotencyKey': (string);
  /**
   * Specimen barcode; used when idempotency_key is empty.
   */
  'barcode': (string);
  /**
   * Ground truth: true when the sheet carries mercury.
   */
  'contaminated': (boolean);
  /**
   * Who judged it, and how (e.g. xrf, visual); free text for the audit log.
   */
  'curator': (string);
  'method': (string);
}
