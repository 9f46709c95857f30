// Agent-facing logic, free of transport: assembles chunked uploads, validates them, dispatches the
// image to a worker, publishes the verdict, and answers the agent. Exactly one Verdict or Rejection
// per idempotency key: a key already in progress or recently answered is answered from that result.
import { createHash, randomUUID, type Hash } from 'node:crypto';
import type { InspectRequest__Output } from '../../common/src/generated/quicksilver/v1/InspectRequest.js';
import type { InspectResponse } from '../../common/src/generated/quicksilver/v1/InspectResponse.js';
import type { Verdict } from '../../common/src/generated/quicksilver/v1/Verdict.js';
import type { Rejection } from '../../common/src/generated/quicksilver/v1/Rejection.js';
import { QuicksilverError, toQuicksilverError, type ErrorCode } from '../../common/src/errors.js';
import { priorityClassOf, validateImageHeader, type ImageHeaderFields } from '../../common/src/image-header.js';
import type { Logger } from '../../common/src/logger.js';
import { sniffImageFormat } from '../../common/src/image-format.js';
import type { VerdictEvent } from '../../common/src/verdict-event.js';
import type { CoordinatorMetrics } from './coordinator-metrics.js';
import { FairShareBudget } from './admission-budget.js';
import { ChunkAssembler } from './chunk-assembler.js';
import type { Dispatcher, ImageBytes } from './dispatcher.js';
import type { VerdictOutbox } from './verdict-outbox.js';

export interface ResponseSink {
  send(message: InspectResponse): void;
}

export interface InspectionServiceOptions {
  dispatcher: Dispatcher;
  /** Publishes each verdict to NATS or stores it durably until NATS takes it. */
  outbox: Pick<VerdictOutbox, 'deliver' | 'isFull'>;
  metrics: CoordinatorMetrics;
  logger: Logger;
  /** Largest image accepted, in bytes. */
  maxImageBytes: number;
  /** Most image bytes held in memory at once across all uploads and queued tasks. */
  maxBufferedBytes: number;
  /** Share of maxBufferedBytes bulk images may not take (kept for conveyor images). */
  realtimeReserveFraction: number;
  /** How long a station refused for lack of room keeps its claim on room if it does not come back and keeps a stream open (admission-budget.ts). */
  fairShareClaimMs: number;
  /** Model used when the agent leaves modelName empty. */
  defaultModel: string;
  /** Answered keys remembered for resends. */
  answerCacheSize: number;
  /** An upload that gets no chunk for this long is dropped (UPLOAD_ABORTED) and its reservation released. */
  uploadIdleTimeoutMs: number;
  /** Called with every decided verdict once it is in the outbox (feedback joins to it). */
  onVerdict?: (event: VerdictEvent) => void;
}

type Answer = { verdict: Verdict } | { rejection: Rejection };

/** The first `n` bytes of an image (fewer if it is shorter), copying only when they span chunks. */
function headOf(image: ImageBytes, n: number): Buffer {
  if (!Array.isArray(image)) return (image as Buffer).subarray(0, n);
  const parts: Buffer[] = [];
  let length = 0;
  for (const chunk of image as readonly Buffer[]) {
    if (length >= n) break;
    parts.push(chunk);
    length += chunk.length;
  }
  return parts.length === 1 ? parts[0]!.subarray(0, n) : Buffer.concat(parts, Math.min(n, length));
}

interface Upload {
  header: ImageHeaderFields;
  receivedAt: number;
  /** The bytes received so far (large chunks as grpc-js decoded them, small ones copied together). */
  bytes: ChunkAssembler;
  hash: Hash;
  reserved: number;
  /** performance.now() of the header or the last chunk. */
  lastActivityAt: number;
  idleTimer: NodeJS.Timeout;
}

/** What processing an image needs of its upload (an image sent by reference has no bytes to assemble). */
type Accepted = Pick<Upload, 'header' | 'receivedAt' | 'reserved'>;

