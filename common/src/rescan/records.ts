// Re-scan contracts: the JetStream layout (streams, subjects, KV bucket) and the JSON records that
// travel in it. Subjects carry the job id and the manifest line, so every row has a name of its own:
//   work    quicksilver.rescan.work.<jobId>                      (one message per row, msg id <jobId>:<line>)
//   results quicksilver.rescan.result.<jobId>.verdict.<line>     (exactly one of these two per row;
//           quicksilver.rescan.result.<jobId>.failure.<line>      msg id <jobId>:<line>, 1 message per subject)
//   jobs    KV bucket QUICKSILVER_RESCAN_JOBS, key <jobId>
import { z } from 'zod';

export const RESCAN_WORK_STREAM = 'QUICKSILVER_RESCAN_WORK';
export const RESCAN_RESULTS_STREAM = 'QUICKSILVER_RESCAN_RESULTS';
export const RESCAN_JOBS_BUCKET = 'QUICKSILVER_RESCAN_JOBS';
export const RESCAN_WORK_PREFIX = 'quicksilver.rescan.work';
export const RESCAN_RESULT_PREFIX = 'quicksilver.rescan.result';

export const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const JobIdSchema = z.string().regex(JOB_ID_PATTERN, 'a job id is 1-64 letters, digits, _ or -');

export type ResultKind = 'verdict' | 'failure';
export const workSubject = (jobId: string) => `${RESCAN_WORK_PREFIX}.${jobId}`;
export const resultSubject = (jobId: string, kind: ResultKind, line: number) => `${RESCAN_RESULT_PREFIX}.${jobId}.${kind}.${line}`;
export const resultFilter = (jobId: string, kind?: ResultKind) => `${RESCAN_RESULT_PREFIX}.${jobId}.${kind ?? '*'}.>`;
export const rowMessageId = (jobId: string, line: number) => `${jobId}:${line}`;
export const workConsumerName = (jobId: string) => `rescan-${jobId}`;

const hasControlCharacter = (value: string) => [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
const text = (max: number) => z.string().trim().min(1).max(max).refine((value) => !hasControlCharacter(value), 'must not contain control characters');

/** One manifest row after validation (the URI is checked separately, see image-uri.ts). */
export const ManifestRowSchema = z.object({
  barcode: text(128),
  uri: text(4096),
  taxon: text(256).optional(),
  family: text(256).optional(),
  collection: text(256).optional(),
});
export type ManifestRow = z.infer<typeof ManifestRowSchema>;

/** A work message: one row and where it came from. */
export const WorkItemSchema = ManifestRowSchema.extend({ line: z.number().int().positive() });
export type WorkItem = z.infer<typeof WorkItemSchema>;

export const RescanVerdictSchema = WorkItemSchema.extend({
  kind: z.literal('verdict'),
  jobId: JobIdSchema,
  label: z.string(),
  score: z.number(),
  threshold: z.number(),
  flagged: z.boolean(),
  modelName: z.string(),
  modelVersion: z.string(),
  workerId: z.string(),
  attempts: z.number().int().positive(),
  decidedAt: z.string(),
});
export type RescanVerdict = z.infer<typeof RescanVerdictSchema>;

export const RescanFailureSchema = z.object({
  kind: z.literal('failure'),
  jobId: JobIdSchema,
  line: z.number().int().positive(),
  barcode: z.string().optional(),
  uri: z.string().optional(),
  /** A stable error code (common/src/errors.ts) or QUARANTINED. */
  code: z.string(),
  reason: z.string(),
  attempts: z.number().int().min(0),
  workerId: z.string().optional(),
  decidedAt: z.string(),
});
export type RescanFailure = z.infer<typeof RescanFailureSchema>;

export const RescanResultSchema = z.discriminatedUnion('kind', [RescanVerdictSchema, RescanFailureSchema]);
export type RescanResult = z.infer<typeof RescanResultSchema>;

export const JOB_STATES = ['submitting', 'running', 'paused', 'cancelled', 'completed'] as const;
export type JobState = (typeof JOB_STATES)[number];
/** States in which workers pull the job's work. */
export const isRunnable = (state: JobState) => state === 'submitting' || state === 'running';

/**
 * Where a manifest's submission stands, written to the job record every `checkpointRows` rows. The
 * first `rowsDone` rows (valid and invalid, in file order) are stored: work message or failure record.
 * Before publishing past `rowsReserved` the submitter raises it, so after an interruption only the rows
 * between the two are uncertain; a resumed submission checks those one by one instead of relying on
 * the duplicate window.
 */
export const SubmissionCheckpointSchema = z.object({
  /** The manifest's identity: a resumed submission must read the same bytes with the same settings. */
  manifestBytes: z.number().int().min(0),
  manifestSha256: z.string(),
  format: z.enum(['csv', 'jsonl']),
  allowedRoots: z.array(z.string()),
  allowedUrlPrefixes: z.array(z.string()),
  rowsDone: z.number().int().min(0),
  invalidRowsDone: z.number().int().min(0),
  /** Manifest line of the last row done (0 before the first). */
  lineDone: z.number().int().min(0),
  /** Work-stream sequence of the last valid row done: every later row was stored after it. */
  workSequence: z.number().int().min(0),
  rowsReserved: z.number().int().min(0),
  /** The `submit` process that owns the submission; a newer one takes over and the older stops. */
  submitter: z.string(),
});
export type SubmissionCheckpoint = z.infer<typeof SubmissionCheckpointSchema>;

export const JobRecordSchema = z.object({
  jobId: JobIdSchema,
  state: z.enum(JOB_STATES),
  manifest: z.string(),
  /** "name" or "name@version"; workers classify every row with it. */
  model: z.string(),
  /** A previous job this one is compared against by `rescan report`. */
  previousJobId: JobIdSchema.optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Data rows in the manifest (valid + invalid); known once submission finished. */
  totalRows: z.number().int().min(0).optional(),
  invalidRows: z.number().int().min(0).default(0),
  /** Deliveries after which a row is quarantined as a failure. */
  maxAttempts: z.number().int().positive(),
  ackWaitMs: z.number().int().positive(),
  completedAt: z.string().optional(),
  /** Absent for jobs submitted before checkpoints existed. */
  submission: SubmissionCheckpointSchema.optional(),
  /** Latest counts written by a coordinator's monitor (informational; status recounts from the streams). */
  verdicts: z.number().int().min(0).default(0),
  failures: z.number().int().min(0).default(0),
});
export type JobRecord = z.infer<typeof JobRecordSchema>;

export interface JobProgress {
  job: JobRecord;
  verdicts: number;
  failures: number;
  /** Rows submitted and not yet acknowledged by a worker (waiting or in flight). */
  pending: number;
  inFlight: number;
}

export const newJobId = (now = new Date()) =>
  `rs-${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}-${Math.random().toString(36).slice(2, 6)}`;
