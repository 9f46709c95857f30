// NATS side of ground-truth feedback: warms the FeedbackTracker's verdict index from the last
// verdicts in the JetStream stream (so feedback joins verdicts decided before a restart or by
// another coordinator), then subscribes to quicksilver.feedback.> in a queue group. Every message
// is answered (when it has a reply subject) with FeedbackReply JSON; a bad one is counted, never fatal.
// NATS is not needed to start: while it is unreachable the subscriber keeps connecting in the background.
import { DeliverPolicy, type NatsConnection } from 'nats';
import { connectNatsInBackground, type NatsConnectSettings } from '../../../common/src/adapters/nats-connect.js';
import { FEEDBACK_QUEUE_GROUP, FEEDBACK_SUBJECT_PREFIX } from '../../../common/src/feedback.js';
import type { Component } from '../../../common/src/lifecycle.js';
import type { Logger } from '../../../common/src/logger.js';
import { VERDICT_STREAM, VerdictEventSchema } from '../../../common/src/verdict-event.js';
import { indexedVerdictOf, type FeedbackTracker } from '../feedback-tracker.js';

const CONNECT_RETRY_MS = 1000;

export interface NatsFeedbackOptions {
  servers: string[];
  /** NATS credentials and TLS, as for the verdict publisher. */
  security: NatsConnectSettings;
  tracker: FeedbackTracker;
  /** Most verdicts replayed from the stream at start (the tracker's index size). */
  warmVerdicts: number;
  logger: Logger;
}

export class NatsFeedbackSubscriber implements Component {
  readonly name = 'nats-feedback';
  private connection: NatsConnection | undefined;
  private cancelConnect: () => void = () => {};
  private stopping = false;
  private readonly decoder = new TextDecoder();
  private readonly encoder = new TextEncoder();

  constructor(private readonly options: NatsFeedbackOptions) {}

  /** Tries once to connect (then warms and subscribes); when NATS is unreachable it logs and keeps trying in the background. */
  async start(): Promise<void> {
    const connecting = connectNatsInBackground({ ...this.options.security, servers: this.options.servers, name: 'quicksilver-coordinator-feedback' }, {
      retryMs: CONNECT_RETRY_MS, isStopped: () => this.stopping,
      onRetry: (error) => this.options.logger.warn({ err: error.message, retryInMs: CONNECT_RETRY_MS }, 'NATS unreachable: feedback is not received yet; retrying'),
      onConnected: (connection) => this.onConnected(connection),
    });
    this.cancelConnect = connecting.cancel;
    await connecting.firstAttempt;
  }

  private async onConnected(connection: NatsConnection): Promise<void> {
    const { logger, tracker } = this.options;
    this.connection = connection;
    const warmed = await this.warmIndex(connection).catch((error: Error) => {
      logger.warn({ err: error.message }, 'could not replay verdict history for feedback; only new verdicts will be joined');
      return 0;
    });
    connection.subscribe(`${FEEDBACK_SUBJECT_PREFIX}.>`, {
      queue: FEEDBACK_QUEUE_GROUP,
      callback: (error, message) => {
        if (error) return logger.warn({ err: error.message }, 'feedback subscription error');
        const reply = tracker.submitJson(this.decoder.decode(message.data));
        if (message.reply) message.respond(this.encoder.encode(JSON.stringify(reply)));
      },
    });
    logger.info({ subject: `${FEEDBACK_SUBJECT_PREFIX}.>`, warmedVerdicts: warmed }, 'feedback subscription ready');
  }

  /** Replays up to warmVerdicts of the newest verdict events into the tracker's index. */
  private async warmIndex(connection: NatsConnection): Promise<number> {
    const manager = await connection.jetstreamManager();
    const info = await manager.streams.info(VERDICT_STREAM).catch(() => undefined);
    if (!info || info.state.messages === 0) return 0;
    const last = info.state.last_seq;
    const start = Math.max(info.state.first_seq, last - this.options.warmVerdicts + 1);
    const consumer = await connection.jetstream().consumers.get(VERDICT_STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start });
    const messages = await consumer.consume();
    let count = 0;
    for await (const message of messages) {
      let payload: unknown;
      try { payload = message.json(); } catch { payload = undefined; }
      const parsed = VerdictEventSchema.safeParse(payload);
      if (parsed.success) {
        this.options.tracker.recordVerdict(indexedVerdictOf(parsed.data));
        count++;
      }
      if (message.seq >= last) break;
    }
    await messages.close();
    return count;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.cancelConnect();
    const connection = this.connection;
    this.connection = undefined;
    if (!connection || connection.isClosed()) return;
    // drain() needs a live server; a disconnected client is simply closed.
    await Promise.race([connection.drain(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]).catch(() => undefined);
    if (!connection.isClosed()) await connection.close();
  }
}
