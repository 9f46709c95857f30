// The scanner-station agent: hot folder -> durable spool -> one long-lived Inspect stream -> verdict
// -> operator display + filing. A complete file is moved into the spool (fsync'd) before it is sent
// and leaves it only once its outcome is filed in done/ or rejected/; at start everything in the spool
// is resent (same idempotency key, so the coordinator dedupes). Images are uploaded one at a time (in
// detection order) while up to maxInFlight await their verdicts. Retryable rejections and lost
// streams never file an image: it stays spooled and is resent after a jittered backoff. When the
// spool budget is reached, new files are left in the hot folder until room frees up.
// With spoolUriPrefix set, an image is sent by reference (its header alone, naming where the workers read
// the spooled file); one that no worker can read that way (IMAGE_REFERENCE_UNREADABLE), or that gets no
// verdict in time, is resent with its bytes, and so is every image for referencePauseMs after. Then one
// image goes by reference as a probe while the others go with their bytes; its verdict resumes references.
import { EventEmitter } from 'node:events';
import { basename, join } from 'node:path';
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { QuicksilverError } from '../../common/src/errors.js';
import type { Rejection__Output } from '../../common/src/generated/quicksilver/v1/Rejection.js';
import type { InspectResponse__Output } from '../../common/src/generated/quicksilver/v1/InspectResponse.js';
import type { Verdict__Output } from '../../common/src/generated/quicksilver/v1/Verdict.js';
import type { Component } from '../../common/src/lifecycle.js';
import type { Logger } from '../../common/src/logger.js';
import { CHUNK_BYTES, InspectionClient } from './adapters/inspection-client.js';
import type { InspectionSession } from './adapters/inspection-session.js';
import { createAgentMetrics, registerAgentEventMetrics, type AgentMetrics } from './agent-metrics.js';
import { backoffDelayMs } from './backoff.js';
import type { AgentOptions } from './config.js';
import { HotFolder } from './hot-folder.js';
import { describeImageFile, isSupportedImageName, type ImageHeader } from './image-header.js';
import { sendImage } from './image-sender.js';
import { OperatorDisplay } from './operator-display.js';
import { OutcomeFiler } from './outcome-filer.js';
import { Spool, type SpoolEntry } from './spool.js';

export interface VerdictEvent {
  fileName: string;
  /** Where the file was in the hot folder, and where it was filed. */
  sourcePath: string;
  filedPath: string;
  verdict: Verdict__Output;
  /** File complete in the hot folder -> verdict received. */
  latencyMs: number;
}

export interface RejectionEvent {
  fileName: string;
  sourcePath: string;
  filedPath: string;
  code: string;
  reason: string;
}

export interface RetryEvent {
  fileName: string;
  code: string;
  reason: string;
  /** Retryable rejections of this image so far (1 for the first). */
  attempt: number;
  delayMs: number;
}

export type AgentEvents = {
  verdict: [event: VerdictEvent];
  rejection: [event: RejectionEvent];
  retry: [event: RetryEvent];
  disconnected: [error: QuicksilverError];
};

export interface AgentDependencies {
  logger: Logger;
  display?: OperatorDisplay;
  /** Observes every disk read made while uploading (bytes), for tests and metrics. */
  onRead?: (bytes: number) => void;
  /** The process's metrics registry (a private one when absent). */
  registry?: Registry;
}

type ImageState = 'queued' | 'uploading' | 'awaiting' | 'backoff';

interface TrackedImage {
  header: ImageHeader;
  /** Its spool entry: the bytes uploaded, and the hot-folder names filed with the outcome. */
  entry: SpoolEntry;
  state: ImageState;
  retryableRejections: number;
  completedAt: number;
  sentAt: number;
  upload?: AbortController;
  /** Send the bytes even when the agent sends by reference (no worker could read this one's reference). */
  sendBytes?: boolean;
  /** The current attempt went by reference. */
  sentByReference?: boolean;
  /** An earlier attempt sent the bytes: the coordinator may answer this key from its cache, so it proves nothing as a probe. */
  bytesSentBefore?: boolean;
  /** Resend timer (backoff) or verdict deadline (awaiting). */
  timer?: NodeJS.Timeout;
}

