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
   * worker round trip not spent queued, decoding or inferring on the worker (bytes in flight, event loops)
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
  /**
   * on the worker: waiting for a decode slot and for its batch to run
   */
  'workerQueueMs'?: (number | string);
  /**
   * on the worker: reading an image sent by reference and checking its SHA-256 (0 when its bytes were sent)
   */
  'readMs'?: (number | string);
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
   * worker round trip not spent queued, decoding or inferring on the worker (bytes in flight, event loops)
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
  /**
   * on the worker: waiting for a decode slot and for its batch to run
   */
  'workerQueueMs': (number);
  /**
   * on the worker: reading an image sent by reference and checking its SHA-256 (0 when its bytes were sent)
   */
  'readMs': (number);
}
