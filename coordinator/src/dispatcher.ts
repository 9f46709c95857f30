// Assigns tasks to connected workers. Transport-free: the gRPC adapter registers each worker with a
// WorkerChannel and reports results, heartbeats and disconnects.
// - Credit: a worker never holds more than the maxInFlight it advertised.
// - Routing: among workers serving the task's model and taking its priority class with spare credit, the
//   one expected to answer first (least outstanding work: its measured round trip for the class, scaled by
//   what it already holds; service-estimate.ts); before any measurement the least loaded (in-flight /
//   credit); ties go to the worker idle longest.
// - Failure: a worker that disconnects or misses heartbeats loses its tasks to the queue's front; a task
//   that has lost its worker maxAttempts times is failed for good (poison-image guard).
// - Deadline: each task must finish within taskTimeoutMs of submission, else DEADLINE_EXCEEDED (or NO_WORKER
//   when no worker serving its model was ever there).
// - Models: a task names a model ("name", or "name@version" for one version). It waits in the queue while
//   no connected worker serves it if a worker served it since the coordinator started (one restarting),
//   within unknownModelGraceMs of the start (the fleet reconnecting), or when no worker is connected at
//   all; otherwise it is answered UNKNOWN_MODEL (final). A model a worker retires (its heartbeat stops
//   listing it, hot swap) is unknown again once no connected worker serves it.
import { Counter, Gauge, type Registry } from 'prom-client';
import { isErrorCode, QuicksilverError } from '../../common/src/errors.js';
import type { Logger } from '../../common/src/logger.js';
import { ServiceTimeEstimate } from './service-estimate.js';
import { PRIORITY_CLASSES, TaskQueue, type PriorityClass } from './task-queue.js';

/** An image's bytes: whole, or in the pieces it arrived in (large chunks as they came, tiny ones copied together; forwarded to the worker as they are). */
export type ImageBytes = Buffer | readonly Buffer[];

export interface DispatchTask {
  taskId: string;
  idempotencyKey: string;
  modelName: string;
  contentType: string;
  sha256: string;
  fileName: string;
  sizeBytes: number;
  /** The image; undefined when it is sent by reference (imageUri), which the worker reads. */
  bytes?: ImageBytes;
  /** Where the worker reads the image ('' when `bytes` carries it). */
  imageUri: string;
  /** realtime (conveyor) work is always dispatched before bulk (re-scan) work. */
  priority: PriorityClass;
  /** Station the image came from: stations share a priority class round-robin. */
  stationId: string;
}

export interface WorkerInfo {
  id: string;
  executionProvider: string;
  device: string;
  models: { name: string; version: string }[];
  maxBatchSize: number;
  maxInFlight: number;
  /** Priority classes it takes (a realtime worker beside a niced bulk-only one on a shared host). */
  priorities: readonly PriorityClass[];
  /** It reads images sent by reference (DispatchTask.imageUri); only such workers get those tasks. */
  readsImageReferences: boolean;
}

/** Implemented by the transport adapter: delivers a task's header and bytes to one worker. */
export interface WorkerChannel {
  sendTask(task: DispatchTask): void;
  cancelTask(taskId: string): void;
  close(reason: string): void;
}

export interface WorkerClassification {
  label: string;
  score: number;
  threshold: number;
  flagged: boolean;
  modelName: string;
  modelVersion: string;
}

export interface WorkerTaskResult {
  taskId: string;
  classification?: WorkerClassification;
  error?: { code: string; reason: string; retryable: boolean };
  decodeMs: number;
  inferenceMs: number;
  batchSize: number;
  /** Waiting on the worker for a decode slot and for the batch (0 when the worker does not say). */
  workerQueueMs?: number;
  /** Reading a by-reference image on the worker. */
  readMs?: number;
}

export interface DispatchOutcome {
  classification: WorkerClassification;
  workerId: string;
  executionProvider: string;
  queueMs: number;
  roundTripMs: number;
  decodeMs: number;
  inferenceMs: number;
  workerQueueMs: number;
  readMs: number;
  attempts: number;
}

