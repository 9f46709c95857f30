// The worker's stream to the coordinator: registers, heartbeats, reassembles tasks from chunks (or
// reads the image of a task sent by reference), classifies them and returns results. Reconnects with jittered exponential backoff; tasks in
// flight when the stream breaks are abandoned (the coordinator re-dispatches them). Once registered it
// opens a second, express stream on which the coordinator sends realtime tasks (worker.proto); losing
// either stream drops both and reconnects.
import type { CoordinatorMessage__Output } from '../../../common/src/generated/quicksilver/v1/CoordinatorMessage.js';
import type { TaskHeader__Output } from '../../../common/src/generated/quicksilver/v1/TaskHeader.js';
import type { WorkerMessage } from '../../../common/src/generated/quicksilver/v1/WorkerMessage.js';
import type { WorkerLinkClient } from '../../../common/src/generated/quicksilver/v1/WorkerLink.js';
import { channelOptions, workerProto, type grpc } from '../../../common/src/adapters/grpc-services.js';
import { clientSecurity, type ClientSecurity } from '../../../common/src/adapters/grpc-security.js';
import type { ClientSecuritySettings } from '../../../common/src/security-config.js';
import { QuicksilverError, toQuicksilverError } from '../../../common/src/errors.js';
import type { Component } from '../../../common/src/lifecycle.js';
import type { Logger } from '../../../common/src/logger.js';

/** What the link needs from the inference engine. */
export interface TaskClassifier {
  readonly executionProvider: string;
  readonly device: string;
  readonly models: { name: string; version: string }[];
  classify(request: { bytes: Buffer; modelName?: string; signal?: AbortSignal; priority?: 'realtime' | 'bulk' }): Promise<{
    label: string; score: number; threshold: number; flagged: boolean; modelName: string; modelVersion: string;
    decodeMs: number; inferenceMs: number; batchSize: number; queueMs: number;
  }>;
}

export interface CoordinatorLinkOptions {
  coordinatorAddress: string;
  /** TLS, client certificate and bearer token (docs/security.md). */
  security: ClientSecuritySettings;
  workerId: string;
  maxBatchSize: number;
  maxInFlight: number;
  /** Priority classes announced at registration: the coordinator sends only those. */
  priorities: readonly ('realtime' | 'bulk')[];
  reconnectMaxDelayMs: number;
  classifier: TaskClassifier;
  /** Whether the worker reads images sent by reference (announced at registration). */
  readsImageReferences: boolean;
  /** Reads the image of a task sent by reference (image_uri), checked against its size and SHA-256. */
  readReference(reference: { uri: string; sizeBytes: number; sha256: string }, signal: AbortSignal): Promise<Buffer>;
  /** The buffer an image sent in several chunks is assembled in (default Buffer.allocUnsafe; the worker lends ImageBufferPool's). */
  allocateImage?: (size: number) => Buffer;
  logger: Logger;
  /** False while the worker cannot run tasks (its engine not ready): heartbeats then say draining, so the
   *  coordinator sends it nothing new; true again = it takes tasks again (call announceReadiness() on a change). */
  acceptsTasks?: () => boolean;
  /** Called with true once registered, false when the link drops. */
  onConnectedChange?: (connected: boolean) => void;
}

/** Minimum stay after announcing a drain (covers the heartbeat's trip to the coordinator and tasks already on the wire). */
const DRAIN_SETTLE_MS = 500;

interface AssemblingTask {
  header: TaskHeader__Output;
  /** The stream the header came on: its chunks follow there, and its answer goes back there. */
  stream: LinkStream;
  bytes: Buffer;
  received: number;
}

type LinkStream = grpc.ClientDuplexStream<WorkerMessage, CoordinatorMessage__Output>;

export class CoordinatorLink implements Component {
  readonly name = 'coordinator-link';
  private readonly client: WorkerLinkClient;
  private readonly security: ClientSecurity;
  private stream: LinkStream | undefined;
  private express: LinkStream | undefined;
  private readonly assembling = new Map<string, AssemblingTask>();
  /** Tasks cancelled (and already answered) while their chunks were still arriving: the rest is dropped. */
  private readonly droppingChunks = new Set<string>();
  private readonly running = new Map<string, AbortController>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopping = false;
  private registered = false;

  constructor(private readonly options: CoordinatorLinkOptions) {
    this.security = clientSecurity(options.security, options.logger, 'worker');
    // The channel's own reconnect backoff (gRPC default: up to 120 s) is capped like the link's, so a
    // restarted coordinator is rejoined within reconnectMaxDelayMs.
    this.client = new workerProto.WorkerLink(options.coordinatorAddress, this.security.credentials, {
      ...channelOptions,
      ...this.security.channelOptions,
      'grpc.initial_reconnect_backoff_ms': Math.min(250, options.reconnectMaxDelayMs),
      'grpc.max_reconnect_backoff_ms': options.reconnectMaxDelayMs,
    });
  }

