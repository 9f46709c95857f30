// `quicksilver evaluate` on the reference model: regenerates the start of the recorded held-out
// split, scores it through loadModel + preprocessInto + onnxruntime-node, and reports mismatches.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { compareWithManifest, evaluateModel, metricsFromConfusion } from '../../cli/src/commands/evaluate.js';

const manifestPath = fileURLToPath(new URL('../../../models/mercury-cnn/1.0.0/manifest.json', import.meta.url));

test('metrics follow the confusion matrix (same formulas as train.py)', { timeout: 5_000 }, () => {
  const m = metricsFromConfusion({ tp: 8, fp: 2, tn: 85, fn: 5 });
  assert.equal(m.accuracy, 93 / 100);
  assert.equal(m.precision, 8 / 10);
  assert.equal(m.recall, 8 / 13);
  assert.equal(m.f1, 16 / 23);
  assert.deepEqual(metricsFromConfusion({ tp: 0, fp: 0, tn: 4, fn: 0 }), { accuracy: 1, precision: 0, recall: 0, f1: 0, confusion: { tp: 0, fp: 0, tn: 4, fn: 0 } });
});

test('evaluateModel scores the first sheets of the recorded split and compares with the manifest', { timeout: 120_000 }, async () => {
  const { manifest, result } = await evaluateModel(manifestPath, { count: 12, batch: 5 });
  assert.equal(result.images, 12);
  const { tp, fp, tn, fn } = result.confusion;
  assert.equal(tp + fp + tn + fn, 12);
  assert.ok(result.accuracy >= 0 && result.accuracy <= 1);
  const differences = compareWithManifest(manifest, result);
  assert.ok(differences.some((d) => d.startsWith('images:')), 'a partial split must not claim to match the manifest');
  const recorded = {
    ...result, ...manifest.validation, confusion: manifest.validation.confusion ?? result.confusion,
    scoreCounts: manifest.referenceScores.counts, inputs: manifest.referenceInputs ?? result.inputs,
  };
  assert.deepEqual(compareWithManifest(manifest, recorded), []);
  assert.ok(differences.some((d) => d.startsWith('referenceScores.counts:')), 'the drift reference histogram is compared too');
  assert.equal(result.scoreCounts.reduce((a, b) => a + b, 0), 12);
});