const MAX_FAILED_UPLOAD_KEYS = 1024;

export class InspectionService {
  /** Keys being worked on and keys answered recently, each with the SHA-256 of the bytes it was accepted for. */
  private readonly inProgress = new Map<string, { sha256: string; answer: Promise<Answer> }>();
  private readonly answers = new Map<string, { sha256: string; answer: Answer }>();
  private readonly budget: FairShareBudget;
  private accepting = true;
  private readonly sessions = new Set<InspectionSession>();
  /** Open streams per station that sent a header on them: when a station's last one closes, its claims on room end. */
  private readonly streamsOfStation = new Map<string, number>();

  constructor(readonly options: InspectionServiceOptions) {
    this.budget = new FairShareBudget(options.maxBufferedBytes, {
      realtimeReserve: Math.floor(options.maxBufferedBytes * options.realtimeReserveFraction), claimMs: options.fairShareClaimMs,
    });
  }

  openSession(peer: string, sink: ResponseSink): InspectionSession {
    const session = new InspectionSession(this, peer, sink);
    this.sessions.add(session);
    this.options.metrics.agentStreams.set(this.sessions.size);
    return session;
  }

  /** @internal A session saw its first header from `station`. */
  stationStreamOpened(station: string): void {
    this.streamsOfStation.set(station, (this.streamsOfStation.get(station) ?? 0) + 1);
  }

  /** @internal */
  sessionClosed(session: InspectionSession, stations: Iterable<string>): void {
    this.sessions.delete(session);
    this.options.metrics.agentStreams.set(this.sessions.size);
    for (const station of stations) {
      const left = (this.streamsOfStation.get(station) ?? 1) - 1;
      if (left > 0) {
        this.streamsOfStation.set(station, left);
        continue;
      }
      // A station that went away no longer waits for room (otherwise its claim would stand for fairShareClaimMs).
      this.streamsOfStation.delete(station);
      this.budget.withdraw(station);
    }
  }

