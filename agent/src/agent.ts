// The scanner-station agent: hot folder -> one long-lived Inspect stream -> verdict -> operator
// display + filing. Images are uploaded one at a time (in detection order) while up to maxInFlight
// await their verdicts. Retryable rejections and lost streams never file an image: it stays in the
// hot folder and is resent with the same idempotency key after a jittered backoff.
import { EventEmitter } from 'node:events';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { QuicksilverError } from '../../common/src/errors.js';
import type { Rejection__Output } from '../../common/src/generated/quicksilver/v1/Rejection.js';
import type { InspectResponse__Output } from '../../common/src/generated/quicksilver/v1/InspectResponse.js';
import type { Verdict__Output } from '../../common/src/generated/quicksilver/v1/Verdict.js';
import type { Component } from '../../common/src/lifecycle.js';
import type { Logger } from '../../common/src/logger.js';
import { CHUNK_BYTES, InspectionClient } from './adapters/inspection-client.js';
import type { InspectionSession } from './adapters/inspection-session.js';
import { backoffDelayMs } from './backoff.js';
import type { AgentOptions } from './config.js';
import { HotFolder } from './hot-folder.js';
import { describeImageFile, isSupportedImageName, type ImageHeader } from './image-header.js';
import { sendImage } from './image-sender.js';
import { OperatorDisplay } from './operator-display.js';
import { OutcomeFiler } from './outcome-filer.js';

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
}

type ImageState = 'queued' | 'uploading' | 'awaiting' | 'backoff';

interface TrackedImage {
  header: ImageHeader;
  /** Files holding these bytes; the first is uploaded, all are filed with the outcome. */
  paths: string[];
  state: ImageState;
  retryableRejections: number;
  completedAt: number;
  sentAt: number;
  upload?: AbortController;
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
  private client: InspectionClient | undefined;
  private session: InspectionSession | undefined;
  private readonly images = new Map<string, TrackedImage>();
  /** Keys waiting to be uploaded, oldest first. */
  private queue: string[] = [];
  /** Hot-folder paths being handled (from completion until filed). */
  private readonly activePaths = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  private describing: Promise<void> = Promise.resolve();
  private uploading = false;
  /** Backpressure: after an OVERLOADED or UNAVAILABLE answer no new upload starts before this time. */
  private holdUntil = 0;
  private holdTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private inFlightChanged: Array<() => void> = [];

  constructor(
    private readonly options: AgentOptions,
    private readonly deps: AgentDependencies,
  ) {
    super();
    this.logger = deps.logger.child({ component: 'agent', stationId: options.stationId });
    this.display = deps.display ?? new OperatorDisplay(undefined, options.display);
    this.filer = new OutcomeFiler(options);
    this.hotFolder = new HotFolder({
      dir: options.watchDir,
      stabilityThresholdMs: options.stabilityThresholdMs,
      pollIntervalMs: options.pollIntervalMs,
      exclude: [options.doneDir, options.rejectedDir],
    });
  }

  /** Images sent (or being sent) that have no answer yet. */
  get inFlight(): number {
    return [...this.images.values()].filter(isInFlight).length;
  }

  async start(): Promise<void> {
    await this.filer.prepare();
    this.client = new InspectionClient(this.options.coordinatorAddress, this.options);
    this.connect();
    this.hotFolder.on('file', (path) => this.onFileComplete(path));
    this.hotFolder.on('error', (error) => this.logger.error({ err: error }, 'hot folder watch error'));
    await this.hotFolder.start();
    const { watchDir, doneDir, rejectedDir, coordinatorAddress, maxInFlight } = this.options;
    this.logger.info({ watchDir, doneDir, rejectedDir, coordinatorAddress, maxInFlight }, 'agent watching the hot folder');
  }

