// Publishes verdict events into the JetStream stream QUICKSILVER_VERDICTS (created or updated on
// every (re)connection). Each message carries Nats-Msg-Id = idempotency key, so JetStream drops a
// duplicate publication inside the stream's duplicate window.
// NATS is not needed to start: when it is unreachable the publisher keeps connecting in the
// background, `available` stays false (the outbox holds verdicts), and onAvailable fires once it is.
// A NATS that refuses the configured credentials is a configuration error: start() fails with NATS_AUTH_FAILED.
import { Events, headers, nanos, RetentionPolicy, StorageType, type JetStreamClient, type NatsConnection } from 'nats';
import { connectNatsInBackground, type NatsConnectSettings } from '../../../common/src/adapters/nats-connect.js';
import { ConnectionWatch, publishUnlessDropped } from '../../../common/src/adapters/nats-publish.js';
import { QuicksilverError } from '../../../common/src/errors.js';
import type { Component } from '../../../common/src/lifecycle.js';
import type { Logger } from '../../../common/src/logger.js';
import { VERDICT_STREAM, VERDICT_SUBJECT_PREFIX, verdictSubject, type VerdictEvent } from '../../../common/src/verdict-event.js';
import type { AvailablePublisher } from '../verdict-outbox.js';

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
  /** Called each time publications may succeed again (connected and stream ready). */
  onAvailable?: () => void;
}

const CONNECT_RETRY_MS = 1000;

export class NatsVerdictPublisher implements Component, AvailablePublisher {
  readonly name = 'nats-verdict-publisher';
  private connection: NatsConnection | undefined;
  private jetstream: JetStreamClient | undefined;
  private watch: ConnectionWatch | undefined;
  private ready = false;
  private stopping = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private cancelConnect: () => void = () => {};
  private readonly encoder = new TextEncoder();

  constructor(private readonly options: NatsVerdictPublisherOptions) {}

  get available(): boolean {
    return this.ready;
  }

  /** Tries once to connect; when NATS is unreachable it logs and keeps trying in the background. */
  async start(): Promise<void> {
    const { logger, servers } = this.options;
    const connecting = connectNatsInBackground({ ...this.options.security, servers, name: 'quicksilver-coordinator' }, {
      retryMs: CONNECT_RETRY_MS, failFastOnAuth: true, isStopped: () => this.stopping,
      onRetry: (error) => {
        if (error instanceof QuicksilverError && error.code === 'NATS_AUTH_FAILED') {
          logger.error({ servers, code: error.code, reason: error.message, retryInMs: CONNECT_RETRY_MS }, 'NATS refused the credentials: verdicts wait in the outbox; retrying');
        } else logger.warn({ servers, err: error.message, retryInMs: CONNECT_RETRY_MS }, 'NATS unreachable: verdicts wait in the outbox; retrying');
      },
      onConnected: (connection) => this.onConnected(connection),
    });
    this.cancelConnect = connecting.cancel;
    await connecting.firstAttempt;
  }

  async publish(event: VerdictEvent): Promise<void> {
    if (!this.jetstream || !this.watch || !this.ready) throw new QuicksilverError('UNAVAILABLE', 'NATS is not connected');
    const messageHeaders = headers();
    messageHeaders.set('Content-Type', 'application/json');
    try {
      // A publication cut off by a dropped connection fails at once (to the outbox) instead of waiting out its timeout.
      await publishUnlessDropped(this.jetstream, this.watch, verdictSubject(event.stationId, event.label), this.encoder.encode(JSON.stringify(event)), {
        msgID: event.idempotencyKey,
        headers: messageHeaders,
        timeout: this.options.publishTimeoutMs,
      });
    } catch (error) {
      throw new QuicksilverError('UNAVAILABLE', `publishing verdict ${event.idempotencyKey} to NATS failed: ${(error as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.ready = false;
    clearTimeout(this.retryTimer);
    this.cancelConnect();
    const connection = this.connection;
    this.connection = undefined;
    this.jetstream = undefined;
    this.watch = undefined;
    if (!connection || connection.isClosed()) return;
    // drain() needs a live server; a disconnected client is simply closed.
    await Promise.race([connection.drain(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]).catch(() => undefined);
    if (!connection.isClosed()) await connection.close();
  }

  private async onConnected(connection: NatsConnection): Promise<void> {
    this.connection = connection;
    this.jetstream = connection.jetstream();
    this.watch = new ConnectionWatch(connection);
    void this.watchStatus(connection);
    await this.becomeReady(connection);
  }

  private async watchStatus(connection: NatsConnection): Promise<void> {
    const { logger } = this.options;
    for await (const status of connection.status()) {
      logger.info({ type: status.type, data: String(status.data) }, 'nats connection status');
      if (status.type === Events.Disconnect) this.ready = false;
      else if (status.type === Events.Reconnect) await this.becomeReady(connection);
    }
  }

  /** (Re)creates the stream (a server that lost its store comes back without it), then reports availability. */
  private async becomeReady(connection: NatsConnection): Promise<void> {
    const { logger } = this.options;
    try {
      const manager = await connection.jetstreamManager();
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
      logger.info({ stream: VERDICT_STREAM, subjects: config.subjects, duplicateWindowSeconds: this.options.duplicateWindowSeconds }, 'verdict stream ready');
    } catch (error) {
      logger.warn({ err: (error as Error).message, retryInMs: CONNECT_RETRY_MS }, 'JetStream not ready: verdicts wait in the outbox; retrying');
      if (!this.stopping && this.connection === connection) this.retryTimer = setTimeout(() => void this.becomeReady(connection), CONNECT_RETRY_MS);
      return;
    }
    if (this.stopping || this.connection !== connection) return;
    this.ready = true;
    this.options.onAvailable?.();
  }
}