  /** The pieces of image bytes held for uploads still arriving (tests check what tiny chunks cost). */
  heldUploadPieces(): Buffer[] {
    return [...this.sessions].flatMap((session) => session.heldUploadPieces());
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  /** Stops accepting new images; waits for in-progress ones until the signal aborts. */
  async drain(signal: AbortSignal): Promise<void> {
    this.accepting = false;
    while (this.inProgress.size > 0 && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  /** @internal Existing answer or in-progress promise for a key, with the SHA-256 it was accepted for. */
  lookup(key: string): { sha256: string; answer: Answer | Promise<Answer> } | undefined {
    return this.answers.get(key) ?? this.inProgress.get(key);
  }

  /**
   * @internal Reserves memory for an upload's declared size under the fair-share budget (admission-budget.ts);
   * the reason it was refused, counted by rule, otherwise undefined.
   */
  reserve(header: ImageHeaderFields): string | undefined {
    const priority = priorityClassOf(header.priority);
    const admission = this.budget.take(header.stationId, priority, header.sizeBytes);
    if (!admission.admitted) {
      this.options.metrics.admissionRefusals.inc({ station: header.stationId, priority, rule: admission.rule });
      return admission.reason;
    }
    this.options.metrics.bufferedBytes.set(this.budget.held);
    return undefined;
  }

  /** @internal Gives back what reserve() took for this header. */
  release(header: ImageHeaderFields, bytes: number): void {
    if (bytes === 0) return;
    this.budget.give(header.stationId, priorityClassOf(header.priority), bytes);
    this.options.metrics.bufferedBytes.set(this.budget.held);
  }

  /** @internal Runs a complete, verified image (or an image reference: `image` undefined) to an answer (and remembers it). */
  process(upload: Accepted, image: ImageBytes | undefined): Promise<Answer> {
    const key = upload.header.idempotencyKey;
    const work = this.classifyAndPublish(upload, image)
      .catch((error: unknown) => ({ rejection: this.rejection(upload.header, toQuicksilverError(error)) }))
      .then((answer) => {
        this.inProgress.delete(key);
        this.options.metrics.inFlight.set(this.inProgress.size);
        this.release(upload.header, upload.reserved);
        if ('verdict' in answer || !answer.rejection.retryable) this.remember(key, upload.header.sha256, answer);
        return answer;
      });
    this.inProgress.set(key, { sha256: upload.header.sha256, answer: work });
    this.options.metrics.inFlight.set(this.inProgress.size);
    return work;
  }

  /** @internal Builds a rejection, counts it and logs it. */
  rejection(header: Pick<ImageHeaderFields, 'idempotencyKey' | 'stationId' | 'fileName'>, error: QuicksilverError): Rejection {
    this.options.metrics.rejections.inc({ station: header.stationId || 'unknown', code: error.code });
    this.options.logger.warn({ key: header.idempotencyKey, station: header.stationId, file: header.fileName, code: error.code, reason: error.message }, 'image rejected');
    return { idempotencyKey: header.idempotencyKey, code: error.code, reason: error.message, retryable: error.retryable };
  }

  private remember(key: string, sha256: string, answer: Answer): void {
    this.answers.set(key, { sha256, answer });
    if (this.answers.size > this.options.answerCacheSize) this.answers.delete(this.answers.keys().next().value!);
  }

  private async classifyAndPublish(upload: Accepted, image: ImageBytes | undefined): Promise<Answer> {
    const { header } = upload;
    const { dispatcher, metrics, logger } = this.options;
    const completeAt = performance.now();
    if (image && !sniffImageFormat(headOf(image, 16))) {
      throw new QuicksilverError('UNSUPPORTED_FORMAT', `${header.fileName} is not a JPEG, TIFF or PNG image (first bytes ${headOf(image, 8).toString('hex') || 'none'})`);
    }
    const modelName = header.modelName || this.options.defaultModel;
    const priority = priorityClassOf(header.priority);
    const outcome = await dispatcher.submit({
      taskId: randomUUID(), idempotencyKey: header.idempotencyKey, modelName, contentType: header.contentType,
      sha256: header.sha256, fileName: header.fileName, sizeBytes: header.sizeBytes, bytes: image, imageUri: header.imageUri,
      priority, stationId: header.stationId,
    }).catch((error: unknown) => {
      if (error instanceof QuicksilverError && error.code === 'OVERLOADED') metrics.admissionRefusals.inc({ station: header.stationId, priority, rule: 'queue' });
      throw error;
    });
    const uploadMs = completeAt - upload.receivedAt;
    const transferMs = Math.max(0, outcome.roundTripMs - outcome.workerQueueMs - outcome.readMs - outcome.decodeMs - outcome.inferenceMs);
    const publishStart = performance.now();
    const decidedAt = new Date().toISOString();
    const c = outcome.classification;
    const event: VerdictEvent = {
      schema: 'quicksilver.verdict.v1',
      idempotencyKey: header.idempotencyKey, stationId: header.stationId, barcode: header.barcode, fileName: header.fileName,
      sha256: header.sha256, captureTime: header.captureTime, label: c.label, flagged: c.flagged, score: c.score, threshold: c.threshold,
      model: { name: c.modelName, version: c.modelVersion },
      worker: { id: outcome.workerId, executionProvider: outcome.executionProvider },
      timingsMs: { upload: uploadMs, queue: outcome.queueMs, transfer: transferMs, workerQueue: outcome.workerQueueMs, read: outcome.readMs, decode: outcome.decodeMs, inference: outcome.inferenceMs, total: 0 },
      decidedAt,
    };
    await this.publishDurably(event);
    const totalMs = performance.now() - upload.receivedAt;
    event.timingsMs.total = totalMs;
    metrics.stage.observe({ stage: 'upload' }, uploadMs / 1000);
    metrics.stage.observe({ stage: 'queue' }, outcome.queueMs / 1000);
    metrics.stage.observe({ stage: 'worker_round_trip' }, outcome.roundTripMs / 1000);
    metrics.stage.observe({ stage: 'worker_queue' }, outcome.workerQueueMs / 1000);
    if (header.imageUri) metrics.stage.observe({ stage: 'read' }, outcome.readMs / 1000);
    metrics.stage.observe({ stage: 'decode' }, outcome.decodeMs / 1000);
    metrics.stage.observe({ stage: 'inference' }, outcome.inferenceMs / 1000);
    metrics.stage.observe({ stage: 'publish' }, (performance.now() - publishStart) / 1000);
    metrics.endToEnd.observe({ station: header.stationId }, totalMs / 1000);
    metrics.verdicts.inc({ station: header.stationId, label: c.label, model_version: `${c.modelName}@${c.modelVersion}` });
    this.options.onVerdict?.(event);
    logger.info({ key: header.idempotencyKey, station: header.stationId, barcode: header.barcode, file: header.fileName, label: c.label, score: c.score, worker: outcome.workerId, totalMs: Math.round(totalMs) }, 'verdict');
    return {
      verdict: {
        idempotencyKey: header.idempotencyKey, stationId: header.stationId, barcode: header.barcode, label: c.label, score: c.score,
        threshold: c.threshold, flagged: c.flagged, modelName: c.modelName, modelVersion: c.modelVersion, workerId: outcome.workerId,
        executionProvider: outcome.executionProvider, sha256: header.sha256, fileName: header.fileName, decidedAt,
        timings: { uploadMs, queueMs: outcome.queueMs, transferMs, workerQueueMs: outcome.workerQueueMs, readMs: outcome.readMs, decodeMs: outcome.decodeMs, inferenceMs: outcome.inferenceMs, totalMs },
      },
    };
  }

  /**
   * The agent is answered only once the verdict is durable: acknowledged by JetStream (message id =
   * idempotency key) or fsync'd in the outbox. A full outbox rejects the image as OVERLOADED (retryable).
   */
  private async publishDurably(event: VerdictEvent): Promise<void> {
    const delivery = await this.options.outbox.deliver(event);
    if (delivery === 'queued') this.options.logger.info({ key: event.idempotencyKey }, 'verdict stored in the outbox until NATS takes it');
  }
}

/** One agent stream. Several uploads may interleave; each is keyed by its idempotency key. */
export class InspectionSession {
  private readonly uploads = new Map<string, Upload>();
  /** Keys already answered on this stream whose remaining chunks are discarded. */
  private readonly discarding = new Set<string>();
  /** Stations that sent a valid header on this stream. */
  private readonly stations = new Set<string>();
  private closed = false;

  constructor(private readonly service: InspectionService, private readonly peer: string, private readonly sink: ResponseSink) {}

  handle(request: InspectRequest__Output): void {
    if (request.header) this.onHeader(request.header as unknown as Record<string, unknown>);
    else if (request.chunk) this.onChunk(request.chunk.idempotencyKey, request.chunk.offset, request.chunk.data, request.chunk.last);
  }

  /** The stream ended or broke: incomplete uploads are dropped (the agent resends them); started work continues. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const upload of this.uploads.values()) {
      clearTimeout(upload.idleTimer);
      this.service.release(upload.header, upload.reserved);
      this.service.options.metrics.uploadsAborted.inc({ station: upload.header.stationId, reason: 'stream_closed' });
    }
    this.service.options.metrics.uploadsInProgress.dec(this.uploads.size);
    if (this.uploads.size) this.service.options.logger.info({ peer: this.peer, incomplete: this.uploads.size }, 'agent stream closed with incomplete uploads');
    this.uploads.clear();
    this.service.sessionClosed(this, this.stations);
  }

  private send(message: InspectResponse): void {
    if (!this.closed) this.sink.send(message);
  }

  private reject(header: Pick<ImageHeaderFields, 'idempotencyKey' | 'stationId' | 'fileName'>, code: ErrorCode, reason: string): void {
    this.send({ rejection: this.service.rejection(header, new QuicksilverError(code, reason)) });
  }

  private discard(key: string): void {
    this.discarding.add(key);
    if (this.discarding.size > MAX_FAILED_UPLOAD_KEYS) this.discarding.delete(this.discarding.values().next().value!);
  }

  private onHeader(raw: Record<string, unknown>): void {
    const { metrics } = this.service.options;
    const key = String(raw.idempotencyKey ?? '');
    const station = String(raw.stationId ?? '');
    const fileName = String(raw.fileName ?? '');
    const checked = validateImageHeader(raw);
    if (!checked.ok) {
      this.discard(key);
      this.reject({ idempotencyKey: key, stationId: station, fileName }, 'INVALID_METADATA', checked.reason);
      return;
    }
    const header = checked.header;
    metrics.imagesReceived.inc({ station: header.stationId });
    if (!this.stations.has(header.stationId)) {
      this.stations.add(header.stationId);
      this.service.stationStreamOpened(header.stationId);
    }
    if (this.uploads.has(key)) {
      this.reject(header, 'PROTOCOL_VIOLATION', `a second header for ${key} arrived before its last chunk`);
      return;
    }
    this.discarding.delete(key);
    const previous = this.service.lookup(key);
    if (previous && previous.sha256 !== header.sha256) {
      // Answering it would hand these bytes another image's verdict.
      return this.rejectAndDiscard(header, 'INVALID_METADATA',
        `idempotency key ${key} is already in use for other bytes (SHA-256 ${previous.sha256}, this image ${header.sha256}); a key names one image`);
    }
    if (previous) {
      metrics.duplicates.inc();
      this.discard(key);
      this.send({ accepted: { idempotencyKey: key } });
      void Promise.resolve(previous.answer).then((answer) => this.send(answer));
      return;
    }
    if (!this.service.isAccepting) return this.rejectAndDiscard(header, 'SHUTTING_DOWN', 'the coordinator is shutting down; resend to another or later');
    if (header.sizeBytes === 0) return this.rejectAndDiscard(header, 'IMAGE_EMPTY', `${header.fileName} has zero bytes`);
    if (header.sizeBytes > this.service.options.maxImageBytes) {
      return this.rejectAndDiscard(header, 'IMAGE_TOO_LARGE', `${header.fileName} is ${header.sizeBytes} bytes, over the ${this.service.options.maxImageBytes}-byte limit`);
    }
    if (this.service.options.outbox.isFull) {
      return this.rejectAndDiscard(header, 'OVERLOADED', 'the verdict outbox is full while NATS is unreachable; retry later');
    }
    if (header.imageUri) {
      // By reference: the header is the whole image; a worker reads and verifies the bytes.
      metrics.imagesAccepted.inc({ station: header.stationId });
      metrics.imagesByReference.inc({ station: header.stationId });
      this.send({ accepted: { idempotencyKey: key } });
      void this.service.process({ header, receivedAt: performance.now(), reserved: 0 }, undefined).then((answer) => this.send(answer));
      return;
    }
    const refused = this.service.reserve(header);
    if (refused) return this.rejectAndDiscard(header, 'OVERLOADED', `${header.fileName}: ${refused}; retry shortly`);
    const now = performance.now();
    const upload: Upload = {
      header, receivedAt: now, bytes: new ChunkAssembler(header.sizeBytes), hash: createHash('sha256'), reserved: header.sizeBytes, lastActivityAt: now,
      idleTimer: setTimeout(() => this.checkIdle(key, upload), this.service.options.uploadIdleTimeoutMs).unref(),
    };
    this.uploads.set(key, upload);
    metrics.uploadsInProgress.inc();
    metrics.imagesAccepted.inc({ station: header.stationId });
    this.send({ accepted: { idempotencyKey: key } });
  }

  private rejectAndDiscard(header: ImageHeaderFields, code: ErrorCode, reason: string): void {
    this.discard(header.idempotencyKey);
    this.reject(header, code, reason);
  }

  private onChunk(key: string, offset: number, data: Buffer, last: boolean): void {
    if (this.discarding.has(key)) {
      if (last) this.discarding.delete(key);
      return;
    }
    const upload = this.uploads.get(key);
    if (!upload) {
      this.discard(key);
      this.reject({ idempotencyKey: key, stationId: '', fileName: '' }, 'PROTOCOL_VIOLATION', `chunk for ${key || '(empty key)'} without a header`);
      return;
    }
    const { header } = upload;
    const fail = (code: ErrorCode, reason: string) => {
      this.dropUpload(key, upload);
      if (!last) this.discard(key);
      this.reject(header, code, reason);
    };
    const received = upload.bytes.received;
    if (offset !== received) return fail('PROTOCOL_VIOLATION', `chunk at offset ${offset} for ${header.fileName}, expected ${received}`);
    if (received + data.length > header.sizeBytes) {
      return fail('SIZE_MISMATCH', `${header.fileName}: more bytes than the declared ${header.sizeBytes}`);
    }
    upload.lastActivityAt = performance.now();
    upload.bytes.append(data);
    upload.hash.update(data);
    this.service.options.metrics.bytesReceived.inc(data.length);
    if (!last) return;
    if (upload.bytes.received !== header.sizeBytes) {
      return fail('SIZE_MISMATCH', `${header.fileName}: received ${upload.bytes.received} bytes, declared ${header.sizeBytes}`);
    }
    const actual = upload.hash.digest('hex');
    if (actual !== header.sha256) {
      return fail('CHECKSUM_MISMATCH', `${header.fileName}: received bytes hash to ${actual}, declared ${header.sha256}`);
    }
    clearTimeout(upload.idleTimer);
    this.uploads.delete(key);
    this.service.options.metrics.uploadsInProgress.dec();
    void this.service.process(upload, upload.bytes.image()).then((answer) => this.send(answer));
  }

  /**
   * An upload with no chunk for uploadIdleTimeoutMs (a stalled or hostile station; gRPC keepalive keeps
   * its stream open) is dropped so its reservation does not block other stations: UPLOAD_ABORTED
   * (retryable, the agent resends), its remaining chunks discarded.
   */
  private checkIdle(key: string, upload: Upload): void {
    if (this.closed || this.uploads.get(key) !== upload) return;
    const timeoutMs = this.service.options.uploadIdleTimeoutMs;
    const idleMs = performance.now() - upload.lastActivityAt;
    if (idleMs < timeoutMs) {
      upload.idleTimer = setTimeout(() => this.checkIdle(key, upload), Math.ceil(timeoutMs - idleMs)).unref();
      return;
    }
    const { header } = upload;
    this.dropUpload(key, upload);
    this.discard(key);
    this.service.options.metrics.uploadsAborted.inc({ station: header.stationId, reason: 'idle' });
    this.reject(header, 'UPLOAD_ABORTED',
      `${header.fileName}: no bytes for ${Math.round(idleMs)} ms (uploadIdleTimeoutMs ${timeoutMs}) after ${upload.bytes.received} of ${header.sizeBytes}; upload dropped, resend it`);
  }

  /** @internal */
  heldUploadPieces(): Buffer[] {
    return [...this.uploads.values()].flatMap((upload) => upload.bytes.held());
  }

  private dropUpload(key: string, upload: Upload): void {
    clearTimeout(upload.idleTimer);
    this.uploads.delete(key);
    this.service.release(upload.header, upload.reserved);
    this.service.options.metrics.uploadsInProgress.dec();
  }
}