  /** Stops intake, waits (until `signal` aborts) for the verdicts of images already sent, then closes. */
  async stop(signal: AbortSignal): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.hotFolder.stop();
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.holdTimer);
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
    if (unanswered > 0) this.logger.warn({ unanswered }, 'grace time over: images without a verdict stay in the hot folder');
    this.session?.close(new QuicksilverError('SHUTTING_DOWN', 'the agent is stopping'));
    await Promise.allSettled([...this.background]);
    this.client?.close();
    this.client = undefined;
  }

  // --- intake -------------------------------------------------------------------------------

  private onFileComplete(path: string): void {
    if (this.stopping || this.activePaths.has(path)) return;
    this.activePaths.add(path);
    const fileName = basename(path);
    if (!isSupportedImageName(fileName)) {
      const reason = `'${fileName}' is not a .jpg, .jpeg, .tif, .tiff or .png file; not uploaded`;
      this.runInBackground(this.fileRejection([path], 'UNSUPPORTED_FORMAT', reason));
      return;
    }
    // Hash one file at a time: the disk is read sequentially, in arrival order.
    this.describing = this.describing.then(() => this.describeAndEnqueue(path));
    this.runInBackground(this.describing);
  }

  private async describeAndEnqueue(path: string): Promise<void> {
    if (this.stopping) return;
    const completedAt = performance.now();
    let header: ImageHeader;
    try {
      header = await describeImageFile(path, this.options);
    } catch (error) {
      this.activePaths.delete(path);
      const vanished = (error as NodeJS.ErrnoException).code === 'ENOENT';
      this.logger[vanished ? 'info' : 'error']({ err: error, path }, vanished ? 'file vanished before upload' : 'cannot read the file; left in place');
      return;
    }
    const existing = this.images.get(header.idempotencyKey);
    if (existing) {
      existing.paths.push(path);
      this.logger.info({ fileName: header.fileName, sameAs: existing.header.fileName }, 'same bytes as an image in flight: filed with its outcome');
      return;
    }
    this.images.set(header.idempotencyKey, { header, paths: [path], state: 'queued', retryableRejections: 0, completedAt, sentAt: 0 });
    this.queue.push(header.idempotencyKey);
    this.logger.debug({ fileName: header.fileName, sizeBytes: header.sizeBytes, key: header.idempotencyKey }, 'image queued');
    this.pump();
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
      await sendImage(session, image.header, image.paths[0], { chunkBytes: CHUNK_BYTES, signal: upload.signal, onRead: this.deps.onRead });
      if (image.state !== 'uploading') return;
      image.state = 'awaiting';
      image.timer = setTimeout(() => this.onVerdictOverdue(image), this.options.verdictTimeoutMs);
    } catch (error) {
      if (image.state !== 'uploading' || session.closed) return; // answered early, or requeued with the stream
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.logger.info({ path: image.paths[0] }, 'file vanished before upload');
        this.activePaths.delete(image.paths.shift() as string);
        if (image.paths.length > 0) this.requeue(image);
        else this.forget(image);
        return;
      }
      // The coordinator may hold a partial upload for this key: start a clean stream.
      this.logger.error({ err: error, fileName: image.header.fileName }, 'upload failed: recycling the stream');
      session.close(new QuicksilverError('UPLOAD_ABORTED', `upload of ${image.header.fileName} failed: ${(error as Error).message}`));
    }
  }

  private onVerdictOverdue(image: TrackedImage): void {
    const reason = `no verdict for ${image.header.fileName} within ${this.options.verdictTimeoutMs} ms`;
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
    this.forget(image);
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
    this.runInBackground(this.fileEach(image.paths, (path) => this.filer.fileVerdict(path, verdict), (path, filedPath) =>
      this.emit('verdict', { fileName: basename(path), sourcePath: path, filedPath, verdict, latencyMs }),
    ));
  }

  private onRejection(rejection: Rejection__Output): void {
    const image = this.inFlightImage(rejection.idempotencyKey, 'rejection');
    if (!image) return;
    const { fileName } = image.header;
    if (!rejection.retryable) {
      this.forget(image);
      this.runInBackground(this.fileRejection(image.paths, rejection.code, rejection.reason));
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

  private async fileRejection(paths: string[], code: string, reason: string): Promise<void> {
    for (const path of paths) {
      this.display.rejection(basename(path), code, reason);
      this.logger.warn({ fileName: basename(path), code, reason }, 'rejected');
    }
    await this.fileEach(paths, (path) => this.filer.fileRejection(path, { code, reason }), (path, filedPath) =>
      this.emit('rejection', { fileName: basename(path), sourcePath: path, filedPath, code, reason }),
    );
  }

  private async fileEach(paths: string[], file: (path: string) => Promise<string>, done: (path: string, filedPath: string) => void): Promise<void> {
    for (const path of paths) {
      try {
        done(path, await file(path));
        this.activePaths.delete(path);
      } catch (error) {
        this.logger.error({ err: error, path }, 'filing failed: the file stays in the hot folder until the agent restarts');
      }
    }
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

  private runInBackground(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) => this.logger.error({ err: error }, 'background task failed'));
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }
}
