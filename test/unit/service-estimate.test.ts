import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ServiceTimeEstimate } from '../../coordinator/src/service-estimate.js';

it('ServiceTimeEstimate: time-weighted average of round trips that decays toward 0 while no sample comes', { timeout: 5000 }, () => {
  const estimate = new ServiceTimeEstimate(10_000, 60_000);
  assert.equal(estimate.read(0), undefined);
  estimate.observe(100, 0);
  assert.equal(estimate.read(0), 100, 'the first sample is the estimate');
  estimate.observe(200, 10);
  assert.ok(Math.abs(estimate.read(10)! - 100.1) < 0.01, `a sample right after another counts little (${estimate.read(10)})`);
  estimate.observe(200, 10 + 100_000);
  assert.ok(estimate.read(10 + 100_000)! > 199, 'a sample long after the last one is nearly all of it');
  assert.ok(Math.abs(estimate.read(10 + 100_000 + 60_000)! - 200 / Math.E) < 0.5, 'one idle time constant later: 1/e of it');
});