const isInFlight = (image: TrackedImage) => image.state === 'uploading' || image.state === 'awaiting';

export class Agent extends EventEmitter<AgentEvents> implements Component {
  readonly name = 'agent';
  private readonly logger: Logger;
  private readonly display: OperatorDisplay;
  private readonly hotFolder: HotFolder;
  private readonly filer: OutcomeFiler;
  readonly spool: Spool;
  private readonly metrics: AgentMetrics;
  /** Complete hot-folder files left there while the spool is full, retried when room frees up. */
  private readonly deferred = new Set<string>();
  /** Timers of outcome filings to try again (fileOutcome). */
  private readonly filingRetries = new Set<NodeJS.Timeout>();
  private spoolFull = false;
  private client: InspectionClient | undefined;
  private session: InspectionSession | undefined;
  private readonly images = new Map<string, TrackedImage>();
  /** Keys waiting to be uploaded, oldest first. */
  private queue: string[] = [];
  /** Hot-folder paths being handled (from completion until spooled or filed). */
  private readonly activePaths = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  /** Spool admissions and outcome filings, one at a time (hashing reads the disk in arrival order). */
  private spoolOps: Promise<void> = Promise.resolve();
  private uploading = false;
  /** Backpressure: after an OVERLOADED or UNAVAILABLE answer no new upload starts before this time. */
  private holdUntil = 0;
  private holdTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private inFlightChanged: Array<() => void> = [];
  /** Images go by reference (options.spoolUriPrefix) unless a recent one could not be read that way. */
  private referencesPausedUntil = 0;
  /** Since the last pause no image has had its verdict by reference: only the probe goes that way. */
  private referencesUnconfirmed = false;
  /** Key of the image probing references after a pause. */
  private referenceProbe: string | undefined;

  constructor(
    private readonly options: AgentOptions,
    private readonly deps: AgentDependencies,
  ) {
    super();
    this.logger = deps.logger.child({ component: 'agent', stationId: options.stationId });
    this.display = deps.display ?? new OperatorDisplay(undefined, options.display);
    this.filer = new OutcomeFiler(options);
    this.spool = new Spool({ dir: options.spoolDir, maxBytes: options.spoolMaxBytes, maxImages: options.spoolMaxImages });
    const registry = deps.registry ?? new Registry();
    this.metrics = createAgentMetrics(registry, this.spool);
    registerAgentEventMetrics(registry, this, options.stationId);
    this.metrics.spoolFull.set(0);
    this.hotFolder = new HotFolder({
      dir: options.watchDir,
      stabilityThresholdMs: options.stabilityThresholdMs,
      pollIntervalMs: options.pollIntervalMs,
      exclude: [options.doneDir, options.rejectedDir, options.spoolDir],
    });
  }

  /** Images sent (or being sent) that have no answer yet. */
  get inFlight(): number {
    return [...this.images.values()].filter(isInFlight).length;
  }

  async start(): Promise<void> {
    await this.filer.prepare();
    const spooled = await this.spool.open();
    for (const entry of spooled) this.track(entry, performance.now());
    if (spooled.length > 0) this.logger.info({ images: spooled.length, bytes: this.spool.bytes }, 'resending the images left in the spool');
    this.client = new InspectionClient(this.options.coordinatorAddress, { ...this.options, logger: this.logger });
    this.connect();
    this.hotFolder.on('file', (path) => this.onFileComplete(path));
    this.hotFolder.on('error', (error) => this.logger.error({ err: error }, 'hot folder watch error'));
    await this.hotFolder.start();
    const { watchDir, doneDir, rejectedDir, spoolDir, coordinatorAddress, maxInFlight } = this.options;
    this.logger.info({ watchDir, doneDir, rejectedDir, spoolDir, coordinatorAddress, maxInFlight }, 'agent watching the hot folder');
  }

