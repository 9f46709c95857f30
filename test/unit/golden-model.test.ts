// Golden test of the reference model: held-out sheets regenerated from their synth seeds, run
// through the served preprocessing (preprocessInto) and onnxruntime-node, must give the logits
// PyTorch produced at training time (to 1e-4): any train/serve skew (resize kernel, JPEG decode,
// normalization, channel order) or generator drift fails here. Also: the checksum guard.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { QuicksilverError } from '../../common/src/errors.js';
import { loadModel } from '../../common/src/model-manifest.js';
import { preprocessInto } from '../../common/src/preprocess.js';
import { renderSheet, type RenderSheetOptions } from '../../common/src/synth/index.js';

const modelDir = fileURLToPath(new URL('../../../models/mercury-cnn/1.0.0/', import.meta.url));
const manifestPath = join(modelDir, 'manifest.json');

interface Golden {
  tolerance: number;
  images: Array<{ barcode: string; render: Required<Omit<RenderSheetOptions, 'quality'>> & { quality: number }; logits: number[] }>;
}

describe('reference model golden set', () => {
  test('served logits equal the training-time PyTorch logits', { timeout: 120_000 }, async () => {
    const golden = JSON.parse(await readFile(join(modelDir, 'golden.json'), 'utf8')) as Golden;
    const { manifest, modelPath } = await loadModel(manifestPath);
    const { width, height } = manifest.preprocessing.resize;
    const imageSize = 3 * width * height;
    assert.equal(golden.images.length, 8);
    assert.ok(golden.images.some((g) => g.render.contaminated) && golden.images.some((g) => !g.render.contaminated));

    const batch = new Float32Array(golden.images.length * imageSize);
    for (const [index, image] of golden.images.entries()) {
      const { bytes, truth } = await renderSheet(image.render);
      assert.equal(truth.barcode, image.barcode);
      await preprocessInto(bytes, manifest.preprocessing, batch, index * imageSize);
    }
    const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
    try {
      const input = new ort.Tensor('float32', batch, [golden.images.length, 3, height, width]);
      const output = (await session.run({ [manifest.input.name]: input }))[manifest.output.name]!;
      const logits = output.data as Float32Array;
      assert.deepEqual(output.dims, [golden.images.length, manifest.labels.length]);
      golden.images.forEach((image, row) => {
        image.logits.forEach((expected, column) => {
          const served = logits[row * manifest.labels.length + column]!;
          assert.ok(Math.abs(served - expected) <= 1e-4, `${image.barcode} logit ${column}: served ${served}, PyTorch ${expected}`);
        });
      });
    } finally {
      await session.release();
    }
  });

  test('loadModel refuses a manifest whose sha256 does not match the model file', { timeout: 30_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qs-golden-'));
    try {
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { sha256: string; file: string };
      await copyFile(join(modelDir, manifest.file), join(dir, manifest.file));
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
      assert.equal((await loadModel(join(dir, 'manifest.json'))).manifest.sha256, manifest.sha256, 'an intact copy loads');
      const flipped = (manifest.sha256[0] === '0' ? '1' : '0') + manifest.sha256.slice(1);
      await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, sha256: flipped }));
      await assert.rejects(loadModel(join(dir, 'manifest.json')), (error: unknown) =>
        error instanceof QuicksilverError && error.code === 'MODEL_CHECKSUM_MISMATCH' && !error.retryable);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
