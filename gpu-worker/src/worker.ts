// Wires a worker: inference engine (models, providers, batching) -> coordinator link; health and
// /metrics served beside. Ready (health SERVING) only once the models are warm and the link is registered.
// With bulkProcess it takes realtime work only and runs a bulk-only worker in a child (bulk-process.ts).
import { Gauge, type Registry } from 'prom-client';
import { GrpcServer } from '../../common/src/adapters/grpc-server.js';
import { serverCredentials } from '../../common/src/adapters/grpc-security.js';
import type { Component } from '../../common/src/lifecycle.js';
import type { Logger } from '../../common/src/logger.js';
import { MetricsServer } from '../../common/src/metrics.js';
import { CoordinatorLink } from './adapters/coordinator-link.js';
import { BulkProcess, splitForBulkProcess } from './bulk-process.js';
import { resolveDecodeConcurrency, type WorkerConfig } from './config.js';
import { idleProcess, niceProcess } from './cpu-priority.js';
import { ImageBufferPool } from './image-buffer-pool.js';
import { ImageReferenceReader } from './image-reference-reader.js';
import { InferenceEngine } from './inference-engine.js';
import { RescanJetStream } from '../../common/src/rescan/adapters/jetstream-rescan.js';
import { RescanRunner } from './rescan/rescan-runner.js';

export class Worker implements Component {
  readonly name = 'worker';
  readonly engine: InferenceEngine;
  readonly health: GrpcServer;
  readonly metricsServer: MetricsServer;
  private readonly imageBuffers: ImageBufferPool;
  private link: CoordinatorLink | undefined;
  private rescan: RescanRunner | undefined;
  private started = false;
  private modelPoll: NodeJS.Timeout | undefined;
  private readonly config: WorkerConfig;
  /** With bulkProcess: the child that takes this worker's bulk work. */
  readonly bulkProcess: BulkProcess | undefined;

  constructor(configured: WorkerConfig, private readonly logger: Logger, private readonly registry: Registry) {
    const split = splitForBulkProcess(configured);
    const config = split?.realtime ?? configured;
    this.config = config;
    this.bulkProcess = split && new BulkProcess({ config: split.bulk, logger: logger.child({ component: 'bulk-process' }), registry });
    // Image bytes are read or assembled into pooled buffers, handed back once decoded.
    this.imageBuffers = new ImageBufferPool({ maxIdleBytes: config.imageBufferPoolBytes, registry });
    this.engine = new InferenceEngine({
      modelsDir: config.modelsDir, executionProviders: config.executionProviders, cudaDeviceId: config.cudaDeviceId,
      requireGpu: config.requireGpu, maxBatchSize: config.maxBatchSize, maxQueueDelayMicros: config.maxQueueDelayMicros, realtimeMaxQueueDelayMicros: config.realtimeMaxQueueDelayMicros,
      decodeConcurrency: resolveDecodeConcurrency(config), lendRealtimeReserveAfterMs: config.lendRealtimeReserveAfterMs, driftWindowScores: config.driftWindowScores, intraOpThreads: config.intraOpThreads, intraOpSpinning: config.intraOpSpinning,
      // A thread cannot be niced below the process without privileges: bulk runs are at least as nice as the process.
      modelThreads: config.modelThreads, bulkRunNiceness: Math.max(config.bulkRunNiceness, config.niceness), maxInputPixels: config.maxInputPixels,
      lanes: config.priorities, releaseImage: (bytes) => this.imageBuffers.release(bytes),
      selfTestIntervalMs: config.modelSelfTestIntervalMs, onReadyChange: () => this.readinessChanged(),
      logger: logger.child({ component: 'engine' }), registry,
    });
    // Health over TLS with the worker's own certificate when it has one (it must then also be valid as a server certificate).
    this.health = new GrpcServer({
      address: config.healthAddress, logger, serviceNames: ['quicksilver.v1.Worker'],
      credentials: serverCredentials({ tlsCertFile: config.tlsCertFile, tlsKeyFile: config.tlsKeyFile, tlsClientCaFile: '' }, logger, 'worker health'),
    });
    this.metricsServer = new MetricsServer(registry, {
      host: config.metricsHost, port: config.metricsPort, logger, isReady: () => this.readiness,
      childMetrics: this.bulkProcess && (() => this.bulkProcess!.metrics()),
    });
  }

  /** Ready = registered with the coordinator and the engine can run models (not after 3 failed runs in a row); else why not. */
  private get readiness(): true | string {
    if (!this.link?.isRegistered) return 'not registered with the coordinator';
    return this.engine.notReadyReason ?? true;
  }

  /** The engine's readiness changed: health, and the coordinator at once (a heartbeat saying draining while not ready). */
  private readinessChanged(): void {
    if (this.started) this.health.setServing(this.readiness === true);
    this.link?.announceReadiness();
  }

