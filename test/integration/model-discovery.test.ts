// Model discovery on a real file system: a model folder the worker may not list (a lost+found at mode 000
// on a volume, running as non-root) is a discovery failure of its own, logged and counted; the other
// models are still served and hot swap keeps working. Root reads a mode-000 folder anyway: skipped there.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { InferenceEngine } from '../../gpu-worker/src/inference-engine.js';
import { discoverModels } from '../../gpu-worker/src/model-store.js';
import { writeTinyCnnModel } from '../support/tiny-cnn-model.js';

const asRoot = process.getuid?.() === 0;

describe('model discovery with an unreadable model folder', { timeout: 60_000, skip: asRoot && 'root lists a mode-000 folder: run as non-root' }, () => {
  let dir: string;
  let modelsDir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qs-discovery-'));
    modelsDir = join(dir, 'models');
    await writeTinyCnnModel(modelsDir, { size: 16, version: '1.0.0' });
    await mkdir(join(modelsDir, 'lost+found'));
    await chmod(join(modelsDir, 'lost+found'), 0o000);
  });
  after(async () => {
    await chmod(join(modelsDir, 'lost+found'), 0o755).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('discoverModels records the folder as a failure with its reason and discovers the rest', async () => {
    const discovery = await discoverModels(modelsDir);
    assert.deepEqual(discovery.loaded.map((m) => `${m.manifest.name}@${m.manifest.version}`), ['tiny-cnn@1.0.0']);
    assert.equal(discovery.failures.length, 1);
    const [failure] = discovery.failures;
    assert.equal(failure!.manifestPath, join(modelsDir, 'lost+found'));
    assert.equal(failure!.error.code, 'MODEL_INVALID');
    assert.match(failure!.error.message, /cannot read model folder .*lost\+found: EACCES/);
  });

  it('the engine serves the readable models, logs and counts the folder once, and still hot-swaps', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const registry = new Registry();
    const engine = new InferenceEngine({
      modelsDir, executionProviders: ['cpu'], cudaDeviceId: 0, requireGpu: false, maxBatchSize: 2, maxQueueDelayMicros: 0,
      decodeConcurrency: 1, intraOpThreads: 1, maxInputPixels: 10_000_000, logger, registry,
    });
    await engine.start();
    try {
      await writeTinyCnnModel(modelsDir, { size: 16, version: '1.1.0', seed: 777 });
      const changes = await engine.reload();
      assert.deepEqual(changes.added, ['tiny-cnn@1.1.0'], 'hot swap still works');
      assert.deepEqual(changes.refused, [join(modelsDir, 'lost+found')]);
      assert.ok(!lines.some((l) => l.msg === 'model reload: nothing found; keeping the models served'));
      const refusals = lines.filter((l) => l.msg === 'model refused' && l.manifestPath === join(modelsDir, 'lost+found'));
      assert.equal(refusals.length, 1, 'logged once (at start; the same reason is not logged again)');
      assert.match(String(refusals[0]!.err), /EACCES/);
      assert.match(await registry.metrics(), /quicksilver_worker_model_load_failures_total\{reason="invalid"\} 1/);
    } finally {
      await engine.stop(AbortSignal.timeout(5000));
    }
  });
});
