// Publishes verdict events into the JetStream stream QUICKSILVER_VERDICTS (created or updated at start).
// Each message carries Nats-Msg-Id = idempotency key, so JetStream drops a duplicate publication
// inside the stream's duplicate window.
import { headers, nanos, RetentionPolicy, StorageType, type JetStreamClient, type NatsConnection } from 'nats';
import { connectNats, type NatsConnectSettings } from '../../../common/src/adapters/nats-connect.js';
import { QuicksilverError } from '../../../common/src/errors.js';
import type { Component } from '../../../common/src/lifecycle.js';
import type { Logger } from '../../../common/src/logger.js';
import { VERDICT_STREAM, VERDICT_SUBJECT_PREFIX, verdictSubject, type VerdictEvent, type VerdictPublisher } from '../../../common/src/verdict-event.js';

export interface NatsVerdictPublisherOptions {
  servers: string[];
  /** Credentials and TLS for NATS. */
  security: NatsConnectSettings;
  /** How long verdict history is kept in the stream. */
  maxAgeDays: number;
  /** Window in which a repeated message id is dropped. */
  duplicateWindowSeconds: number;
  publishTimeoutMs: number;
  logger: Logger;
}

export class NatsVerdictPublisher implements Component, VerdictPublisher {
  readonly name = 'nats-verdict-publisher';
  private connection: NatsConnection | undefined;
  private jetstream: JetStreamClient | undefined;
  private readonly encoder = new TextEncoder();

  constructor(private readonly options: NatsVerdictPublisherOptions) {}

  async start(): Promise<void> {
    const { logger } = this.options;
    this.connection = await connectNats({ ...this.options.security, servers: this.options.servers, name: 'quicksilver-coordinator' }, { maxReconnectAttempts: -1, reconnectTimeWait: 1000 });
    void (async () => {
      for await (const status of this.connection!.status()) logger.info({ type: status.type, data: String(status.data) }, 'nats connection status');
    })();
    const manager = await this.connection.jetstreamManager();
    const config = {
      name: VERDICT_STREAM,
      subjects: [`${VERDICT_SUBJECT_PREFIX}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      max_age: nanos(this.options.maxAgeDays * 24 * 3600 * 1000),
      duplicate_window: nanos(this.options.duplicateWindowSeconds * 1000),
    };
    try {
      await manager.streams.info(VERDICT_STREAM);
      await manager.streams.update(VERDICT_STREAM, config);
    } catch {
      await manager.streams.add(config);
    }
    this.jetstream = this.connection.jetstream();
    logger.info({ stream: VERDICT_STREAM, subjects: config.subjects }, 'verdict stream ready');
  }

  async publish(event: VerdictEvent): Promise<void> {
    if (!this.jetstream) throw new QuicksilverError('UNAVAILABLE', 'NATS publisher is not started');
    const messageHeaders = headers();
    messageHeaders.set('Content-Type', 'application/json');
    try {
      await this.jetstream.publish(verdictSubject(event.stationId, event.label), this.encoder.encode(JSON.stringify(event)), {
        msgID: event.idempotencyKey,
        headers: messageHeaders,
        timeout: this.options.publishTimeoutMs,
      });
    } catch (error) {
      throw new QuicksilverError('UNAVAILABLE', `publishing verdict ${event.idempotencyKey} to NATS failed: ${(error as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.jetstream = undefined;
    if (connection && !connection.isClosed()) await connection.drain();
  }
}
