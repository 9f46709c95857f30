// Ground-truth feedback: a curator confirms or refutes a verdict (e.g. after an XRF test).
//   NATS subject: quicksilver.feedback.<station_id>   (core NATS; the coordinators subscribe to
//                 quicksilver.feedback.> in queue group quicksilver-feedback, so each message is counted once)
//   gRPC:         quicksilver.v1.Feedback/Submit (proto/quicksilver/v1/feedback.proto), same fields.
// Payload: JSON matching FeedbackEventSchema (docs/schemas/feedback-event.schema.json is generated from it).
// A message with a reply subject is answered with FeedbackReply JSON.
import { z } from 'zod';

export const FEEDBACK_SUBJECT_PREFIX = 'quicksilver.feedback';
export const FEEDBACK_QUEUE_GROUP = 'quicksilver-feedback';

export function feedbackSubject(stationId: string): string {
  return `${FEEDBACK_SUBJECT_PREFIX}.${stationId}`;
}

export const FeedbackEventSchema = z.object({
  schema: z.literal('quicksilver.feedback.v1').describe('payload schema name and version'),
  idempotencyKey: z.string().max(128).default('').describe('idempotency key of the image whose verdict is judged (preferred)'),
  barcode: z.string().max(128).default('').describe('specimen barcode; used when idempotencyKey is empty (the latest verdict for it is judged)'),
  contaminated: z.boolean().describe('ground truth: true when the sheet carries mercury'),
  curator: z.string().max(128).default('').describe('who judged it (free text, for the audit log)'),
  method: z.string().max(64).default('').describe('how it was judged, e.g. xrf or visual'),
}).refine((f) => f.idempotencyKey !== '' || f.barcode !== '', { message: 'idempotencyKey or barcode is required', path: ['idempotencyKey'] });
export type FeedbackEvent = z.infer<typeof FeedbackEventSchema>;

/** Why feedback was refused: the `reason` label of quicksilver_feedback_rejected_total. */
export type FeedbackRejectionReason = 'invalid_json' | 'invalid_schema' | 'unknown_verdict' | 'duplicate';

export type FeedbackReply =
  | { accepted: true; outcome: 'tp' | 'fp' | 'tn' | 'fn'; modelVersion: string; stationId: string; idempotencyKey: string }
  | { accepted: false; reason: FeedbackRejectionReason; detail: string };

/** The JSON Schema a feedback publisher validates against (input form: defaulted fields optional). */
export function feedbackJsonSchema(): string {
  return `${JSON.stringify(z.toJSONSchema(FeedbackEventSchema, { io: 'input' }), null, 2)}\n`;
}
