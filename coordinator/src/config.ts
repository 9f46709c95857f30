// Coordinator configuration (env prefix QS_COORDINATOR). Every field: default + description.
import { z } from 'zod';
import { natsSecurityFields, serverSecurityFields } from '../../common/src/security-config.js';

export const COORDINATOR_ENV_PREFIX = 'QS_COORDINATOR';

export const CoordinatorConfigSchema = z.object({
  grpcAddress: z.string().default('0.0.0.0:50051').describe('host:port the gRPC server (agents, workers, health) listens on; port 0 picks a free one'),
  metricsHost: z.string().default('0.0.0.0').describe('interface of the /metrics HTTP server'),
  metricsPort: z.number().int().min(0).max(65535).default(9464).describe('port of the /metrics HTTP server (0 picks a free one)'),
  ...serverSecurityFields,
  natsServers: z.array(z.string()).min(1).default(['nats://127.0.0.1:4222']).describe('NATS server URLs (comma-separated)'),
  ...natsSecurityFields,
  verdictHistoryDays: z.number().positive().default(365).describe('days verdicts are kept in the JetStream stream'),
  duplicateWindowSeconds: z.number().positive().default(86_400)
    .describe('JetStream window in which a re-published verdict (same key) is dropped; exactly-once publication holds only for resends within it (see docs/reliability.md)'),
  publishTimeoutMs: z.number().int().positive().default(5000).describe('wait for a JetStream publish acknowledgement'),
  outboxDir: z.string().default('./coordinator-outbox').describe('folder of the durable verdict outbox (verdicts waiting for NATS survive restarts here)'),
  outboxMaxBytes: z.number().int().positive().default(256 * 1024 * 1024)
    .describe('bytes of verdicts the outbox may hold while NATS is away; when full, new images get a retryable OVERLOADED'),
  defaultModel: z.string().default('mercury-cnn').describe('model used when an agent names none'),
  maxImageBytes: z.number().int().positive().default(300 * 1024 * 1024).describe('largest image accepted, in bytes'),
  maxBufferedBytes: z.number().int().positive().default(2 * 1024 * 1024 * 1024).describe('image bytes held in memory at most (uploads + queued tasks); beyond it agents get OVERLOADED'),
  realtimeReserveFraction: z.number().min(0).max(0.9).default(0.25)
    .describe('share of maxBufferedBytes and of maxQueuedTasks that bulk images may not take, so conveyor images are still admitted while bulk work fills the coordinator'),
  fairShareClaimMs: z.number().int().min(0).default(60_000)
    .describe('how long a station refused for lack of room (OVERLOADED) keeps its claim if it does not come back (longer than the agents\' retryMaxDelayMs); while a claim stands, stations holding more than their fair share of maxBufferedBytes get no more, and the room the refused image needs is kept for it; the claim ends when the station gets in, or when its last agent stream closes'),
  uploadIdleTimeoutMs: z.number().int().positive().default(30_000)
    .describe('an upload that gets no chunk for this long is dropped, its memory released, and answered UPLOAD_ABORTED (retryable: the agent resends)'),
  maxQueuedTasks: z.number().int().positive().default(10_000).describe('tasks waiting for a worker at most; beyond it agents get OVERLOADED'),
  taskTimeoutMs: z.number().int().positive().default(120_000).describe('deadline from a complete upload to its verdict'),
  unknownModelGraceMs: z.number().int().min(0).default(60_000)
    .describe('after start, how long an image for a model no connected worker serves waits for one (as with no worker) instead of a final UNKNOWN_MODEL, while the fleet reconnects; a model some worker served since the start always waits for its workers (see docs/reliability.md)'),
  maxTaskAttempts: z.number().int().min(1).default(3).describe('workers a task may lose before it is quarantined as a poison image'),
  bulkCreditShare: z.number().gt(0).max(1).default(0.7).describe('share of each worker\'s credit that bulk (re-scan) work may hold; the rest stays free for conveyor images'),
  heartbeatIntervalMs: z.number().int().positive().default(2000).describe('how often workers must send a heartbeat (told to each worker at registration)'),
  heartbeatTimeoutMs: z.number().int().positive().default(10_000).describe('silence after which a worker is dropped and its tasks re-dispatched; at least 2 x heartbeatIntervalMs'),
  answerCacheSize: z.number().int().positive().default(50_000).describe('answered image keys remembered so a resend gets the same verdict'),
  feedbackWindow: z.number().int().min(1).default(500).describe('feedback items per model version and station in the rolling accuracy window'),
  feedbackIndexSize: z.number().int().min(1).default(100_000).describe('recent verdicts kept (and replayed from JetStream at start) so feedback can join them by key or barcode'),
  rescanMonitorIntervalMs: z.number().int().min(0).default(2000).describe('how often re-scan job progress is recounted and exported, and finished jobs marked completed (0 = off)'),
  shutdownGraceMs: z.number().int().positive().default(15_000).describe('time SIGTERM allows in-flight images to finish'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('log level'),
}).superRefine((config, ctx) => {
  // An image is held whole: one that cannot fit where its class may go would be refused (retryably) forever.
  const bulkRoom = Math.floor(config.maxBufferedBytes * (1 - config.realtimeReserveFraction));
  if (config.maxImageBytes > bulkRoom) {
    ctx.addIssue({
      code: 'custom', path: ['maxImageBytes'],
      message: `maxImageBytes (${config.maxImageBytes}) must be at most maxBufferedBytes x (1 - realtimeReserveFraction) = ${bulkRoom}, else an image of that size could never be admitted`,
    });
  }
  // A worker is dropped after heartbeatTimeoutMs of silence: it must be able to miss one heartbeat without that.
  if (config.heartbeatTimeoutMs < 2 * config.heartbeatIntervalMs) {
    ctx.addIssue({
      code: 'custom', path: ['heartbeatTimeoutMs'],
      message: `heartbeatTimeoutMs (${config.heartbeatTimeoutMs}) must be at least 2 x heartbeatIntervalMs (${config.heartbeatIntervalMs}), else idle workers are dropped between heartbeats`,
    });
  }
});
export type CoordinatorConfig = z.infer<typeof CoordinatorConfigSchema>;
