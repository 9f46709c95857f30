// Wires the coordinator's components in start order; stop() runs them down in reverse with a drain.
import type { Registry } from 'prom-client';
import { GrpcServer } from '../../common/src/adapters/grpc-server.js';
import { serverCredentials } from '../../common/src/adapters/grpc-security.js';
import { AccessPolicy } from '../../common/src/access-control.js';
import { QuicksilverError } from '../../common/src/errors.js';
import { isLoopbackAddress } from '../../common/src/security-config.js';
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
import { RescanJetStream } from '../../common/src/rescan/adapters/jetstream-rescan.js';
import { RescanMonitor } from './rescan/rescan-monitor.js';
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
  readonly rescanMonitor: RescanMonitor | undefined;
  private running = false;

  constructor(config: CoordinatorConfig, private readonly logger: Logger, registry: Registry) {
    const metrics = createCoordinatorMetrics(registry);
    this.publisher = new NatsVerdictPublisher({
      servers: config.natsServers, security: config, maxAgeDays: config.verdictHistoryDays, duplicateWindowSeconds: config.duplicateWindowSeconds,
      publishTimeoutMs: config.publishTimeoutMs, logger: logger.child({ component: 'nats' }), onAvailable: () => this.outbox.kick(),
    });
    this.outbox = new VerdictOutbox({
      dir: config.outboxDir, maxBytes: config.outboxMaxBytes, publisher: this.publisher, logger: logger.child({ component: 'outbox' }),
      metrics: { depth: metrics.outboxDepth, bytes: metrics.outboxBytes, publishFailures: metrics.publishFailures },
    });
    this.dispatcher = new Dispatcher({
      maxQueuedTasks: config.maxQueuedTasks, taskTimeoutMs: config.taskTimeoutMs, maxAttempts: config.maxTaskAttempts,
      heartbeatTimeoutMs: config.heartbeatTimeoutMs, bulkCreditShare: config.bulkCreditShare, realtimeReserveFraction: config.realtimeReserveFraction, unknownModelGraceMs: config.unknownModelGraceMs, logger: logger.child({ component: 'dispatcher' }), registry,
    });
    this.feedback = new FeedbackTracker({ registry, logger: logger.child({ component: 'feedback' }), windowSize: config.feedbackWindow, indexSize: config.feedbackIndexSize });
    this.feedbackSubscriber = new NatsFeedbackSubscriber({
      servers: config.natsServers, security: config, tracker: this.feedback, warmVerdicts: config.feedbackIndexSize, logger: logger.child({ component: 'nats-feedback' }),
    });
    this.inspection = new InspectionService({
      onVerdict: (event) => this.feedback.recordVerdict(indexedVerdictOf(event)),
      dispatcher: this.dispatcher, outbox: this.outbox, metrics, logger: logger.child({ component: 'inspection' }),
      maxImageBytes: config.maxImageBytes, maxBufferedBytes: config.maxBufferedBytes, defaultModel: config.defaultModel,
      realtimeReserveFraction: config.realtimeReserveFraction, fairShareClaimMs: config.fairShareClaimMs,
      answerCacheSize: config.answerCacheSize, uploadIdleTimeoutMs: config.uploadIdleTimeoutMs,
    });
    if (config.rescanMonitorIntervalMs > 0) {
      this.rescanMonitor = new RescanMonitor({
        connect: () => RescanJetStream.connect(config.natsServers, 'quicksilver-coordinator-rescan', undefined, config),
        intervalMs: config.rescanMonitorIntervalMs, logger: logger.child({ component: 'rescan' }), registry,
      });
    }
    const access = accessPolicyFor(config, logger);
    this.grpc = new GrpcServer({ address: config.grpcAddress, logger, serviceNames: SERVICE_NAMES, credentials: serverCredentials(config, logger, 'coordinator') });
    addFeedbackService(this.grpc, this.feedback, { access, authFailures: metrics.authFailures, logger });
    addCoordinatorServices(this.grpc, {
      inspection: this.inspection, dispatcher: this.dispatcher, heartbeatIntervalMs: config.heartbeatIntervalMs, logger, access, authFailures: metrics.authFailures,
    });
    this.metricsServer = new MetricsServer(registry, { host: config.metricsHost, port: config.metricsPort, logger, isReady: () => this.running });
  }

  async start(): Promise<void> {
    await this.metricsServer.start();
    await this.outbox.start();
    try {
      await this.publisher.start();
      await this.feedbackSubscriber.start();
      await this.rescanMonitor?.start();
      await this.grpc.start();
    } catch (error) {
      // e.g. NATS_AUTH_FAILED: release what started so the process can exit with the error.
      await this.rescanMonitor?.stop();
      await this.feedbackSubscriber.stop();
      await this.publisher.stop();
      await this.outbox.stop(AbortSignal.timeout(1000));
      await this.metricsServer.stop();
      throw error;
    }
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
    await this.rescanMonitor?.stop();
    await this.outbox.stop(signal);
    await this.publisher.stop();
    await this.metricsServer.stop();
  }
}

/** Who may call: tokens and/or verified client certificates; refuses an open port beyond loopback unless allowInsecure. */
function accessPolicyFor(config: CoordinatorConfig, logger: Logger): AccessPolicy {
  const access = new AccessPolicy({
    tokens: config.authTokensFile ? AccessPolicy.readTokenFile(config.authTokensFile) : undefined,
    clientCertificates: Boolean(config.tlsClientCaFile),
  });
  const tls = Boolean(config.tlsCertFile);
  if ((!tls || !access.enforced) && !isLoopbackAddress(config.grpcAddress) && !config.allowInsecure) {
    throw new QuicksilverError('CONFIG_INVALID', `grpcAddress ${config.grpcAddress} is reachable from other hosts but ${!tls ? 'TLS (tlsCertFile, tlsKeyFile)' : 'client authentication (authTokensFile or tlsClientCaFile)'} is not configured: `
      + 'configure it (docs/security.md, scripts/dev-certs.sh) or set allowInsecure for a trusted network');
  }
  if (!access.enforced) logger.warn({ security: 'unauthenticated' }, 'coordinator: no client authentication (authTokensFile, tlsClientCaFile): any agent or worker that reaches the port is accepted');
  else logger.info({ tokens: Boolean(config.authTokensFile), clientCertificates: Boolean(config.tlsClientCaFile), tls }, 'coordinator: callers must authenticate');
  return access;
}