export interface DispatcherOptions {
  maxQueuedTasks: number;
  taskTimeoutMs: number;
  maxAttempts: number;
  heartbeatTimeoutMs: number;
  /** Share (0..1] of each worker's credit that bulk work may hold. */
  bulkCreditShare: number;
  /** Share [0..1) of maxQueuedTasks that bulk tasks may not take (kept for conveyor images). */
  realtimeReserveFraction?: number;
  /** After construction, how long a model no worker has served yet still waits for one instead of UNKNOWN_MODEL. */
  unknownModelGraceMs: number;
  logger: Logger;
  registry: Registry;
  /** Clock in ms (tests). */
  now?: () => number;
}

interface PendingTask {
  task: DispatchTask;
  priority: PriorityClass;
  station: string;
  submittedAt: number;
  dispatchedAt: number;
  attempts: number;
  workerId?: string;
  everHadWorker: boolean;
  settled: boolean;
  resolve(outcome: DispatchOutcome): void;
  reject(error: QuicksilverError): void;
  timer: NodeJS.Timeout;
  onAbort?: () => void;
  signal?: AbortSignal;
}

interface ConnectedWorker {
  info: WorkerInfo;
  channel: WorkerChannel;
  inFlight: Map<string, PendingTask>;
  /** In-flight tasks of the bulk class (at most bulkCreditShare of the worker's credit). */
  bulkInFlight: number;
  lastSeen: number;
  lastDispatchAt: number;
  /** Shutting down: finishes what it holds, gets nothing new. */
  draining: boolean;
  /** Its round trips per priority class: how long one more task would take it. */
  serviceTime: Record<PriorityClass, ServiceTimeEstimate>;
}

