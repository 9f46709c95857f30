// Re-scan state and work in NATS JetStream (the only place that holds it): a work-queue stream with
// one durable pull consumer per job, a results stream that keeps one message per row subject, and
// the jobs KV bucket. Used by the CLI (submit, status, export), workers (pull, publish, ack) and
// coordinators (progress monitor). Nothing here assumes one host: every process may run anywhere.
import { connectNats, type NatsConnectSettings } from '../../adapters/nats-connect.js';
import { ConnectionWatch, publishThroughDrops } from '../../adapters/nats-publish.js';
import {
  AckPolicy, DeliverPolicy, headers, nanos, RetentionPolicy, StorageType,
  type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg, type KV, type MsgRequest, type NatsConnection, type StoredMsg,
} from 'nats';
import { QuicksilverError } from '../../errors.js';
import {
  JobRecordSchema, RESCAN_JOBS_BUCKET, RESCAN_RESULT_PREFIX, RESCAN_RESULTS_STREAM, RESCAN_WORK_PREFIX, RESCAN_WORK_STREAM,
  RescanResultSchema, resultFilter, resultSubject, rowMessageId, workConsumerName, WorkItemSchema, workSubject,
  type JobProgress, type JobRecord, type RescanResult, type WorkItem,
} from '../records.js';

export interface RescanLayoutOptions {
  /** Window in which a repeated msg id (<jobId>:<line>) is dropped: covers resubmission and republication. */
  duplicateWindowSeconds: number;
  /** How long results are kept. */
  resultMaxAgeDays: number;
}

export const DEFAULT_RESCAN_LAYOUT: RescanLayoutOptions = { duplicateWindowSeconds: 6 * 3600, resultMaxAgeDays: 365 };

/** A row pulled by a worker. ack() only after its result was published. */
export interface WorkDelivery {
  jobId: string;
  /** The raw payload (validated by the caller). */
  data: Uint8Array;
  /** 1 on the first delivery. */
  deliveryCount: number;
  ack(): Promise<void>;
  nak(delayMs?: number): void;
  /** Extends the ack deadline while a slow row is still being worked on. */
  working(): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const isNotFound = (error: unknown) => /not found|404|no message found/i.test(String((error as Error)?.message ?? error));

export class RescanJetStream {
  private readonly consumers = new Map<string, Consumer>();
  private readonly watch: ConnectionWatch;

  private constructor(
    private readonly connection: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly jobs: KV,
  ) {
    this.watch = new ConnectionWatch(connection);
  }

