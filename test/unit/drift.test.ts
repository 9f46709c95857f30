import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  accuracyFigures, binIndex, confusionOutcome, imageStatistics, populationStabilityIndex, PSI_EPSILON,
  RollingConfusion, SlidingMean, SlidingScoreHistogram,
} from '../../common/src/drift.js';
import { ModelManifestSchema } from '../../common/src/model-manifest.js';
import { repoRoot } from '../../common/src/paths.js';
import { DriftMonitor } from '../../gpu-worker/src/drift-monitor.js';

describe('populationStabilityIndex', { timeout: 10_000 }, () => {
  it('is 0 for identical distributions, whatever the totals', () => {
    assert.equal(populationStabilityIndex([10, 20, 70], [1, 2, 7]), 0);
  });

  it('matches the formula on a worked example', () => {
    // expected 50/50, actual 80/20: (0.8-0.5)ln(0.8/0.5) + (0.2-0.5)ln(0.2/0.5)
    const expected = 0.3 * Math.log(1.6) + -0.3 * Math.log(0.4);
    assert.ok(Math.abs(populationStabilityIndex([5, 5], [8, 2]) - expected) < 1e-12);
  });

  it('floors empty bins at epsilon instead of returning Infinity', () => {
    const psi = populationStabilityIndex([1, 0], [0, 1]);
    const e = PSI_EPSILON;
    assert.ok(Math.abs(psi - 2 * (1 - e) * Math.log(1 / e)) < 1e-9);
  });

  it('is 0 when a side is empty and refuses mismatched bins', () => {
    assert.equal(populationStabilityIndex([1, 2], [0, 0]), 0);
    assert.throws(() => populationStabilityIndex([1, 2], [1, 2, 3]), RangeError);
  });
});

describe('binIndex', { timeout: 10_000 }, () => {
  const edges = [0, 0.25, 0.5, 0.75, 1];
  it('puts values in half-open bins, the last one closed, outliers clamped', () => {
    assert.deepEqual([0, 0.1, 0.25, 0.49, 0.5, 0.74, 0.75, 1, -1, 2].map((v) => binIndex(edges, v)), [0, 0, 1, 1, 2, 2, 3, 3, 0, 3]);
  });
});

describe('SlidingScoreHistogram', { timeout: 10_000 }, () => {
  it('keeps only the last N scores and computes PSI against a reference', () => {
    const histogram = new SlidingScoreHistogram([0, 0.5, 1], 4);
    for (const score of [0.1, 0.2, 0.9, 0.8]) histogram.add(score);
    assert.deepEqual(histogram.counts, [2, 2]);
    assert.equal(histogram.psiAgainst([50, 50]), 0);
    histogram.add(0.95);
    histogram.add(0.99); // evicts 0.1 and 0.2
    assert.deepEqual(histogram.counts, [0, 4]);
    assert.equal(histogram.size, 4);
    assert.ok(histogram.psiAgainst([50, 50]) > 3);
  });
});

describe('SlidingMean', { timeout: 10_000 }, () => {
  it('averages the last N values', () => {
    const mean = new SlidingMean(2);
    assert.equal(mean.mean, 0);
    mean.add(1); mean.add(3); mean.add(5);
    assert.equal(mean.mean, 4);
  });
});

describe('RollingConfusion', { timeout: 10_000 }, () => {
  it('maps verdict and truth to outcomes', () => {
    assert.deepEqual([[true, true], [true, false], [false, false], [false, true]].map(([f, c]) => confusionOutcome(f!, c!)), ['tp', 'fp', 'tn', 'fn']);
  });

  it('computes accuracy, precision and recall over the window', () => {
    const rolling = new RollingConfusion(4);
    for (const outcome of ['tp', 'tp', 'tn', 'fn'] as const) rolling.add(outcome);
    assert.deepEqual(rolling.figures, { accuracy: 0.75, precision: 1, recall: 2 / 3 });
    rolling.add('fp'); // evicts the first tp
    assert.deepEqual(rolling.counts, { tp: 1, fp: 1, tn: 1, fn: 1 });
    assert.deepEqual(rolling.figures, { accuracy: 0.5, precision: 0.5, recall: 0.5 });
    assert.deepEqual(accuracyFigures({ tp: 0, fp: 0, tn: 0, fn: 0 }), { accuracy: 0, precision: 0, recall: 0 });
  });
});

describe('imageStatistics', { timeout: 10_000 }, () => {
  it('reads brightness, colour cast and entropy back from a normalized tensor', () => {
    const normalization = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
    const plane = 4;
    const pixels = [[1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0]]; // half white, half black
    const tensor = new Float32Array(3 * plane);
    pixels.forEach((rgb, i) => rgb.forEach((v, c) => { tensor[c * plane + i] = (v - 0.5) / 0.25; }));
    const stats = imageStatistics(tensor, 0, plane, normalization, 1);
    assert.equal(stats.brightness, 0.5);
    assert.equal(stats.colourCast, 0);
    assert.equal(stats.entropyBits, 1);
    const warm = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) { warm[i] = 2; warm[plane + i] = 0; warm[2 * plane + i] = -2; } // R=1, G=0.5, B=0
    const warmStats = imageStatistics(warm, 0, plane, normalization, 1);
    assert.equal(warmStats.colourCast, 1);
    assert.equal(warmStats.entropyBits, 0);
  });
});

describe('model manifest: the drift reference', { timeout: 10_000 }, () => {
  const raw = JSON.parse(readFileSync(join(repoRoot(), 'models', 'mercury-cnn', '1.0.0', 'manifest.json'), 'utf8'));
  const withReference = (change: (reference: { binEdges: number[]; counts: number[] }) => void) => {
    const copy = structuredClone(raw);
    change(copy.referenceScores);
    return ModelManifestSchema.safeParse(copy);
  };

  it('is accepted as shipped, and refused with unordered bin edges or all-zero counts, naming the field', () => {
    assert.equal(withReference(() => {}).success, true);
    const unordered = withReference((reference) => { [reference.binEdges[1], reference.binEdges[2]] = [reference.binEdges[2]!, reference.binEdges[1]!]; });
    assert.match(JSON.stringify(unordered.error?.issues), /referenceScores","binEdges".*strictly ascending/);
    const empty = withReference((reference) => { reference.counts = reference.counts.map(() => 0); });
    assert.match(JSON.stringify(empty.error?.issues), /referenceScores","counts".*must not all be zero/);
  });
});

describe('DriftMonitor', { timeout: 10_000 }, () => {
  const manifest = ModelManifestSchema.parse(JSON.parse(readFileSync(join(repoRoot(), 'models', 'mercury-cnn', '1.0.0', 'manifest.json'), 'utf8')));
  const next = { ...manifest, version: '2.0.0' };

  it('drops the series of a retired version from the exposition', async () => {
    const registry = new Registry();
    const monitor = new DriftMonitor(registry, 10);
    monitor.track(manifest);
    monitor.track(next);
    for (const score of [0.99, 0.98, 0.97]) monitor.observeScore(manifest, score, true);
    assert.match(await registry.metrics(), /quicksilver_drift_score_psi\{model_version="mercury-cnn@1\.0\.0"\}/);
    monitor.untrack(manifest);
    const text = await registry.metrics();
    assert.doesNotMatch(text, /mercury-cnn@1\.0\.0/);
    assert.match(text, /quicksilver_drift_score_psi\{model_version="mercury-cnn@2\.0\.0"\} 0/);
  });
});
