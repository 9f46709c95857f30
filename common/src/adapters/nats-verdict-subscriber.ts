// Listens to verdict events on NATS (core subscription on quicksilver.verdict.>) and reads the
// JetStream stream's state. Used by the demo; any consumer can do the same with its own client.
import type { NatsConnection, Subscription } from 'nats';
import { connectNats, type NatsConnectSettings } from './nats-connect.js';
import { VERDICT_STREAM, VERDICT_SUBJECT_PREFIX, VerdictEventSchema, type VerdictEvent } from '../verdict-event.js';

export class NatsVerdictSubscriber {
  private connection: NatsConnection | undefined;
  private subscription: Subscription | undefined;

  constructor(private readonly servers: string[], private readonly security: NatsConnectSettings = {}) {}

  async start(onVerdict: (event: VerdictEvent, subject: string) => void, onInvalid?: (reason: string) => void): Promise<void> {
    this.connection = await connectNats({ ...this.security, servers: this.servers, name: 'quicksilver-verdict-subscriber' }, { maxReconnectAttempts: -1 });
    this.subscription = this.connection.subscribe(`${VERDICT_SUBJECT_PREFIX}.>`);
    const decoder = new TextDecoder();
    void (async () => {
      for await (const message of this.subscription!) {
        try {
          onVerdict(VerdictEventSchema.parse(JSON.parse(decoder.decode(message.data))), message.subject);
        } catch (error) {
          onInvalid?.(`invalid verdict event on ${message.subject}: ${(error as Error).message}`);
        }
      }
    })();
  }

  /** Messages stored in the verdict stream. */
  async storedVerdicts(): Promise<number> {
    if (!this.connection) throw new Error('not started');
    const manager = await this.connection.jetstreamManager();
    return (await manager.streams.info(VERDICT_STREAM)).state.messages;
  }

  /** Every message stored in the verdict stream, oldest first, with its Nats-Msg-Id (an audit read). */
  async readStream(): Promise<Array<{ seq: number; msgId: string; subject: string; event: VerdictEvent }>> {
    if (!this.connection) throw new Error('not started');
    const manager = await this.connection.jetstreamManager();
    const { first_seq: first, last_seq: last, messages } = (await manager.streams.info(VERDICT_STREAM)).state;
    const stored = [];
    for (let seq = first; messages > 0 && seq <= last; seq++) {
      const message = await manager.streams.getMessage(VERDICT_STREAM, { seq }).catch(() => undefined);
      if (!message) continue; // deleted
      stored.push({ seq, msgId: message.header.get('Nats-Msg-Id'), subject: message.subject, event: VerdictEventSchema.parse(message.json()) });
    }
    return stored;
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (connection && !connection.isClosed()) await connection.drain();
  }
}
