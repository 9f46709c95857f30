// The verdict event published on NATS for every image that gets a verdict, and the subject scheme.
//   subject: quicksilver.verdict.<station_id>.<label>     e.g. quicksilver.verdict.conveyor-1.contaminated
//   stream:  QUICKSILVER_VERDICTS (JetStream, subjects quicksilver.verdict.>), message id = idempotency key,
//            so a re-publication of the same image inside the duplicate window is dropped by the server.
// Payload: JSON matching VerdictEventSchema (docs/schemas/verdict-event.schema.json is generated from it).
import { z } from 'zod';

export const VERDICT_SUBJECT_PREFIX = 'quicksilver.verdict';
export const VERDICT_STREAM = 'QUICKSILVER_VERDICTS';

/** NATS subject tokens may not contain '.', '*', '>' or whitespace; station ids and labels are validated to [A-Za-z0-9_-]. */
export function verdictSubject(stationId: string, label: string): string {
  return `${VERDICT_SUBJECT_PREFIX}.${stationId}.${label}`;
}

const millis = z.number().nonnegative();

export const VerdictEventSchema = z.object({
  schema: z.literal('quicksilver.verdict.v1').describe('payload schema name and version'),
  idempotencyKey: z.string().describe('client key of the image; also the NATS message id'),
  stationId: z.string().describe('scanner station that captured the image'),
  barcode: z.string().describe('specimen barcode or catalog number, empty when unknown'),
  fileName: z.string().describe('original file name at the station'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).describe('SHA-256 of the image bytes'),
  captureTime: z.string().describe('RFC 3339 capture time reported by the station'),
  label: z.string().describe('decided label, e.g. contaminated or clean'),
  flagged: z.boolean().describe('true when label is the model positive label (handle with care)'),
  score: z.number().min(0).max(1).describe('probability of the positive label'),
  threshold: z.number().min(0).max(1).describe('decision threshold applied to score'),
  model: z.object({ name: z.string(), version: z.string() }).describe('model that decided'),
  worker: z.object({ id: z.string(), executionProvider: z.string() }).describe('worker that ran the model'),
  timingsMs: z.object({
    upload: millis, queue: millis, transfer: millis, workerQueue: millis.optional(), read: millis.optional(), decode: millis, inference: millis, total: millis,
  }).describe('milliseconds per pipeline stage'),
  decidedAt: z.string().describe('RFC 3339 time the verdict was made'),
});
export type VerdictEvent = z.infer<typeof VerdictEventSchema>;

/** Where verdicts go after they are decided; implemented by the NATS adapter. */
export interface VerdictPublisher {
  /** Resolves once the event is durably stored (JetStream ack); rejects with a retryable QuicksilverError otherwise. */
  publish(event: VerdictEvent, signal?: AbortSignal): Promise<void>;
}
