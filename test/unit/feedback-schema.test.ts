import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { FeedbackEventSchema, feedbackJsonSchema, feedbackSubject } from '../../common/src/feedback.js';
import { repoRoot } from '../../common/src/paths.js';

it('docs/schemas/feedback-event.schema.json matches FeedbackEventSchema', { timeout: 5000 }, () => {
  const committed = readFileSync(join(repoRoot(), 'docs', 'schemas', 'feedback-event.schema.json'), 'utf8');
  assert.equal(committed, feedbackJsonSchema(), 'stale: run `npm run build && node bin/quicksilver.js feedback-schema > docs/schemas/feedback-event.schema.json`');
});

it('feedback needs a key or a barcode and a boolean truth', { timeout: 5000 }, () => {
  assert.equal(feedbackSubject('conveyor-1'), 'quicksilver.feedback.conveyor-1');
  assert.equal(FeedbackEventSchema.safeParse({ schema: 'quicksilver.feedback.v1', barcode: 'B1', contaminated: false }).success, true);
  const noTarget = FeedbackEventSchema.safeParse({ schema: 'quicksilver.feedback.v1', contaminated: true });
  assert.equal(noTarget.success, false);
  assert.match(noTarget.error!.issues[0]!.message, /idempotencyKey or barcode/);
  assert.equal(FeedbackEventSchema.safeParse({ schema: 'quicksilver.feedback.v1', barcode: 'B1', contaminated: 'yes' }).success, false);
  assert.equal(FeedbackEventSchema.safeParse({ schema: 'quicksilver.verdict.v1', barcode: 'B1', contaminated: true }).success, false);
});
