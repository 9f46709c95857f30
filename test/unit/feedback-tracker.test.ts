// The feedback tracker's verdict index (pure unit): feedback by barcode judges the barcode's latest verdict
// by decision time, also when an older one arrives later (the JetStream history replayed at start).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { FeedbackTracker, type IndexedVerdict } from '../../coordinator/src/feedback-tracker.js';

const verdict = (key: string, modelVersion: string, decidedAt: string): IndexedVerdict => ({
  idempotencyKey: key, barcode: 'QS00012345', stationId: 's1', flagged: true, modelVersion, decidedAt,
});
const tracker = () => new FeedbackTracker({ registry: new Registry(), logger: pino({ level: 'silent' }), windowSize: 100, indexSize: 10 });
const byBarcode = { schema: 'quicksilver.feedback.v1', barcode: 'QS00012345', contaminated: true };

describe('FeedbackTracker', { timeout: 5000 }, () => {
  it('joins feedback by barcode to the latest verdict, whatever the order the verdicts were recorded in', () => {
    const newer = verdict('s1:new', 'mercury-cnn@2.0.0', '2026-11-29T10:00:00.000Z');
    const older = verdict('s1:old', 'mercury-cnn@1.0.0', '2026-11-28T10:00:00.000Z');
    for (const order of [[older, newer], [newer, older]]) {
      const index = tracker();
      for (const v of order) index.recordVerdict(v);
      assert.deepEqual(index.submit(byBarcode), { accepted: true, outcome: 'tp', modelVersion: 'mercury-cnn@2.0.0', stationId: 's1', idempotencyKey: 's1:new' });
    }
  });
});
