import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Verdict__Output } from '../../common/src/generated/quicksilver/v1/Verdict.js';
import { OperatorDisplay, formatRejectionLine, formatRetryLine, formatVerdictLine } from '../../agent/src/operator-display.js';

const verdict = (overrides: Partial<Verdict__Output>): Verdict__Output => ({
  idempotencyKey: 'st:abc', stationId: 'st', barcode: 'QS00012345', label: 'contaminated', score: 0.934, threshold: 0.5, flagged: true,
  modelName: 'mercury-cnn', modelVersion: '1.0.0', workerId: 'w1', executionProvider: 'cpu', timings: null, sha256: 'abc',
  fileName: 'QS00012345.jpg', decidedAt: '2026-11-27T10:15:00Z', ...overrides,
});

describe('operator display', { timeout: 5_000 }, () => {
  it('makes flagged sheets stand out and shows score, model and latency', () => {
    assert.equal(formatVerdictLine('QS00012345.jpg', verdict({}), 412.4), '⚠ FLAG  QS00012345.jpg  contaminated  score 0.93  (model mercury-cnn@1.0.0, 412 ms)');
    assert.equal(
      formatVerdictLine('QS00012346.jpg', verdict({ label: 'clean', score: 0.04, flagged: false }), 388),
      '  ok    QS00012346.jpg  clean  score 0.04  (model mercury-cnn@1.0.0, 388 ms)',
    );
  });

  it('prints rejections and retries on one line each', () => {
    assert.equal(formatRejectionLine('notes.txt', 'UNSUPPORTED_FORMAT', 'not an image'), '✗ REJECTED  notes.txt  UNSUPPORTED_FORMAT  not an image');
    assert.equal(formatRetryLine('a.jpg', 'NO_WORKER', 'busy', 1234), '↻ RETRY  a.jpg  NO_WORKER  busy  (resend in 1.2 s)');
  });

  it('writes through the given writer, or nothing when disabled', () => {
    const lines: string[] = [];
    new OperatorDisplay((line) => lines.push(line)).rejection('x.bmp', 'UNSUPPORTED_FORMAT', 'bmp');
    new OperatorDisplay((line) => lines.push(line), false).rejection('y.bmp', 'UNSUPPORTED_FORMAT', 'bmp');
    assert.deepEqual(lines, ['✗ REJECTED  x.bmp  UNSUPPORTED_FORMAT  bmp']);
  });
});
