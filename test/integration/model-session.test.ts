// Model sessions in a model thread (gpu-worker/src/model-session.ts) with real onnxruntime-node:
// the staging array travels to the thread and back (zero copy), a failed run hands it back too, and
// a released session refuses runs instead of hanging.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../../common/src/paths.js';
import { ModelRunError, openModelSession } from '../../gpu-worker/src/model-session.js';

const SETTINGS = { cudaDeviceId: 0, intraOpThreads: 1, intraOpSpinning: false, niceness: 0 };
const IMAGE = 3 * 256 * 256;

describe('model session in a model thread', { timeout: 60_000 }, () => {
  it('scores like an in-thread session, hands the staging array back on success and failure, refuses runs once released', async () => {
    const model = await readFile(join(repoRoot(), 'models', 'mercury-cnn', '1.0.0', 'model.onnx'));
    const threaded = await openModelSession(model, ['cpu'], { ...SETTINGS, thread: true });
    const inThread = await openModelSession(model, ['cpu'], { ...SETTINGS, thread: false });
    assert.equal(threaded.provider, 'cpu');
    assert.ok(threaded.session && inThread.session);
    assert.deepEqual(threaded.session.inputNames, ['image']);
    try {
      const staging = new Float32Array(2 * IMAGE);
      for (let i = 0; i < staging.length; i++) staging[i] = Math.sin(i / 97);
      const reference = await inThread.session.run('image', staging.slice(), [2, 3, 256, 256], 'logits');

      const run = await threaded.session.run('image', staging, [2, 3, 256, 256], 'logits');
      assert.equal(staging.length, 0, 'the array was handed over (transferred, not copied)');
      assert.equal(run.staging.length, 2 * IMAGE, 'and came back whole');
      assert.equal(run.staging[5], Math.fround(Math.sin(5 / 97)), 'with its contents');
      assert.deepEqual(run.output?.dims, [2, 2]);
      assert.deepEqual([...run.output!.data!], [...reference.output!.data!], 'same logits as the in-thread session');

      const failed = await threaded.session.run('no-such-input', run.staging, [2, 3, 256, 256], 'logits').then(() => undefined, (error: unknown) => error);
      assert.ok(failed instanceof ModelRunError, `a failed run rejects with ModelRunError (${String(failed)})`);
      assert.equal(failed.staging?.length, 2 * IMAGE, 'a failed run hands the staging array back too');

      await threaded.session.release();
      await threaded.session.release(); // idempotent
      await assert.rejects(threaded.session.run('image', new Float32Array(IMAGE), [1, 3, 256, 256], 'logits'), ModelRunError);
    } finally {
      await threaded.session?.release();
      await inThread.session?.release();
    }
  });

  it('reports every provider failure and no session when none works', async () => {
    const opened = await openModelSession(Buffer.from('not an onnx model'), ['cpu'], { ...SETTINGS, thread: true });
    assert.equal(opened.session, undefined);
    assert.equal(opened.provider, undefined);
    assert.equal(opened.failures[0]?.provider, 'cpu');
    assert.ok(opened.failures[0]!.reason.length > 0);
  });
});