export class Dispatcher {
  private readonly queue = new TaskQueue<PendingTask>();
  private readonly workers = new Map<string, ConnectedWorker>();
  private readonly heartbeatCheck: NodeJS.Timeout;
  private accepting = true;
  private readonly metrics;
  private readonly now: () => number;
  private readonly startedAt: number;
  /** "name" and "name@version" of every model a worker has served since the start, less retired ones. */
  private readonly knownModels = new Set<string>();

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? (() => performance.now());
    this.startedAt = this.now();
    const registers = [options.registry];
    this.metrics = {
      queueDepth: new Gauge({ name: 'quicksilver_coordinator_queue_depth', help: 'Tasks waiting for a worker, per priority class', labelNames: ['priority'], registers }),
      inFlight: new Gauge({ name: 'quicksilver_coordinator_worker_in_flight', help: 'Tasks outstanding per worker', labelNames: ['worker'], registers }),
      credits: new Gauge({ name: 'quicksilver_coordinator_worker_credits', help: 'Task credit (max in flight) advertised per worker', labelNames: ['worker'], registers }),
      workers: new Gauge({ name: 'quicksilver_coordinator_workers_connected', help: 'Workers connected', registers }),
      dispatched: new Counter({ name: 'quicksilver_coordinator_tasks_dispatched_total', help: 'Tasks sent to workers (retries included)', labelNames: ['worker'], registers }),
      requeued: new Counter({ name: 'quicksilver_coordinator_tasks_requeued_total', help: 'Tasks sent back to the queue', labelNames: ['reason'], registers }),
      workerLosses: new Counter({ name: 'quicksilver_coordinator_worker_losses_total', help: 'Workers dropped', labelNames: ['reason'], registers }),
      serviceTime: new Gauge({
        name: 'quicksilver_coordinator_worker_service_seconds',
        help: 'Estimated round trip of one task per worker and priority class at its last answer (time-weighted average of dispatch to result); tasks go to the worker expected to answer first',
        labelNames: ['worker', 'priority'], registers,
      }),
    };
    this.updateQueueDepth();
    this.heartbeatCheck = setInterval(() => this.dropSilentWorkers(), Math.max(100, Math.floor(options.heartbeatTimeoutMs / 3)));
    this.heartbeatCheck.unref();
  }

  get queueDepth(): number {
    return this.queue.size;
  }

  get connectedWorkers(): WorkerInfo[] {
    return [...this.workers.values()].map((w) => w.info);
  }

  get outstandingTasks(): number {
    let count = this.queue.size;
    for (const worker of this.workers.values()) count += worker.inFlight.size;
    return count;
  }

  registerWorker(info: WorkerInfo, channel: WorkerChannel): void {
    const existing = this.workers.get(info.id);
    if (existing) this.workerDisconnected(info.id, 'replaced by a new connection with the same id');
    this.workers.set(info.id, {
      info, channel, inFlight: new Map(), bulkInFlight: 0, lastSeen: Date.now(), lastDispatchAt: 0, draining: false,
      serviceTime: { realtime: new ServiceTimeEstimate(), bulk: new ServiceTimeEstimate() },
    });
    this.metrics.workers.set(this.workers.size);
    this.metrics.credits.set({ worker: info.id }, info.maxInFlight);
    this.metrics.inFlight.set({ worker: info.id }, 0);
    for (const ref of modelRefs(info.models)) this.knownModels.add(ref);
    if (info.maxInFlight < info.maxBatchSize) {
      this.options.logger.warn({ worker: info.id, maxInFlight: info.maxInFlight, maxBatchSize: info.maxBatchSize },
        'worker credit is below its max batch size: its batches can never fill (raise maxInFlight to >= 2 x maxBatchSize)');
    }
    this.options.logger.info({
      worker: info.id, provider: info.executionProvider, device: info.device, models: info.models, priorities: info.priorities,
      maxInFlight: info.maxInFlight, maxBatchSize: info.maxBatchSize,
    }, 'worker registered');
    this.pump();
  }

  /** `models`, when not empty, replaces the worker's served models (a model hot-swapped on the worker). */
  heartbeat(workerId: string, draining = false, models: { name: string; version: string }[] = []): void {
    const worker = this.workers.get(workerId);
    if (!worker) return;
    worker.lastSeen = Date.now();
    // Not sticky: a worker also says draining while it cannot run models (engine not ready), and false once it can again.
    if (draining !== worker.draining) {
      this.options.logger.info({ worker: workerId, inFlight: worker.inFlight.size }, draining ? 'worker draining: no new tasks for it' : 'worker takes tasks again');
    }
    const resumed = worker.draining && !draining;
    worker.draining = draining;
    if (resumed) this.pump();
    const describe = (list: { name: string; version: string }[]) => list.map((m) => `${m.name}@${m.version}`).sort().join(',');
    if (models.length > 0 && describe(models) !== describe(worker.info.models)) {
      this.options.logger.info({ worker: workerId, before: worker.info.models, now: models }, 'worker models changed');
      const retired = modelRefs(worker.info.models);
      worker.info.models = models.map(({ name, version }) => ({ name, version }));
      for (const ref of modelRefs(models)) this.knownModels.add(ref);
      for (const ref of retired) if (!this.anyWorkerServes(ref)) this.knownModels.delete(ref);
      this.pump();
    }
  }

  /** The worker's connection ended: its unfinished tasks go back to the front of the queue. */
  workerDisconnected(workerId: string, reason: string): void {
    const worker = this.workers.get(workerId);
    if (!worker) return;
    this.workers.delete(workerId);
    this.metrics.workers.set(this.workers.size);
    this.metrics.inFlight.remove({ worker: workerId });
    this.metrics.credits.remove({ worker: workerId });
    for (const priority of PRIORITY_CLASSES) this.metrics.serviceTime.remove({ worker: workerId, priority });
    this.metrics.workerLosses.inc({ reason: reason.startsWith('missed heartbeats') ? 'heartbeat' : 'disconnect' });
    worker.channel.close(reason);
    const orphaned = [...worker.inFlight.values()].filter((p) => !p.settled);
    this.options.logger.warn({ worker: workerId, reason, orphanedTasks: orphaned.length }, 'worker lost');
    for (const pending of orphaned.reverse()) {
      pending.workerId = undefined;
      if (pending.attempts >= this.options.maxAttempts) {
        this.settle(pending, undefined, new QuicksilverError('WORKER_LOST',
          `image ${pending.task.fileName || pending.task.idempotencyKey} was being processed by a worker that went away ${pending.attempts} times (last: ${reason}); quarantined as a possible poison image`,
          { retryable: false }));
      } else {
        this.metrics.requeued.inc({ reason: 'worker_lost' });
        this.queue.unshift(pending);
      }
    }
    this.updateQueueDepth();
    this.pump();
  }

  /** Submits a task; resolves with the worker's classification or rejects with a QuicksilverError. */
  submit(task: DispatchTask, signal?: AbortSignal): Promise<DispatchOutcome> {
    if (!this.accepting) return Promise.reject(new QuicksilverError('SHUTTING_DOWN', 'the coordinator is shutting down'));
    if (this.queue.size >= this.options.maxQueuedTasks) {
      return Promise.reject(new QuicksilverError('OVERLOADED', `the coordinator queue is full (${this.options.maxQueuedTasks} tasks); retry later`));
    }
    if (task.priority === 'bulk' && this.queue.sizeOf('bulk') >= this.bulkQueueLimit) {
      return Promise.reject(new QuicksilverError('OVERLOADED',
        `bulk tasks fill their ${this.bulkQueueLimit} places of the coordinator queue (the rest of maxQueuedTasks ${this.options.maxQueuedTasks} is kept for conveyor images); retry later`));
    }
    if (this.workers.size > 0 && !this.anyWorkerServes(task.modelName) && !this.mayAppear(task.modelName)) {
      const served = [...new Set(this.connectedWorkers.flatMap((w) => w.models.map((m) => `${m.name}@${m.version}`)))].sort().join(', ');
      return Promise.reject(new QuicksilverError('UNKNOWN_MODEL',
        `no worker serves model '${task.modelName}' (served: ${served || 'none'}), nor has one since the coordinator started`));
    }
    if (task.imageUri && this.workers.size > 0 && !this.anyWorkerReadsReferences()) {
      return Promise.reject(new QuicksilverError('IMAGE_REFERENCE_UNREADABLE',
        `no connected worker reads images by reference (none has referenceAllowedRoots or referenceAllowedUrlPrefixes): ${task.imageUri}`));
    }
    return new Promise<DispatchOutcome>((resolve, reject) => {
      const pending: PendingTask = {
        task, priority: task.priority, station: task.stationId, submittedAt: this.now(), dispatchedAt: 0, attempts: 0, everHadWorker: false, settled: false, resolve, reject,
        timer: setTimeout(() => this.expire(pending), this.options.taskTimeoutMs),
        signal,
      };
      if (signal) {
        if (signal.aborted) {
          clearTimeout(pending.timer);
          reject(new QuicksilverError('UPLOAD_ABORTED', 'the request was cancelled before dispatch'));
          return;
        }
        pending.onAbort = () => this.settle(pending, undefined, new QuicksilverError('UPLOAD_ABORTED', 'the request was cancelled'));
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.queue.push(pending);
      this.updateQueueDepth();
      this.pump();
    });
  }

  /** Queued bulk tasks at most: maxQueuedTasks less the conveyor's reserve (at least one). */
  private get bulkQueueLimit(): number {
    return Math.max(1, Math.floor(this.options.maxQueuedTasks * (1 - (this.options.realtimeReserveFraction ?? 0))));
  }

  /** A worker returned a task result. */
  completeTask(workerId: string, result: WorkerTaskResult): void {
    const worker = this.workers.get(workerId);
    if (!worker) return;
    worker.lastSeen = Date.now();
    const pending = worker.inFlight.get(result.taskId);
    if (!pending) return;
    worker.inFlight.delete(result.taskId);
    if (pending.priority === 'bulk') worker.bulkInFlight--;
    this.metrics.inFlight.set({ worker: workerId }, worker.inFlight.size);
    const now = this.now();
    const roundTripMs = now - pending.dispatchedAt;
    if (result.classification) {
      // Failures do not count: a worker failing fast must not look fast.
      const estimate = worker.serviceTime[pending.priority];
      estimate.observe(roundTripMs, now);
      this.metrics.serviceTime.set({ worker: workerId, priority: pending.priority }, (estimate.read(now) ?? 0) / 1000);
    }
    if (!pending.settled) {
      if (result.classification) {
        this.settle(pending, {
          classification: result.classification,
          workerId,
          executionProvider: worker.info.executionProvider,
          queueMs: pending.dispatchedAt - pending.submittedAt,
          roundTripMs,
          decodeMs: result.decodeMs,
          inferenceMs: result.inferenceMs,
          workerQueueMs: result.workerQueueMs ?? 0,
          readMs: result.readMs ?? 0,
          attempts: pending.attempts,
        });
      } else {
        const error = result.error ?? { code: 'INTERNAL', reason: 'worker returned neither a classification nor an error', retryable: true };
        // An unreadable reference is answered at once: the agent sends the bytes, which is quicker than
        // other workers repeating the read (and it spends none of the task's worker-loss attempts).
        if (error.retryable && error.code !== 'IMAGE_REFERENCE_UNREADABLE' && pending.attempts < this.options.maxAttempts) {
          this.metrics.requeued.inc({ reason: 'worker_error' });
          pending.workerId = undefined;
          this.queue.unshift(pending);
          this.updateQueueDepth();
        } else {
          const code = isErrorCode(error.code) ? error.code : 'INTERNAL';
          this.settle(pending, undefined, new QuicksilverError(code, error.reason, { retryable: error.retryable }));
        }
      }
    }
    this.pump();
  }

  /** Stops taking tasks; waits for queued and in-flight ones until the signal aborts, then fails the rest. */
  async drain(signal: AbortSignal): Promise<void> {
    this.accepting = false;
    while (this.outstandingTasks > 0 && !signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const pending of [...this.queue]) this.settle(pending, undefined, new QuicksilverError('SHUTTING_DOWN', 'the coordinator shut down before a worker took the task'));
    for (const worker of this.workers.values()) {
      for (const pending of worker.inFlight.values()) this.settle(pending, undefined, new QuicksilverError('SHUTTING_DOWN', 'the coordinator shut down while the task ran'));
    }
    clearInterval(this.heartbeatCheck);
  }

  close(): void {
    clearInterval(this.heartbeatCheck);
    for (const id of [...this.workers.keys()]) {
      const worker = this.workers.get(id)!;
      this.workers.delete(id);
      worker.channel.close('coordinator stopping');
    }
  }

  private anyWorkerReadsReferences(): boolean {
    for (const worker of this.workers.values()) if (worker.info.readsImageReferences) return true;
    return false;
  }

  private anyWorkerServes(modelName: string, priority?: PriorityClass): boolean {
    for (const worker of this.workers.values()) {
      if (servesModel(worker.info, modelName) && (!priority || worker.info.priorities.includes(priority))) return true;
    }
    return false;
  }

  /** A worker serving it may (re)connect: one served it since the start, or the fleet is still connecting. */
  private mayAppear(modelName: string): boolean {
    return this.knownModels.has(modelName) || this.now() - this.startedAt < this.options.unknownModelGraceMs;
  }

  /** Hands queued tasks to workers with spare credit: realtime first, stations round-robin. */
  private pump(): void {
    if (this.queue.size === 0 || this.workers.size === 0) return;
    for (;;) {
      let worker: ConnectedWorker | undefined;
      const pending = this.queue.take((candidate) => (worker = this.pickWorker(candidate.task, candidate.priority)) !== undefined);
      if (!pending || !worker) break;
      pending.attempts++;
      pending.everHadWorker = true;
      pending.workerId = worker.info.id;
      pending.dispatchedAt = this.now();
      worker.lastDispatchAt = pending.dispatchedAt;
      worker.inFlight.set(pending.task.taskId, pending);
      if (pending.priority === 'bulk') worker.bulkInFlight++;
      this.metrics.inFlight.set({ worker: worker.info.id }, worker.inFlight.size);
      this.metrics.dispatched.inc({ worker: worker.info.id });
      worker.channel.sendTask(pending.task);
    }
    this.updateQueueDepth();
  }

  private updateQueueDepth(): void {
    for (const priority of PRIORITY_CLASSES) this.metrics.queueDepth.set({ priority }, this.queue.sizeOf(priority));
  }

  /**
   * Least outstanding work: among the workers that take this task (class, model, reference reading) and
   * have spare credit, the one expected to answer first: its estimated round trip for the class (at least
   * the age of the oldest such task it holds) times (1 + its tasks in flight / its max batch), a worker with
   * no estimate yet counted as fast as the fastest known. Workers of different speeds thus get conveyor
   * images by how soon they answer, not in turns. Before any estimate, the lower share of credit in use
   * wins; ties go to the worker given work longest ago, so idle workers share a trickle.
   */
  private pickWorker({ modelName, imageUri }: DispatchTask, priority: PriorityClass): ConnectedWorker | undefined {
    const candidates: { worker: ConnectedWorker; estimateMs: number | undefined }[] = [];
    const now = this.now();
    let fastestMs: number | undefined;
    for (const worker of this.workers.values()) {
      if (worker.draining || worker.inFlight.size >= worker.info.maxInFlight || !worker.info.priorities.includes(priority)) continue;
      if (imageUri && !worker.info.readsImageReferences) continue;
      // Bulk work leaves part of the credit of a worker that also takes conveyor images free, so a
      // conveyor image never queues inside it behind more than that share of re-scan images.
      if (priority === 'bulk' && worker.info.priorities.includes('realtime')
        && worker.bulkInFlight >= Math.max(1, Math.floor(worker.info.maxInFlight * this.options.bulkCreditShare))) continue;
      if (!servesModel(worker.info, modelName)) continue;
      const oldestAt = this.oldestDispatchOf(worker, priority);
      let estimateMs = worker.serviceTime[priority].read(now, oldestAt === undefined);
      // A task it holds for longer than its usual answer shows it slower (a hung worker, a stalled GPU).
      if (oldestAt !== undefined) estimateMs = Math.max(estimateMs ?? 0, now - oldestAt);
      if (estimateMs !== undefined) fastestMs = Math.min(fastestMs ?? Infinity, estimateMs);
      candidates.push({ worker, estimateMs });
    }
    let best: ConnectedWorker | undefined;
    let bestCost = Infinity;
    let bestLoad = Infinity;
    for (const { worker, estimateMs } of candidates) {
      const load = worker.inFlight.size / worker.info.maxInFlight;
      // Every task it holds competes for its device, whatever its class.
      const cost = fastestMs === undefined ? load : (estimateMs ?? fastestMs) * (1 + worker.inFlight.size / Math.max(1, worker.info.maxBatchSize));
      if (cost < bestCost || (cost === bestCost && (load < bestLoad || (load === bestLoad && worker.lastDispatchAt < best!.lastDispatchAt)))) {
        best = worker;
        bestCost = cost;
        bestLoad = load;
      }
    }
    return best;
  }

  /** When the worker's longest-held task of `priority` was dispatched (in-flight tasks are kept in dispatch order). */
  private oldestDispatchOf(worker: ConnectedWorker, priority: PriorityClass): number | undefined {
    for (const pending of worker.inFlight.values()) if (pending.priority === priority) return pending.dispatchedAt;
    return undefined;
  }

  private expire(pending: PendingTask): void {
    if (pending.settled) return;
    const seconds = (this.options.taskTimeoutMs / 1000).toFixed(1);
    const error = !pending.everHadWorker && !this.anyWorkerServes(pending.task.modelName, pending.priority)
      ? new QuicksilverError('NO_WORKER', `no worker serving model '${pending.task.modelName}' and taking ${pending.priority} work connected within ${seconds} s`)
      : new QuicksilverError('DEADLINE_EXCEEDED', `no verdict within the ${seconds} s task deadline`);
    if (pending.workerId) this.workers.get(pending.workerId)?.channel.cancelTask(pending.task.taskId);
    this.settle(pending, undefined, error);
  }

  private settle(pending: PendingTask, outcome: DispatchOutcome | undefined, error?: QuicksilverError): void {
    if (pending.settled) return;
    pending.settled = true;
    clearTimeout(pending.timer);
    if (pending.onAbort) pending.signal?.removeEventListener('abort', pending.onAbort);
    if (this.queue.remove(pending)) this.updateQueueDepth();
    // An in-flight task that is settled early (deadline, abort) keeps its credit until the worker answers or is lost.
    if (outcome) pending.resolve(outcome);
    else pending.reject(error ?? new QuicksilverError('INTERNAL', 'task settled without outcome'));
  }

  private dropSilentWorkers(): void {
    const now = Date.now();
    for (const [id, worker] of this.workers) {
      if (now - worker.lastSeen > this.options.heartbeatTimeoutMs) {
        this.workerDisconnected(id, `missed heartbeats for ${now - worker.lastSeen} ms`);
      }
    }
  }
}

/** "name" matches any version of the model, "name@version" exactly that one (as the worker resolves it). */
function servesModel(info: Pick<WorkerInfo, 'models'>, modelName: string): boolean {
  const at = modelName.indexOf('@');
  if (at < 0) return info.models.some((m) => m.name === modelName);
  const name = modelName.slice(0, at);
  const version = modelName.slice(at + 1);
  return info.models.some((m) => m.name === name && m.version === version);
}

function modelRefs(models: readonly { name: string; version: string }[]): string[] {
  return models.flatMap((m) => [m.name, `${m.name}@${m.version}`]);
}
