// The coordinator's Prometheus metrics, registered on the process's injected registry.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS_SECONDS } from '../../common/src/metrics.js';

export type CoordinatorMetrics = ReturnType<typeof createCoordinatorMetrics>;

export function createCoordinatorMetrics(registry: Registry) {
  const registers = [registry];
  return {
    imagesReceived: new Counter({ name: 'quicksilver_coordinator_images_received_total', help: 'Image headers received from agents', labelNames: ['station'], registers }),
    imagesAccepted: new Counter({ name: 'quicksilver_coordinator_images_accepted_total', help: 'Image headers accepted for upload (new keys; resends of known keys are duplicates)', labelNames: ['station'], registers }),
    imagesByReference: new Counter({ name: 'quicksilver_coordinator_images_by_reference_total', help: 'Accepted images sent by reference (image_uri): workers read their bytes from storage', labelNames: ['station'], registers }),
    bytesReceived: new Counter({ name: 'quicksilver_coordinator_image_bytes_received_total', help: 'Image bytes received from agents', registers }),
    verdicts: new Counter({ name: 'quicksilver_coordinator_verdicts_total', help: 'Verdicts returned', labelNames: ['station', 'label', 'model_version'], registers }),
    rejections: new Counter({ name: 'quicksilver_coordinator_rejections_total', help: 'Images answered with a rejection, by error code', labelNames: ['station', 'code'], registers }),
    duplicates: new Counter({ name: 'quicksilver_coordinator_duplicate_submissions_total', help: 'Images resubmitted with a key already in progress or answered', registers }),
    endToEnd: new Histogram({ name: 'quicksilver_coordinator_end_to_end_duration_seconds', help: 'Header received to verdict sent', labelNames: ['station'], buckets: LATENCY_BUCKETS_SECONDS, registers }),
    stage: new Histogram({ name: 'quicksilver_coordinator_stage_duration_seconds', help: 'Time per pipeline stage (upload, queue, worker_round_trip, worker_queue, read, decode, inference, publish)', labelNames: ['stage'], buckets: LATENCY_BUCKETS_SECONDS, registers }),
    uploadsInProgress: new Gauge({ name: 'quicksilver_coordinator_uploads_in_progress', help: 'Images whose bytes are still arriving', registers }),
    bufferedBytes: new Gauge({ name: 'quicksilver_coordinator_buffered_bytes', help: 'Image bytes held in memory (uploads and queued tasks)', registers }),
    admissionRefusals: new Counter({
      name: 'quicksilver_coordinator_admission_refusals_total',
      help: 'Images answered OVERLOADED by the coordinator\'s admission control, by priority class and rule: budget (maxBufferedBytes full), conveyor_reserve (bulk images may not take the conveyor\'s share), station_share (the station holds its fair share while another waits), queue (maxQueuedTasks, or its share for bulk)',
      labelNames: ['station', 'priority', 'rule'], registers,
    }),
    inFlight: new Gauge({ name: 'quicksilver_coordinator_images_in_flight', help: 'Images accepted and awaiting a verdict', registers }),
    agentStreams: new Gauge({ name: 'quicksilver_coordinator_agent_streams', help: 'Open agent Inspect streams', registers }),
    uploadsAborted: new Counter({ name: 'quicksilver_coordinator_uploads_aborted_total', help: 'Uploads dropped before their last chunk (UPLOAD_ABORTED; the agent resends), by reason: stream_closed, idle (no chunk for uploadIdleTimeoutMs)', labelNames: ['station', 'reason'], registers }),
    authFailures: new Counter({ name: 'quicksilver_coordinator_auth_failures_total', help: 'Agent or worker calls refused by access control, by reason', labelNames: ['reason'], registers }),
    publishFailures: new Counter({ name: 'quicksilver_coordinator_publish_failures_total', help: 'Verdict publication attempts to NATS that failed (the verdict stays in the outbox)', registers }),
    outboxDepth: new Gauge({ name: 'quicksilver_coordinator_outbox_depth', help: 'Verdicts stored in the durable outbox, waiting for NATS', registers }),
    outboxBytes: new Gauge({ name: 'quicksilver_coordinator_outbox_bytes', help: 'Bytes of verdicts stored in the durable outbox', registers }),
  };
}
