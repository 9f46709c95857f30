// Pulls re-scan rows straight from JetStream, reads each image from storage (never through the
// coordinator), classifies it at bulk priority and publishes the row's verdict, THEN acknowledges it.
// A crash anywhere before the ack means redelivery after the job's ack wait; a redelivered row that
// already has a result is only acknowledged. A row delivered more than maxAttempts times (it keeps
// crashing or timing out workers) is quarantined with a failure record. Conveyor work keeps priority:
// re-scan rows are pulled only into the room conveyor tasks leave (maxInFlight - realtime in flight),
// and the engine decodes waiting realtime images before bulk ones. A row pulled waits in this worker
// (behind the rows pulled with it and conveyor work) as long as the engine takes: while it is held its
// ack deadline is extended every half ack wait, for at most HOLD_LIMIT_ACK_WAITS ack waits in all.
import { Counter, Gauge, type Registry } from 'prom-client';
import { QuicksilverError, toQuicksilverError } from '../../../common/src/errors.js';
import type { Component } from '../../../common/src/lifecycle.js';
import type { Logger } from '../../../common/src/logger.js';
import type { WorkDelivery } from '../../../common/src/rescan/adapters/jetstream-rescan.js';
import { readImage } from '../../../common/src/rescan/image-uri.js';
import {
  isRunnable, WorkItemSchema, type JobRecord, type RescanFailure, type RescanResult, type WorkItem,
} from '../../../common/src/rescan/records.js';

/** What the runner needs from JetStream (RescanJetStream implements it). */
export interface RescanWorkSource {
  listJobs(): Promise<JobRecord[]>;
  /** `onDelivery` is called for each row as it arrives, before the pull ends. */
  fetchWork(jobId: string, max: number, expiresMs: number, onDelivery?: (delivery: WorkDelivery) => void): Promise<WorkDelivery[]>;
  hasResult(jobId: string, line: number): Promise<boolean>;
  publishResult(result: RescanResult): Promise<void>;
  close(): Promise<void>;
}

export interface RescanClassifier {
  readonly models: { name: string; version: string }[];
  classify(request: { bytes: Uint8Array; modelName?: string; priority?: 'realtime' | 'bulk' }): Promise<{
    label: string; score: number; threshold: number; flagged: boolean; modelName: string; modelVersion: string;
  }>;
}

export interface RescanRunnerOptions {
  connect: () => Promise<RescanWorkSource>;
  classifier: RescanClassifier;
  workerId: string;
  /** Rows in flight at most, conveyor tasks included (re-scan gets what realtime leaves). */
  maxInFlight: number;
  /** Conveyor tasks this worker holds now. */
  realtimeInFlight: () => number;
  allowedRoots: string[];
  allowedUrlPrefixes: string[];
  maxImageBytes: number;
  httpTimeoutMs: number;
  /** The buffer an image file is read into (default Buffer.allocUnsafe; the worker lends ImageBufferPool's). */
  allocateImage?: (size: number) => Buffer;
  /** How often the job list is re-read (new, paused, resumed, cancelled jobs). */
  jobsRefreshMs: number;
  logger: Logger;
  registry: Registry;
}

const FETCH_EXPIRES_MS = 1000;
/** A row is held (its ack deadline extended) for at most this many ack waits: a worker wedged on it still lets it go to another. */
export const HOLD_LIMIT_ACK_WAITS = 10;
const RETRY_DELAY_MS = 2000;

export class RescanRunner implements Component {
  readonly name = 'rescan-runner';
  private source: RescanWorkSource | undefined;
  private runnable: JobRecord[] = [];
  private nextJob = 0;
  private inFlight = 0;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private jobsTimer: NodeJS.Timeout | undefined;
  private wake: () => void = () => {};
  /** Aborts image reads still running when stop()'s grace runs out. */
  private readonly abandonReads = new AbortController();
  private readonly rows: Counter<'job' | 'outcome'>;
  private readonly inFlightGauge: Gauge;