  private get linkMaxInFlight(): number {
    return this.config.maxInFlight || 3 * this.config.maxBatchSize;
  }

  async start(): Promise<void> {
    if (this.config.niceness > 0) {
      const niced = niceProcess(this.config.niceness);
      this.logger.info({ niceness: this.config.niceness, threads: niced.threads, refused: niced.refused }, 'worker process niced');
    }
    if (this.config.idleScheduling) {
      idleProcess();
      if (this.config.priorities.includes('realtime')) {
        this.logger.warn('idle scheduling on a worker that takes realtime work: conveyor images wait for every other process on this host\'s CPUs');
      } else {
        this.logger.info('worker threads run under SCHED_IDLE');
      }
    }
    if (this.bulkProcess) {
      // First, so its models warm up before this process's; a child that cannot start is tried again, and does not stop this worker.
      await this.bulkProcess.start();
      if (this.bulkProcess.pid) this.logger.info({ pid: this.bulkProcess.pid }, 'bulk work runs in the bulk process (SCHED_IDLE); this process takes realtime work only');
    }
    await this.metricsServer.start();
    await this.health.start();
    await this.engine.start();
    const info = new Gauge({
      name: 'quicksilver_worker_info', help: 'Worker identity: execution provider and device (value 1)',
      labelNames: ['worker', 'provider', 'device'], registers: [this.registry],
    });
    info.set({ worker: this.config.workerId, provider: this.engine.executionProvider, device: this.engine.device }, 1);
    const references = new ImageReferenceReader({
      allowedRoots: this.config.referenceAllowedRoots, allowedUrlPrefixes: this.config.referenceAllowedUrlPrefixes,
      readTimeoutMs: this.config.referenceReadTimeoutMs, registry: this.registry, allocate: (size) => this.imageBuffers.acquire(size),
    });
    this.link = new CoordinatorLink({
      coordinatorAddress: this.config.coordinatorAddress, security: this.config, workerId: this.config.workerId,
      maxBatchSize: this.config.maxBatchSize, maxInFlight: this.linkMaxInFlight, priorities: this.config.priorities,
      reconnectMaxDelayMs: this.config.reconnectMaxDelayMs, classifier: this.engine, logger: this.logger.child({ component: 'link' }),
      readsImageReferences: references.enabled, readReference: (reference, signal) => references.read(reference, signal),
      allocateImage: (size) => this.imageBuffers.acquire(size),
      acceptsTasks: () => this.engine.ready,
      onConnectedChange: (connected) => this.health.setServing(connected && this.engine.ready),
    });
    await this.link.start();
    if (this.config.natsServers.length > 0 && !this.config.priorities.includes('bulk')) {
      this.logger.info('re-scan work is not pulled from NATS: this worker takes realtime work only');
    } else if (this.config.natsServers.length > 0) {
      this.rescan = new RescanRunner({
        connect: () => RescanJetStream.connect(this.config.natsServers, `quicksilver-worker-${this.config.workerId}`, undefined, this.config),
        classifier: this.engine, workerId: this.config.workerId, maxInFlight: this.config.rescanMaxInFlight || this.linkMaxInFlight,
        realtimeInFlight: () => this.link?.inFlight ?? 0, allowedRoots: this.config.rescanAllowedRoots, allowedUrlPrefixes: this.config.rescanAllowedUrlPrefixes,
        maxImageBytes: this.config.rescanMaxImageBytes, httpTimeoutMs: this.config.rescanHttpTimeoutMs, jobsRefreshMs: 1000,
        allocateImage: (size) => this.imageBuffers.acquire(size),
        logger: this.logger.child({ component: 'rescan' }), registry: this.registry,
      });
      await this.rescan.start();
    }
    if (this.config.modelsPollIntervalMs > 0) {
      // The coordinator learns the new model list from the next heartbeat.
      this.modelPoll = setInterval(() => {
        this.engine.reload().catch((error: unknown) => this.logger.error({ err: (error as Error).message }, 'model reload failed; serving the models loaded before'));
      }, this.config.modelsPollIntervalMs);
      this.modelPoll.unref();
    }
    this.started = true;
    this.logger.info({ worker: this.config.workerId, provider: this.engine.executionProvider, models: this.engine.models }, 'worker started');
  }

  async stop(signal: AbortSignal): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearInterval(this.modelPoll);
    this.health.setServing(false);
    // The link's stop() sends the draining heartbeat at once (before its first await), so the coordinator sends
    // no new conveyor task while a slow re-scan row finishes; link and re-scan then drain under the one grace.
    await Promise.all([this.link?.stop(signal), this.rescan?.stop(signal), this.bulkProcess?.stop(signal)]);
    await this.engine.stop(signal);
    await this.health.stop(signal);
    await this.metricsServer.stop();
  }
}