  get isRegistered(): boolean {
    return this.registered;
  }

  get inFlight(): number {
    return this.running.size + this.assembling.size;
  }

  async start(): Promise<void> {
    this.connect();
  }

  /** Stops taking tasks; finishes running ones until the signal aborts; then closes the stream. */
  async stop(signal: AbortSignal): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    // Intake stops: the coordinator sends nothing new once it reads this; a task already on the wire is refused as retryable.
    if (this.registered) this.stream?.write({ heartbeat: { inFlight: this.inFlight, sentAt: new Date().toISOString(), draining: true } });
    // Stay at least DRAIN_SETTLE_MS, so tasks the coordinator sent before it read the heartbeat arrive and are answered.
    const drainStart = Date.now();
    while ((this.inFlight > 0 || Date.now() - drainStart < DRAIN_SETTLE_MS) && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, 25));
    for (const controller of this.running.values()) controller.abort();
    this.teardown();
    this.client.close();
  }

  private connect(): void {
    if (this.stopping) return;
    const { logger, classifier } = this.options;
    const stream = this.client.Connect(this.security.callMetadata());
    this.stream = stream;
    stream.write({
      register: {
        workerId: this.options.workerId,
        executionProvider: classifier.executionProvider,
        device: classifier.device,
        models: classifier.models,
        maxBatchSize: this.options.maxBatchSize,
        maxInFlight: this.options.maxInFlight,
        priorities: this.options.priorities.map((p) => (p === 'bulk' ? 'PRIORITY_BULK' : 'PRIORITY_REALTIME')),
        readsImageReferences: this.options.readsImageReferences,
      },
    });
    stream.on('data', (message: CoordinatorMessage__Output) => this.onMessage(stream, message));
    const lost = (reason: string) => {
      if (this.stream !== stream) return;
      this.teardown();
      if (this.stopping) return;
      const delay = Math.min(this.options.reconnectMaxDelayMs, 250 * 2 ** Math.min(this.failures, 8)) * (0.5 + Math.random() / 2);
      this.failures++;
      logger.warn({ reason, retryInMs: Math.round(delay) }, 'coordinator link lost; reconnecting');
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    };
    stream.on('error', (error: grpc.ServiceError) => lost(error.details || error.message));
    stream.on('end', () => lost('coordinator closed the stream'));
    this.lostMain = lost;
  }

  private lostMain: ((reason: string) => void) | undefined;

  /** After Registered: the express stream for realtime tasks. Its loss is the loss of the link. */
  private openExpress(main: LinkStream): void {
    const express = this.client.Connect(this.security.callMetadata());
    this.express = express;
    express.write({ attachExpress: { workerId: this.options.workerId } });
    express.on('data', (message: CoordinatorMessage__Output) => this.onMessage(express, message));
    const lost = (reason: string) => {
      if (this.express === express && this.stream === main) this.lostMain?.(`express stream: ${reason}`);
    };
    express.on('error', (error: grpc.ServiceError) => lost(error.details || error.message));
    express.on('end', () => lost('coordinator closed the express stream'));
  }

  /** Sends a heartbeat now, e.g. when the engine's readiness changed (see acceptsTasks). */
  announceReadiness(): void {
    this.beat();
  }

  private get acceptingTasks(): boolean {
    return this.options.acceptsTasks?.() ?? true;
  }

  /** draining = shutting down, or not taking tasks now (engine not ready). */
  private beat(): void {
    if (!this.registered || !this.stream) return;
    this.stream.write({ heartbeat: {
      inFlight: this.inFlight, sentAt: new Date().toISOString(), draining: this.stopping || !this.acceptingTasks, models: this.options.classifier.models,
    } });
  }

  private isCurrent(stream: LinkStream): boolean {
    return stream === this.stream || stream === this.express;
  }

  private teardown(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    if (this.registered) this.options.onConnectedChange?.(false);
    this.registered = false;
    this.assembling.clear();
    this.droppingChunks.clear();
    // Running tasks are abandoned: the coordinator re-dispatches them when the stream ends.
    for (const controller of this.running.values()) controller.abort();
    this.running.clear();
    for (const stream of [this.stream, this.express]) {
      if (!stream) continue;
      stream.removeAllListeners('data');
      stream.on('error', () => {});
      stream.end();
      stream.cancel();
    }
    this.stream = undefined;
    this.express = undefined;
  }

  private onMessage(stream: LinkStream, message: CoordinatorMessage__Output): void {
    if (message.registered) {
      this.registered = true;
      this.failures = 0;
      this.options.onConnectedChange?.(true);
      this.options.logger.info({ coordinator: this.options.coordinatorAddress, heartbeatIntervalMs: message.registered.heartbeatIntervalMs }, 'registered with coordinator');
      this.heartbeatTimer = setInterval(() => this.beat(), Math.max(100, message.registered.heartbeatIntervalMs));
      if (!this.acceptingTasks) this.beat(); // not ready at registration: say so at once
      this.openExpress(stream);
    } else if (message.task) {
      const header = message.task;
      if (header.imageUri) {
        this.runTask(stream, header); // by reference: no chunks follow
        return;
      }
      if (header.sizeBytes === 0) {
        this.runTask(stream, header, Buffer.alloc(0));
        return;
      }
      this.assembling.set(header.taskId, { header, stream, bytes: Buffer.alloc(0), received: 0 });
    } else if (message.chunk) {
      const { taskId, data, last } = message.chunk;
      if (this.droppingChunks.has(taskId)) {
        if (last) this.droppingChunks.delete(taskId);
        return;
      }
      const task = this.assembling.get(taskId);
      if (!task) return;
      const declared = task.header.sizeBytes;
      if (task.received + data.length > declared) {
        this.assembling.delete(taskId);
        this.sendError(stream, taskId, new QuicksilverError('SIZE_MISMATCH', `task ${taskId}: more bytes than the declared ${declared}`));
        return;
      }
      if (task.received === 0 && last) task.bytes = data; // one-chunk image: keep the received buffer, no copy
      else {
        if (task.bytes.length === 0) task.bytes = (this.options.allocateImage ?? Buffer.allocUnsafe)(declared);
        data.copy(task.bytes, task.received);
      }
      task.received += data.length;
      if (last) {
        this.assembling.delete(taskId);
        if (task.received !== declared) {
          this.sendError(stream, taskId, new QuicksilverError('SIZE_MISMATCH', `task ${taskId}: ${task.received} of ${declared} bytes arrived`));
        } else {
          this.runTask(stream, task.header, task.bytes);
        }
      }
    } else if (message.cancel) {
      this.cancel(message.cancel.taskId);
    }
  }

  /**
   * The coordinator gave up on a task (its deadline passed) but keeps its credit until the worker answers:
   * every task sent here is answered exactly once, a cancelled one too. A cancel may come on the main
   * stream while a realtime task's chunks still arrive on the express stream: it is answered at once
   * (DEADLINE_EXCEEDED) and its remaining chunks are dropped. A running task is aborted and answered
   * when its run ends (with the error, or the result if the run had already started). A cancel for a
   * task not held here (answered already, or the second copy of the cancel) is ignored.
   */
  private cancel(taskId: string): void {
    const error = new QuicksilverError('DEADLINE_EXCEEDED', `task ${taskId} was cancelled by the coordinator (past its deadline)`);
    const assembling = this.assembling.get(taskId);
    if (assembling) {
      this.assembling.delete(taskId);
      this.droppingChunks.add(taskId); // its last chunk has not come yet
      this.sendError(assembling.stream, taskId, error);
      return;
    }
    this.running.get(taskId)?.abort(error);
  }

  /** Classifies `bytes`, or the image at header.imageUri when `bytes` is undefined, and answers on `stream`. */
  private runTask(stream: LinkStream, header: TaskHeader__Output, bytes?: Buffer): void {
    if (this.stopping) {
      this.sendError(stream, header.taskId, new QuicksilverError('SHUTTING_DOWN', 'the worker is shutting down'));
      return;
    }
    const controller = new AbortController();
    this.running.set(header.taskId, controller);
    const readStart = performance.now();
    let readMs = 0;
    const image = bytes ? Promise.resolve(bytes)
      : this.options.readReference({ uri: header.imageUri, sizeBytes: Number(header.sizeBytes), sha256: header.sha256 }, controller.signal)
        .then((read) => ((readMs = performance.now() - readStart), read));
    image.then((read) => this.options.classifier.classify({
      bytes: read, modelName: header.modelName || undefined, signal: controller.signal, priority: header.priority === 'PRIORITY_BULK' ? 'bulk' : 'realtime',
    })).then(
      (result) => {
        if (this.running.get(header.taskId) !== controller || !this.isCurrent(stream)) return;
        this.running.delete(header.taskId);
        stream.write({
          result: {
            taskId: header.taskId,
            classification: {
              label: result.label, score: result.score, threshold: result.threshold, flagged: result.flagged,
              modelName: result.modelName, modelVersion: result.modelVersion,
            },
            decodeMs: result.decodeMs, inferenceMs: result.inferenceMs, batchSize: result.batchSize, queueMs: result.queueMs, readMs,
          },
        });
      },
      (error: unknown) => {
        if (this.running.get(header.taskId) !== controller || !this.isCurrent(stream)) return;
        this.running.delete(header.taskId);
        this.sendError(stream, header.taskId, toQuicksilverError(error));
      },
    );
  }

  private sendError(stream: LinkStream, taskId: string, error: QuicksilverError): void {
    this.options.logger.warn({ taskId, code: error.code, reason: error.message }, 'task failed');
    stream.write({ result: { taskId, error: { code: error.code, reason: error.message, retryable: error.retryable } } });
  }
}