  /** Connects and makes sure the streams and the bucket exist (creating them with `layout` when missing). */
  static async connect(servers: string[], name: string, layout: RescanLayoutOptions = DEFAULT_RESCAN_LAYOUT, security: NatsConnectSettings = {}): Promise<RescanJetStream> {
    let connection: NatsConnection;
    try {
      connection = await connectNats({ ...security, servers, name }, { maxReconnectAttempts: -1, reconnectTimeWait: 500 });
    } catch (error) {
      throw new QuicksilverError('UNAVAILABLE', `cannot connect to NATS at ${servers.join(',')}: ${(error as Error).message}`);
    }
    try {
      const jsm = await connection.jetstreamManager();
      const duplicateWindow = nanos(layout.duplicateWindowSeconds * 1000);
      await ensureStream(jsm, {
        name: RESCAN_WORK_STREAM, subjects: [`${RESCAN_WORK_PREFIX}.>`], storage: StorageType.File,
        retention: RetentionPolicy.Workqueue, duplicate_window: duplicateWindow,
      });
      await ensureStream(jsm, {
        name: RESCAN_RESULTS_STREAM, subjects: [`${RESCAN_RESULT_PREFIX}.>`], storage: StorageType.File,
        retention: RetentionPolicy.Limits, max_msgs_per_subject: 1, duplicate_window: duplicateWindow,
        max_age: nanos(layout.resultMaxAgeDays * 24 * 3600 * 1000),
      });
      const js = connection.jetstream();
      const jobs = await js.views.kv(RESCAN_JOBS_BUCKET, { history: 1, storage: StorageType.File });
      return new RescanJetStream(connection, js, jsm, jobs);
    } catch (error) {
      await connection.close();
      // A user without create rights (a worker's) on a NATS where nothing created the streams yet.
      const missing = /Permissions Violation for Publish to "\$JS\.API\.STREAM\.CREATE\.([^"]+)"/.exec((error as Error).message)?.[1];
      if (missing) {
        throw new QuicksilverError('UNAVAILABLE', `cannot set up the re-scan streams: ${missing} does not exist and this NATS user may not create it: start the coordinator (or run \`quicksilver rescan\`) first`, { cause: error });
      }
      throw new QuicksilverError('UNAVAILABLE', `cannot set up the re-scan streams: ${(error as Error).message}`, { cause: error });
    }
  }

  // --- jobs ---------------------------------------------------------------------------------------

  async getJob(jobId: string): Promise<JobRecord | undefined> {
    const entry = await this.jobs.get(jobId);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return JobRecordSchema.parse(entry.json());
  }

  async requireJob(jobId: string): Promise<JobRecord> {
    const job = await this.getJob(jobId);
    if (!job) throw new QuicksilverError('INVALID_METADATA', `no re-scan job ${jobId}`);
    return job;
  }

  async listJobs(): Promise<JobRecord[]> {
    // Keys first, then the records: awaiting inside the keys() iteration ends it early.
    const keys: string[] = [];
    for await (const key of await this.jobs.keys()) keys.push(key);
    const jobs: JobRecord[] = [];
    for (const key of keys) {
      const job = await this.getJob(key);
      if (job) jobs.push(job);
    }
    return jobs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Creates the job record, or returns the stored one when the id exists. */
  async createJob(record: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    try {
      await this.jobs.create(record.jobId, encoder.encode(JSON.stringify(record)));
      return { job: record, created: true };
    } catch (error) {
      const existing = await this.getJob(record.jobId);
      if (existing) return { job: existing, created: false };
      throw error;
    }
  }

  /** Read-modify-write with compare-and-set, retried on a concurrent update (several coordinators, a CLI). */
  async updateJob(jobId: string, change: (job: JobRecord) => JobRecord | undefined): Promise<JobRecord> {
    for (let attempt = 0; ; attempt++) {
      const entry = await this.jobs.get(jobId);
      if (!entry || entry.operation !== 'PUT') throw new QuicksilverError('INVALID_METADATA', `no re-scan job ${jobId}`);
      const current = JobRecordSchema.parse(entry.json());
      const next = change(current);
      if (!next) return current;
      try {
        await this.jobs.update(jobId, encoder.encode(JSON.stringify({ ...next, updatedAt: new Date().toISOString() })), entry.revision);
        return next;
      } catch (error) {
        if (attempt >= 20) throw error;
      }
    }
  }

  // --- work ---------------------------------------------------------------------------------------

  /** The job's durable pull consumer (created once; later calls keep it). */
  async ensureWorkConsumer(jobId: string, options: { ackWaitMs: number; maxAckPending: number }): Promise<void> {
    const name = workConsumerName(jobId);
    try {
      await this.jsm.consumers.info(RESCAN_WORK_STREAM, name);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await this.jsm.consumers.add(RESCAN_WORK_STREAM, {
        durable_name: name, filter_subject: workSubject(jobId), ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(options.ackWaitMs), max_ack_pending: options.maxAckPending, max_deliver: -1,
      });
    }
  }

  /** Publishes one row's work message (msg id <jobId>:<line>); resolves with its stream sequence once stored. */
  async publishWork(jobId: string, item: WorkItem, timeoutMs = 30_000): Promise<number> {
    const ack = await publishThroughDrops(this.js, this.watch, workSubject(jobId), encoder.encode(JSON.stringify(item)), { msgID: rowMessageId(jobId, item.line), timeout: timeoutMs });
    return ack.seq;
  }

  /** The job's work messages still stored (waiting, or held by a worker) from `fromSequence` on, read one at a time. */
  async *storedWork(jobId: string, fromSequence = 1): AsyncGenerator<{ sequence: number; line: number }> {
    let sequence = Math.max(1, fromSequence);
    for (;;) {
      let message: StoredMsg;
      try {
        // STREAM.MSG.GET with next_by_subj: the first message on the subject at or after `seq`.
        message = await this.jsm.streams.getMessage(RESCAN_WORK_STREAM, { seq: sequence, next_by_subj: workSubject(jobId) } as unknown as MsgRequest);
      } catch (error) {
        if (isNotFound(error)) return;
        throw error;
      }
      yield { sequence: message.seq, line: WorkItemSchema.parse(message.json()).line };
      sequence = message.seq + 1;
    }
  }

  /** Pulls up to `max` rows of a job, waiting at most `expiresMs` for them; `onDelivery` sees each row as it arrives (its ack wait runs from then). */
  async fetchWork(jobId: string, max: number, expiresMs: number, onDelivery?: (delivery: WorkDelivery) => void): Promise<WorkDelivery[]> {
    let consumer = this.consumers.get(jobId);
    if (!consumer) {
      consumer = await this.js.consumers.get(RESCAN_WORK_STREAM, workConsumerName(jobId));
      this.consumers.set(jobId, consumer);
    }
    const deliveries: WorkDelivery[] = [];
    try {
      const messages = await consumer.fetch({ max_messages: max, expires: expiresMs });
      for await (const message of messages) {
        const delivery = toDelivery(jobId, message);
        deliveries.push(delivery);
        onDelivery?.(delivery);
      }
    } catch (error) {
      this.consumers.delete(jobId);
      throw error;
    }
    return deliveries;
  }

  async purgeWork(jobId: string): Promise<void> {
    await this.jsm.streams.purge(RESCAN_WORK_STREAM, { filter: workSubject(jobId) });
    await this.jsm.consumers.delete(RESCAN_WORK_STREAM, workConsumerName(jobId)).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }

  // --- results ------------------------------------------------------------------------------------

  /** Publishes a row's verdict or failure (msg id <jobId>:<line>: a republication is dropped). */
  async publishResult(result: RescanResult, timeoutMs = 10_000): Promise<void> {
    const messageHeaders = headers();
    messageHeaders.set('Content-Type', 'application/json');
    await publishThroughDrops(this.js, this.watch, resultSubject(result.jobId, result.kind, result.line), encoder.encode(JSON.stringify(result)), {
      msgID: rowMessageId(result.jobId, result.line), headers: messageHeaders, timeout: timeoutMs,
    });
  }

  /** Whether the row already has a verdict or a failure (checked when a row is delivered again). */
  async hasResult(jobId: string, line: number): Promise<boolean> {
    for (const kind of ['verdict', 'failure'] as const) {
      try {
        await this.jsm.streams.getMessage(RESCAN_RESULTS_STREAM, { last_by_subj: resultSubject(jobId, kind, line) });
        return true;
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return false;
  }

  /** Counted by the server (a short-lived consumer's pending count), not by reading the messages. */
  async countResults(jobId: string, kind: 'verdict' | 'failure'): Promise<number> {
    const info = await this.jsm.consumers.add(RESCAN_RESULTS_STREAM, {
      filter_subject: resultFilter(jobId, kind), ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All,
      inactive_threshold: nanos(10_000), mem_storage: true,
    });
    await this.jsm.consumers.delete(RESCAN_RESULTS_STREAM, info.name).catch(() => {});
    return info.num_pending;
  }

  async progress(job: JobRecord): Promise<JobProgress> {
    const [verdicts, failures] = await Promise.all([this.countResults(job.jobId, 'verdict'), this.countResults(job.jobId, 'failure')]);
    let pending = 0;
    let inFlight = 0;
    try {
      const info = await this.jsm.consumers.info(RESCAN_WORK_STREAM, workConsumerName(job.jobId));
      pending = info.num_pending + info.num_ack_pending;
      inFlight = info.num_ack_pending;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    return { job, verdicts, failures, pending, inFlight };
  }

  /** Every result of a job in stream order, read with an ordered consumer (memory stays flat). */
  async *results(jobId: string, kind?: 'verdict' | 'failure'): AsyncGenerator<RescanResult> {
    const expected = await this.countResults(jobId, kind ?? 'verdict') + (kind ? 0 : await this.countResults(jobId, 'failure'));
    if (expected === 0) return;
    const consumer = await this.js.consumers.get(RESCAN_RESULTS_STREAM, { filterSubjects: resultFilter(jobId, kind) });
    const messages = await consumer.consume({ max_messages: 512 });
    try {
      for await (const message of messages) {
        yield RescanResultSchema.parse(JSON.parse(decoder.decode(message.data)));
        if (message.info.pending === 0) break;
      }
    } finally {
      await messages.close();
    }
  }

  async close(): Promise<void> {
    if (!this.connection.isClosed()) await this.connection.drain();
  }
}

function toDelivery(jobId: string, message: JsMsg): WorkDelivery {
  return {
    jobId, data: message.data, deliveryCount: message.info.redeliveryCount,
    ack: async () => { message.ack(); },
    nak: (delayMs) => message.nak(delayMs),
    working: () => message.working(),
  };
}

async function ensureStream(jsm: JetStreamManager, config: Parameters<JetStreamManager['streams']['add']>[0] & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await jsm.streams.add(config);
  }
}