  /** Stops intake, waits (until `signal` aborts) for the verdicts of images already sent, then closes. */
  async stop(signal: AbortSignal): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.hotFolder.stop();
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.holdTimer);
    for (const timer of this.filingRetries) clearTimeout(timer);
    this.filingRetries.clear();
    for (const image of this.images.values()) {
      if (image.state === 'backoff') {
        clearTimeout(image.timer);
        image.state = 'queued';
      }
    }
    while (this.inFlight > 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.inFlightChanged.push(resolve);
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    const unanswered = this.inFlight;
    if (unanswered > 0) this.logger.warn({ unanswered }, 'grace time over: images without a verdict stay in the spool and are resent at the next start');
    this.session?.close(new QuicksilverError('SHUTTING_DOWN', 'the agent is stopping'));
    await Promise.allSettled([...this.background]);
    this.client?.close();
    this.client = undefined;
  }

  // --- intake -------------------------------------------------------------------------------

  private onFileComplete(path: string): void {
    if (this.stopping || this.activePaths.has(path)) return;
    const fileName = basename(path);
    if (!isSupportedImageName(fileName)) {
      this.activePaths.add(path);
      const reason = `'${fileName}' is not a .jpg, .jpeg, .tif, .tiff or .png file; not uploaded`;
      this.runInBackground(this.fileUnsupported(path, reason));
      return;
    }
    if (this.spoolFull) {
      this.deferred.add(path);
      return;
    }
    this.activePaths.add(path);
    this.runInBackground(this.serialized(() => this.admit(path)));
  }

  /** Hashes a complete hot-folder file and moves it into the spool (or defers it when the spool is full). */
  private async admit(path: string): Promise<void> {
    try {
      if (this.stopping) return;
      if (this.spoolFull || !this.spool.hasRoomFor((await stat(path)).size)) {
        this.deferred.add(path);
        this.setSpoolFull(true);
        return;
      }
      const completedAt = performance.now();
      const header = await describeImageFile(path, this.options);
      const existing = this.spool.get(header.idempotencyKey);
      if (existing) {
        await this.spool.addName(existing, path);
        this.logger.info({ fileName: header.fileName, sameAs: existing.record.names[0] }, 'same bytes as a spooled image: filed with its outcome');
      } else {
        // Durable in the spool from here: sent whatever happens to the hot-folder file next.
        this.track(await this.spool.admit(header, path), completedAt);
        this.logger.debug({ fileName: header.fileName, sizeBytes: header.sizeBytes, key: header.idempotencyKey }, 'image spooled');
      }
      await this.spool.removeHotFile(path).catch((error: unknown) => {
        // Left in the hot folder it is recognized at the next start as the same bytes, and filed with its outcome.
        this.logger.warn({ err: error, path }, 'spooled, but cannot remove the file from the hot folder');
      });
    } catch (error) {
      const vanished = (error as NodeJS.ErrnoException).code === 'ENOENT';
      this.logger[vanished ? 'info' : 'error']({ err: error, path }, vanished ? 'file vanished before it was spooled' : 'cannot spool the file; left in the hot folder');
    } finally {
      this.activePaths.delete(path);
    }
  }

  private track(entry: SpoolEntry, completedAt: number): void {
    const { header } = entry.record;
    if (this.images.has(header.idempotencyKey)) return;
    this.images.set(header.idempotencyKey, { header, entry, state: 'queued', retryableRejections: 0, completedAt, sentAt: 0 });
    this.queue.push(header.idempotencyKey);
    this.pump();
  }

  private setSpoolFull(full: boolean): void {
    if (full === this.spoolFull) return;
    this.spoolFull = full;
    this.metrics.spoolFull.set(full ? 1 : 0);
    const { spoolMaxBytes, spoolMaxImages } = this.options;
    const state = { images: this.spool.images, bytes: this.spool.bytes, spoolMaxImages, spoolMaxBytes, waitingInHotFolder: this.deferred.size };
    if (full) this.logger.error(state, 'SPOOL FULL: new images stay in the hot folder until verdicts free space (is the coordinator reachable?)');
    else this.logger.info(state, 'spool has room again: picking up the waiting images');
  }

  /** Room freed up: files left in the hot folder go through admission again (in arrival order). */
  private retryDeferred(): void {
    if (this.stopping || this.deferred.size === 0) {
      if (this.deferred.size === 0) this.setSpoolFull(false);
      return;
    }
    if (!this.spool.hasRoomFor(0)) return;
    const waiting = [...this.deferred];
    this.deferred.clear();
    this.setSpoolFull(false);
    for (const path of waiting) this.onFileComplete(path);
  }

  // --- connection ---------------------------------------------------------------------------

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.stopping || !this.client) return;
    const session: InspectionSession = this.client.openSession({
      onResponse: (response) => this.onResponse(response),
      onClosed: (error) => this.onSessionClosed(session, error),
    });
    this.session = session;
    this.logger.debug({ coordinatorAddress: this.options.coordinatorAddress }, 'Inspect stream opened');
    this.pump();
  }

  private onSessionClosed(session: InspectionSession, error: QuicksilverError): void {
    if (this.session !== session) return;
    this.session = undefined;
    const interrupted = [...this.images.entries()].filter(([, image]) => isInFlight(image));
    for (const [, image] of interrupted) this.settle(image, 'queued');
    interrupted.sort(([, a], [, b]) => a.completedAt - b.completedAt);
    this.queue = [...interrupted.map(([key]) => key), ...this.queue];
    this.notifyInFlightChanged();
    if (this.stopping) return;
    const delayMs = backoffDelayMs(this.reconnectAttempt, this.options.reconnectBaseDelayMs, this.options.reconnectMaxDelayMs);
    this.reconnectAttempt += 1;
    this.logger.warn({ code: error.code, reason: error.message, resend: interrupted.length, delayMs }, 'stream lost: reconnecting');
    this.emit('disconnected', error);
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }

  // --- upload -------------------------------------------------------------------------------

  /** Starts the next upload when the stream is up, no upload is running and a slot is free. */
  private pump(): void {
    const session = this.session;
    if (this.uploading || this.stopping || !session || session.closed || this.inFlight >= this.options.maxInFlight) return;
    const holdMs = this.holdUntil - performance.now();
    if (holdMs > 0) {
      this.holdTimer ??= setTimeout(() => {
        this.holdTimer = undefined;
        this.pump();
      }, holdMs);
      return;
    }
    let image: TrackedImage | undefined;
    while (!image && this.queue.length > 0) {
      const candidate = this.images.get(this.queue.shift() as string);
      if (candidate?.state === 'queued') image = candidate;
    }
    if (!image) return;
    this.uploading = true;
    void this.upload(image, session).finally(() => {
      this.uploading = false;
      this.pump();
    });
  }

  private async upload(image: TrackedImage, session: InspectionSession): Promise<void> {
    const upload = new AbortController();
    Object.assign(image, { state: 'uploading', sentAt: performance.now(), upload });
    try {
      const imageUri = this.referenceFor(image);
      image.sentByReference = imageUri !== undefined;
      if (!imageUri) image.bytesSentBefore = true;
      if (imageUri) await session.send({ header: { ...image.header, imageUri } });
      else await sendImage(session, image.header, image.entry.imagePath, { chunkBytes: CHUNK_BYTES, signal: upload.signal, onRead: this.deps.onRead });
      if (image.state !== 'uploading') return;
      image.state = 'awaiting';
      image.timer = setTimeout(() => this.onVerdictOverdue(image), this.options.verdictTimeoutMs);
    } catch (error) {
      if (image.state !== 'uploading' || session.closed) return; // answered early, or requeued with the stream
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.logger.error({ path: image.entry.imagePath, names: image.entry.record.names }, 'spooled image removed by someone else: dropped');
        this.forget(image);
        this.runInBackground(this.serialized(() => this.spool.remove(image.entry)));
        return;
      }
      // The coordinator may hold a partial upload for this key: start a clean stream.
      this.logger.error({ err: error, fileName: image.header.fileName }, 'upload failed: recycling the stream');
      session.close(new QuicksilverError('UPLOAD_ABORTED', `upload of ${image.header.fileName} failed: ${(error as Error).message}`));
    }
  }

  /** Where the workers read the image, or undefined when its bytes are sent. */
  private referenceFor(image: TrackedImage): string | undefined {
    const prefix = this.options.spoolUriPrefix;
    if (!prefix || image.sendBytes || performance.now() < this.referencesPausedUntil) return undefined;
    if (this.referencesUnconfirmed) {
      // One probe at a time: storage that is still broken costs one fallback, not one per image in flight.
      const probe = this.referenceProbe;
      if (probe !== undefined && probe !== image.header.idempotencyKey && this.images.has(probe)) return undefined;
      if (image.bytesSentBefore) return undefined;
      this.referenceProbe = image.header.idempotencyKey;
    }
    return `${prefix}${prefix.endsWith('/') ? '' : '/'}${basename(image.entry.imagePath)}`;
  }

  /** Send this image's bytes from now on, and every image's for referencePauseMs; then probe. */
  private stopReferencing(image: TrackedImage, reason: string): void {
    image.sendBytes = true;
    const pauseMs = this.options.referencePauseMs;
    this.referencesPausedUntil = performance.now() + pauseMs;
    this.referencesUnconfirmed = true;
    // A probe still out by reference stays the probe: its verdict can still resume references.
    if (this.referenceProbe === image.header.idempotencyKey) this.referenceProbe = undefined;
    this.logger.warn({ fileName: image.header.fileName, reason, pauseMs },
      'image by reference unreadable or unanswered: sending its bytes (check spoolUriPrefix and the workers\' referenceAllowedRoots and mounts)');
  }

  private onVerdictOverdue(image: TrackedImage): void {
    const reason = `no verdict for ${image.header.fileName} within ${this.options.verdictTimeoutMs} ms`;
    // E.g. a coordinator or worker too old to know references, waiting for bytes that never come.
    if (image.sentByReference) this.stopReferencing(image, reason);
    this.logger.warn({ fileName: image.header.fileName }, `${reason}: recycling the stream`);
    this.session?.close(new QuicksilverError('DEADLINE_EXCEEDED', reason));
  }

  // --- answers ------------------------------------------------------------------------------

  private onResponse(response: InspectResponse__Output): void {
    this.reconnectAttempt = 0; // the coordinator is answering: the next loss starts from the base delay
    if (response.accepted) this.logger.debug({ key: response.accepted.idempotencyKey }, 'image accepted');
    else if (response.verdict) this.onVerdict(response.verdict);
    else if (response.rejection) this.onRejection(response.rejection);
  }

  private inFlightImage(key: string, kind: string): TrackedImage | undefined {
    const image = this.images.get(key);
    if (image && isInFlight(image)) return image;
    this.logger.warn({ key }, `${kind} for an image not in flight: ignored`);
    return undefined;
  }

  private onVerdict(verdict: Verdict__Output): void {
    const image = this.inFlightImage(verdict.idempotencyKey, 'verdict');
    if (!image) return;
    if (verdict.sha256 && verdict.sha256 !== image.header.sha256) {
      // Never file a verdict about other bytes: handled as a retryable answer, so the image is sent again.
      this.logger.error({ fileName: image.header.fileName, sha256: image.header.sha256, verdictSha256: verdict.sha256 }, 'verdict for other bytes: not filed');
      this.onRejection({ idempotencyKey: verdict.idempotencyKey, code: 'INTERNAL', retryable: true,
        reason: `the coordinator answered with the verdict of other bytes (SHA-256 ${verdict.sha256}, this image ${image.header.sha256})` });
      return;
    }
    this.forget(image);
    if (image.sentByReference && image.header.idempotencyKey === this.referenceProbe) {
      this.referencesUnconfirmed = false;
      this.referenceProbe = undefined;
      this.logger.info({ fileName: image.header.fileName }, 'an image by reference got its verdict: sending images by reference again');
    }
    const { fileName, barcode } = image.header;
    const latencyMs = performance.now() - image.completedAt;
    this.display.verdict(fileName, verdict, latencyMs);
    this.logger.info(
      {
        barcode, fileName, label: verdict.label, score: verdict.score, flagged: verdict.flagged, threshold: verdict.threshold,
        modelName: verdict.modelName, modelVersion: verdict.modelVersion, workerId: verdict.workerId,
        latencyMs: Math.round(latencyMs), roundTripMs: Math.round(performance.now() - image.sentAt), coordinatorTotalMs: verdict.timings?.totalMs,
      },
      verdict.flagged ? 'verdict: FLAGGED' : 'verdict',
    );
    this.fileOutcome(image.entry, (name) => this.filer.fileVerdict(image.entry.imagePath, verdict, { name, keepSource: true }), (name, filedPath) =>
      this.emit('verdict', { fileName: name, sourcePath: join(this.options.watchDir, name), filedPath, verdict, latencyMs }),
    );
  }

  private onRejection(rejection: Rejection__Output): void {
    const image = this.inFlightImage(rejection.idempotencyKey, 'rejection');
    if (!image) return;
    const { fileName } = image.header;
    if (!rejection.retryable) {
      this.forget(image);
      const { code, reason, idempotencyKey } = rejection;
      for (const name of image.entry.record.names) this.showRejection(name, code, reason);
      this.fileOutcome(image.entry, (name) => this.filer.fileRejection(image.entry.imagePath, { code, reason, idempotencyKey }, new Date(), { name, keepSource: true }),
        (name, filedPath) => this.emit('rejection', { fileName: name, sourcePath: join(this.options.watchDir, name), filedPath, code, reason }));
      return;
    }
    if (rejection.code === 'IMAGE_REFERENCE_UNREADABLE' && !image.sendBytes) {
      // No worker could read it where the agent said: send the bytes now, and for a while every image's bytes.
      this.stopReferencing(image, rejection.reason);
      this.emit('retry', { fileName, code: rejection.code, reason: rejection.reason, attempt: image.retryableRejections + 1, delayMs: 0 });
      this.settle(image, 'queued');
      this.queue.unshift(image.header.idempotencyKey);
      this.notifyInFlightChanged();
      this.pump();
      return;
    }
    image.retryableRejections += 1;
    const delayMs = backoffDelayMs(image.retryableRejections - 1, this.options.retryBaseDelayMs, this.options.retryMaxDelayMs);
    this.settle(image, 'backoff');
    image.timer = setTimeout(() => this.requeue(image), delayMs);
    // A saturated or unavailable fleet slows the whole station down, not just this image.
    if (rejection.code === 'OVERLOADED' || rejection.code === 'UNAVAILABLE') this.holdUntil = Math.max(this.holdUntil, performance.now() + delayMs);
    this.display.retry(fileName, rejection.code, rejection.reason, delayMs);
    this.logger.warn({ fileName, code: rejection.code, reason: rejection.reason, attempt: image.retryableRejections, delayMs }, 'retryable rejection: will resend');
    this.emit('retry', { fileName, code: rejection.code, reason: rejection.reason, attempt: image.retryableRejections, delayMs });
    this.notifyInFlightChanged();
    this.pump();
  }

  private showRejection(fileName: string, code: string, reason: string): void {
    this.display.rejection(fileName, code, reason);
    this.logger.warn({ fileName, code, reason }, 'rejected');
  }

  /** A file the agent never uploads (unsupported name): filed from the hot folder directly. */
  private async fileUnsupported(path: string, reason: string): Promise<void> {
    const fileName = basename(path);
    this.showRejection(fileName, 'UNSUPPORTED_FORMAT', reason);
    try {
      const filedPath = await this.filer.fileRejection(path, { code: 'UNSUPPORTED_FORMAT', reason });
      this.activePaths.delete(path);
      this.emit('rejection', { fileName, sourcePath: path, filedPath, code: 'UNSUPPORTED_FORMAT', reason });
    } catch (error) {
      this.logger.error({ err: error, path }, 'filing failed: the file stays in the hot folder until the agent restarts');
    }
  }

  /**
   * Files the outcome under every name of the entry, takes the entry out of the spool, then reports each
   * filing. A failure (a full or unwritable done/ or rejected/) is retried with backoff until it succeeds or
   * the agent stops; the image stays in the spool meanwhile (and a restart files it from there). Filing a
   * name already filed with this key is a no-op, so a retry after a partial filing files each name once.
   */
  private fileOutcome(entry: SpoolEntry, file: (name: string) => Promise<string>, done: (name: string, filedPath: string) => void, attempt = 0): void {
    this.runInBackground(this.serialized(async () => {
      const filed: Array<[name: string, filedPath: string]> = [];
      try {
        for (const name of entry.record.names) filed.push([name, await file(name)]);
        await this.spool.remove(entry);
      } catch (error) {
        if (this.stopping) {
          this.logger.error({ err: error, names: entry.record.names }, 'filing failed: the image stays in the spool and is filed at the next start');
          return;
        }
        const delayMs = backoffDelayMs(attempt, this.options.retryBaseDelayMs, this.options.retryMaxDelayMs);
        this.logger.error({ err: error, names: entry.record.names, attempt: attempt + 1, retryInMs: Math.round(delayMs) }, 'filing failed: the image stays in the spool; retrying');
        const timer = setTimeout(() => {
          this.filingRetries.delete(timer);
          if (!this.stopping) this.fileOutcome(entry, file, done, attempt + 1);
        }, delayMs);
        this.filingRetries.add(timer);
        return;
      }
      for (const [name, filedPath] of filed) done(name, filedPath);
      this.retryDeferred();
    }));
  }

  // --- bookkeeping --------------------------------------------------------------------------

  /** Ends the current attempt of an image (timer, upload) and moves it to `state`. */
  private settle(image: TrackedImage, state: ImageState): void {
    clearTimeout(image.timer);
    image.timer = undefined;
    image.upload?.abort();
    image.upload = undefined;
    image.state = state;
  }

  private requeue(image: TrackedImage): void {
    this.settle(image, 'queued');
    this.queue.push(image.header.idempotencyKey);
    this.notifyInFlightChanged();
    this.pump();
  }

  /** The image has its final answer (or is gone): free its slot. */
  private forget(image: TrackedImage): void {
    this.settle(image, 'queued');
    this.images.delete(image.header.idempotencyKey);
    this.notifyInFlightChanged();
    this.pump();
  }

  private notifyInFlightChanged(): void {
    const waiters = this.inFlightChanged;
    this.inFlightChanged = [];
    for (const wake of waiters) wake();
  }

  private serialized(operation: () => Promise<void>): Promise<void> {
    const result = this.spoolOps.then(operation);
    this.spoolOps = result.catch(() => undefined);
    return result;
  }

  private runInBackground(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) => this.logger.error({ err: error }, 'background task failed'));
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }
}
