// Original file: proto/quicksilver/v1/inspection.proto


/**
 * Milliseconds spent in each stage of the pipeline for one image.
 */
export interface StageTimings {
  /**
   * header received -> last chunk received
   */
  'uploadMs'?: (number | string);
  /**
   * image complete -> dispatched to a worker
   */
  'queueMs'?: (number | string);
  /**
   * worker round trip not spent decoding or inferring (bytes in flight, worker queue)
   */
  'transferMs'?: (number | string);
  /**
   * decode + resize + normalize on the worker
   */
  'decodeMs'?: (number | string);
  /**
   * model run (the whole batch the image was in)
   */
  'inferenceMs'?: (number | string);
  /**
   * header received -> verdict sent
   */
  'totalMs'?: (number | string);
}

/**
 * Milliseconds spent in each stage of the pipeline for one image.
 */
export interface StageTimings__Output {
  /**
   * header received -> last chunk received
   */
  'uploadMs': (number);
  /**
   * image complete -> dispatched to a worker
   */
  'queueMs': (number);
  /**
   * worker round trip not spent decoding or inferring (bytes in flight, worker queue)
   */
  'transferMs': (number);
  /**
   * decode + resize + normalize on the worker
   */
  'decodeMs': (number);
  /**
   * model run (the whole batch the image was in)
   */
  'inferenceMs': (number);
  /**
   * header received -> verdict sent
   */
  'totalMs': (number);
}
