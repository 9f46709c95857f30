// The inference engine's Prometheus metrics, registered on the process's injected registry.
// Histograms (not summaries) so latencies aggregate across workers.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS_SECONDS } from '../../common/src/metrics.js';

export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64];

export class WorkerMetrics {
  /** One observation per successfully decoded image. */
  readonly decodeDuration: Histogram;
  /** One observation per batch run. */
  readonly inferenceDuration: Histogram;
  readonly batchSize: Histogram;
  readonly imagesTotal: Counter<'model' | 'version' | 'label'>;
  readonly errorsTotal: Counter<'code'>;
  readonly modelLoadFailuresTotal: Counter<'reason'>;
  readonly modelChangesTotal: Counter<'change'>;
  readonly queueDepth: Gauge;

  /** `queueDepth` is read at scrape time: requests accepted and not yet running. */
  constructor(registry: Registry, queueDepth: () => number) {
    const registers = [registry];
    this.decodeDuration = new Histogram({
      name: 'quicksilver_worker_decode_duration_seconds',
      help: 'Time to decode, resize and normalize one image into the batch tensor.',
      buckets: LATENCY_BUCKETS_SECONDS, registers,
    });
    this.inferenceDuration = new Histogram({
      name: 'quicksilver_worker_inference_duration_seconds',
      help: 'Time of one model run (one batch).',
      buckets: LATENCY_BUCKETS_SECONDS, registers,
    });
    this.batchSize = new Histogram({
      name: 'quicksilver_worker_batch_size',
      help: 'Images per model run.',
      buckets: BATCH_SIZE_BUCKETS, registers,
    });
    this.queueDepth = new Gauge({
      name: 'quicksilver_worker_queue_depth',
      help: 'Images accepted and not yet running: waiting for a decode slot, decoding, or decoded and waiting for a batch.',
      registers,
      collect() {
        this.set(queueDepth());
      },
    });
    this.imagesTotal = new Counter({
      name: 'quicksilver_worker_images_total',
      help: 'Images classified, by model, model version and predicted label.',
      labelNames: ['model', 'version', 'label'], registers,
    });
    this.errorsTotal = new Counter({
      name: 'quicksilver_worker_errors_total',
      help: 'Classification requests that failed, by error code.',
      labelNames: ['code'], registers,
    });
    this.modelLoadFailuresTotal = new Counter({
      name: 'quicksilver_worker_model_load_failures_total',
      help: 'Models refused, at start or when hot-swapped in: checksum_mismatch, invalid, session_create, warmup.',
      labelNames: ['reason'], registers,
    });
    this.modelChangesTotal = new Counter({
      name: 'quicksilver_worker_model_changes_total',
      help: 'Model versions hot-swapped after start: added (served from then on) or retired (its folder was removed).',
      labelNames: ['change'], registers,
    });
  }
}
