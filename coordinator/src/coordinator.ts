// Wires the coordinator's components in start order; stop() runs them down in reverse with a drain.
import type { Registry } from 'prom-client';
import { GrpcServer } from '../../common/src/adapters/grpc-server.js';
import type { Component } from '../../common/src/lifecycle.js';
import type { Logger } from '../../common/src/logger.js';
import { MetricsServer } from '../../common/src/metrics.js';
import { addCoordinatorServices, addFeedbackService, SERVICE_NAMES } from './adapters/grpc-endpoints.js';
import { NatsFeedbackSubscriber } from './adapters/nats-feedback.js';
import { FeedbackTracker, indexedVerdictOf } from './feedback-tracker.js';
import { NatsVerdictPublisher } from './adapters/nats-verdict-publisher.js';
import type { CoordinatorConfig } from './config.js';
import { createCoordinatorMetrics } from './coordinator-metrics.js';
import { Dispatcher } from './dispatcher.js';
import { InspectionService } from './inspection-service.js';
import { VerdictOutbox } from './verdict-outbox.js';

export class Coordinator implements Component {
  readonly name = 'coordinator';
  readonly grpc: GrpcServer;
  readonly metricsServer: MetricsServer;
  readonly dispatcher: Dispatcher;
  readonly inspection: InspectionService;
  readonly feedback: FeedbackTracker;
  readonly outbox: VerdictOutbox;
  private readonly publisher: NatsVerdictPublisher;
  private readonly feedbackSubscriber: NatsFeedbackSubscriber;
  private running = false;

  constructor(config: CoordinatorConfig, private readonly logger: Logger, registry: Registry) {
    const metrics = createCoordinatorMetrics(registry);
    this.publisher = new NatsVerdictPublisher({
      servers: config.natsServers, maxAgeDays: config.verdictHistoryDays, duplicateWindowSeconds: config.duplicateWindowSeconds,
      publishTimeoutMs: config.publishTimeoutMs, logger: logger.child({ component: 'nats' }), onAvailable: () => this.outbox.kick(),
    });
    this.outbox = new VerdictOutbox({
      dir: config.outboxDir, maxBytes: config.outboxMaxBytes, publisher: this.publisher, logger: logger.child({ component: 'outbox' }),
      metrics: { depth: metrics.outboxDepth, bytes: metrics.outboxBytes, publishFailures: metrics.publishFailures },
    });
    this.dispatcher = new Dispatcher({
      maxQueuedTasks: config.maxQueuedTasks, taskTimeoutMs: config.taskTimeoutMs, maxAttempts: config.maxTaskAttempts,
      heartbeatTimeoutMs: config.heartbeatTimeoutMs, bulkCreditShare: config.bulkCreditShare, logger: logger.child({ component: 'dispatcher' }), registry,
    });
    this.feedback = new FeedbackTracker({ registry, logger: logger.child({ component: 'feedback' }), windowSize: config.feedbackWindow, indexSize: config.feedbackIndexSize });
    this.feedbackSubscriber = new NatsFeedbackSubscriber({
      servers: config.natsServers, tracker: this.feedback, warmVerdicts: config.feedbackIndexSize, logger: logger.child({ component: 'nats-feedback' }),
    });
    this.inspection = new InspectionService({
      onVerdict: (event) => this.feedback.recordVerdict(indexedVerdictOf(event)),
      dispatcher: this.dispatcher, outbox: this.outbox, metrics, logger: logger.child({ component: 'inspection' }),
      maxImageBytes: config.maxImageBytes, maxBufferedBytes: config.maxBufferedBytes, defaultModel: config.defaultModel,
      answerCacheSize: config.answerCacheSize,
    });
    this.grpc = new GrpcServer({ address: config.grpcAddress, logger, serviceNames: SERVICE_NAMES });
    addFeedbackService(this.grpc, this.feedback);
    addCoordinatorServices(this.grpc, { inspection: this.inspection, dispatcher: this.dispatcher, heartbeatIntervalMs: config.heartbeatIntervalMs, logger });
    this.metricsServer = new MetricsServer(registry, { host: config.metricsHost, port: config.metricsPort, logger, isReady: () => this.running });
  }

  async start(): Promise<void> {
    await this.metricsServer.start();
    await this.outbox.start();
    await this.publisher.start();
    await this.feedbackSubscriber.start();
    await this.grpc.start();
    this.grpc.setServing(true);
    this.running = true;
    this.logger.info({ grpcPort: this.grpc.port, metricsPort: this.metricsServer.port }, 'coordinator ready');
  }

  async stop(signal: AbortSignal): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.grpc.setServing(false);
    await this.inspection.drain(signal);
    await this.dispatcher.drain(signal);
    this.dispatcher.close();
    await this.grpc.stop(signal);
    await this.feedbackSubscriber.stop();
    await this.outbox.stop(signal);
    await this.publisher.stop();
    await this.metricsServer.stop();
  }
}