  constructor(private readonly options: RescanRunnerOptions) {
    this.rows = new Counter({
      name: 'quicksilver_worker_rescan_rows_total', help: 'Re-scan rows finished by this worker, by job and outcome (verdict, failure, duplicate, retried)',
      labelNames: ['job', 'outcome'], registers: [options.registry],
    });
    this.inFlightGauge = new Gauge({
      name: 'quicksilver_worker_rescan_in_flight', help: 'Re-scan rows this worker holds now', registers: [options.registry],
      collect: () => this.inFlightGauge.set(this.inFlight),
    });
  }

  async start(): Promise<void> {
    this.source = await this.options.connect();
    await this.refreshJobs();
    this.jobsTimer = setInterval(() => void this.refreshJobs(), this.options.jobsRefreshMs);
    this.loop = this.pullLoop();
  }

  /** Stops pulling; rows in flight finish (and are acked) until the signal aborts; the rest are redelivered later. */
  async stop(signal: AbortSignal): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.jobsTimer);
    this.wake();
    await this.loop;
    signal.addEventListener('abort', () => this.abandonReads.abort(), { once: true });
    while (this.inFlight > 0 && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, 25));
    await this.source?.close().catch(() => {});
  }

  private async refreshJobs(): Promise<void> {
    try {
      // A job whose model this worker does not serve is left to the workers that do.
      const served = (model: string) => this.options.classifier.models.some((m) => model === m.name || model === `${m.name}@${m.version}`);
      this.runnable = (await this.source!.listJobs()).filter((job) => isRunnable(job.state) && served(job.model));
      if (this.runnable.length > 0) this.wake();
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 'reading re-scan jobs failed');
    }
  }

  private room(): number {
    return Math.max(0, this.options.maxInFlight - this.options.realtimeInFlight() - this.inFlight);
  }

  /** Pull only once a quarter of the window is free: fewer, larger pull requests. */
  private get minimumPull(): number {
    return Math.max(1, Math.floor(this.options.maxInFlight / 4));
  }

  private async pullLoop(): Promise<void> {
    while (!this.stopping) {
      const room = this.room();
      if (room < this.minimumPull || this.runnable.length === 0) {
        await new Promise<void>((resolve) => {
          // Woken by a finished row or a job list with work; the timer covers conveyor tasks finishing.
          const timer = setTimeout(resolve, room < this.minimumPull ? 50 : this.options.jobsRefreshMs);
          this.wake = () => { clearTimeout(timer); resolve(); };
        });
        continue;
      }
      const job = this.runnable[this.nextJob++ % this.runnable.length]!;
      // Each row is processed (and held, see hold()) from its arrival: a pull may wait a second for more.
      const arrived = (delivery: WorkDelivery) => {
        this.inFlight++;
        void this.process(job, delivery).finally(() => {
          this.inFlight--;
          if (this.room() >= this.minimumPull) this.wake();
        });
      };
      try {
        await this.source!.fetchWork(job.jobId, room, FETCH_EXPIRES_MS, arrived);
      } catch (error) {
        this.options.logger.warn({ job: job.jobId, err: (error as Error).message }, 'pulling re-scan work failed');
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
    }
  }

  private async process(job: JobRecord, delivery: WorkDelivery): Promise<void> {
    const release = this.hold(job, delivery);
    try {
      await this.processRow(job, delivery);
    } finally {
      release();
    }
  }

  /** Extends the row's ack deadline every half ack wait until released, or until HOLD_LIMIT_ACK_WAITS ack waits after the pull. */
  private hold(job: JobRecord, delivery: WorkDelivery): () => void {
    const pulled = Date.now();
    const timer = setInterval(() => {
      if (Date.now() - pulled + job.ackWaitMs > HOLD_LIMIT_ACK_WAITS * job.ackWaitMs) {
        clearInterval(timer);
        this.options.logger.warn({ job: job.jobId, heldMs: Date.now() - pulled }, `re-scan row held for ${HOLD_LIMIT_ACK_WAITS} ack waits; no longer extended, it will be redelivered`);
        return;
      }
      try {
        delivery.working();
      } catch {
        // Connection away: the row is redelivered after its ack wait, as after a crash.
      }
    }, Math.max(50, Math.floor(job.ackWaitMs / 2)));
    timer.unref();
    return () => clearInterval(timer);
  }

  private async processRow(job: JobRecord, delivery: WorkDelivery): Promise<void> {
    const { jobId } = job;
    let item: WorkItem;
    try {
      item = WorkItemSchema.parse(JSON.parse(new TextDecoder().decode(delivery.data)));
    } catch (error) {
      // Cannot happen with our own submitter; never block the queue on it.
      this.options.logger.error({ job: jobId, err: (error as Error).message }, 'malformed re-scan work message dropped');
      await delivery.ack().catch(() => {});
      this.rows.inc({ job: jobId, outcome: 'malformed' });
      return;
    }
    try {
      if (delivery.deliveryCount > 1 && await this.source!.hasResult(jobId, item.line)) {
        await delivery.ack();
        this.rows.inc({ job: jobId, outcome: 'duplicate' });
        return;
      }
      if (delivery.deliveryCount > job.maxAttempts) {
        await this.fail(job, item, delivery, new QuicksilverError('INTERNAL',
          `quarantined: delivered ${delivery.deliveryCount - 1} times without a result (it crashed or stalled the workers that held it)`), 'QUARANTINED');
        return;
      }
      let result: Awaited<ReturnType<RescanClassifier['classify']>>;
      try {
        const bytes = await readImage(item.uri, {
          allowedRoots: this.options.allowedRoots, allowedUrlPrefixes: this.options.allowedUrlPrefixes,
          maxBytes: this.options.maxImageBytes, httpTimeoutMs: this.options.httpTimeoutMs, signal: this.abandonReads.signal,
          allocate: this.options.allocateImage,
        });
        result = await this.options.classifier.classify({ bytes, modelName: job.model, priority: 'bulk' });
      } catch (thrown) {
        const error = toQuicksilverError(thrown);
        if (error.retryable && (delivery.deliveryCount < job.maxAttempts || this.stopping)) {
          delivery.nak(this.stopping ? 0 : RETRY_DELAY_MS);
          this.rows.inc({ job: jobId, outcome: 'retried' });
        } else {
          await this.fail(job, item, delivery, error, error.code);
        }
        return;
      }
      await this.source!.publishResult({
        ...item, kind: 'verdict', jobId, label: result.label, score: result.score, threshold: result.threshold, flagged: result.flagged,
        modelName: result.modelName, modelVersion: result.modelVersion, workerId: this.options.workerId,
        attempts: delivery.deliveryCount, decidedAt: new Date().toISOString(),
      });
      await delivery.ack();
      this.rows.inc({ job: jobId, outcome: 'verdict' });
    } catch (error) {
      // JetStream unreachable (publish or ack): the row is redelivered after the ack wait, its result deduplicated.
      this.options.logger.warn({ job: jobId, line: item.line, err: (error as Error).message }, 're-scan row not finished; it will be redelivered');
      delivery.nak(RETRY_DELAY_MS);
    }
  }

  private async fail(job: JobRecord, item: WorkItem, delivery: WorkDelivery, error: Error, code: string): Promise<void> {
    const failure: RescanFailure = {
      kind: 'failure', jobId: job.jobId, line: item.line, barcode: item.barcode, uri: item.uri, code, reason: error.message,
      attempts: delivery.deliveryCount, workerId: this.options.workerId, decidedAt: new Date().toISOString(),
    };
    await this.source!.publishResult(failure);
    await delivery.ack();
    this.rows.inc({ job: job.jobId, outcome: 'failure' });
    this.options.logger.info({ job: job.jobId, line: item.line, code, reason: error.message }, 're-scan row failed');
  }
}
