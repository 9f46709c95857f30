// InferenceEngine with real onnxruntime-node and sharp, on a tiny CNN and images made here.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import sharp from 'sharp';
import { QuicksilverError } from '../../common/src/errors.js';
import { repoRoot } from '../../common/src/paths.js';
import { preprocessInto } from '../../common/src/preprocess.js';
import { ortBinaryDir } from '../../gpu-worker/src/execution-providers.js';
import { InferenceEngine, type ClassifyResult, type InferenceEngineOptions } from '../../gpu-worker/src/inference-engine.js';
import { ImageBufferPool, MIN_POOLED_BYTES } from '../../gpu-worker/src/image-buffer-pool.js';
import { compareVersions } from '../../gpu-worker/src/model-store.js';
import { pngBomb } from '../helpers/bad-images.js';
import { writeTinyCnnModel, type WrittenModel } from '../support/tiny-cnn-model.js';

const SIZE = 64;
const TIMEOUT = { timeout: 60_000 };

function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

function engineOptions(modelsDir: string, overrides: Partial<InferenceEngineOptions> = {}): InferenceEngineOptions {
  return {
    modelsDir, executionProviders: ['cpu'], cudaDeviceId: 0, requireGpu: false,
    maxBatchSize: 8, maxQueueDelayMicros: 0, decodeConcurrency: 2, intraOpThreads: 0, maxInputPixels: 50_000_000,
    logger: captureLogger().logger, registry: new Registry(), ...overrides,
  };
}

/** Seeded noise over a seed-dependent colour ramp, so every image scores differently. */
async function noiseJpeg(seed: number, width = 320, height = 480): Promise<Buffer> {
  let state = seed * 7919 + 1;
  const random = () => (state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
  const tint = [random() * 255, random() * 255, random() * 255];
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) pixels[(y * width + x) * 3 + c] = (tint[c]! * (x + y)) / (width + height) + random() * 80;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

async function gradientPng(width = 200, height = 300): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      pixels[p] = (x * 255) / width;
      pixels[p + 1] = (y * 255) / height;
      pixels[p + 2] = ((x + y) * 97) % 256;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** The reference: one image through preprocessInto and a separate onnxruntime session, softmax in float64. */
async function directScore(model: WrittenModel, bytes: Buffer): Promise<number> {
  const tensor = new Float32Array(3 * SIZE * SIZE);
  await preprocessInto(bytes, model.manifest.preprocessing, tensor);
  const session = await ort.InferenceSession.create(model.modelPath);
  try {
    const out = await session.run({ input: new ort.Tensor('float32', tensor, [1, 3, SIZE, SIZE]) });
    const [clean, mercury] = Array.from(out.logits!.data as Float32Array);
    return 1 / (1 + Math.exp(clean! - mercury!));
  } finally {
    await session.release();
  }
}

const codeOf = (code: string) => (error: unknown) => error instanceof QuicksilverError && error.code === code;

describe('InferenceEngine', TIMEOUT, () => {
  let root: string;
  let modelsDir: string;
  let model: WrittenModel;
  let engine: InferenceEngine;
  let registry: Registry;
  let images: Buffer[];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'qs-engine-'));
    modelsDir = join(root, 'models');
    model = await writeTinyCnnModel(modelsDir);
    images = [await gradientPng(), ...(await Promise.all(Array.from({ length: 11 }, (_, i) => noiseJpeg(i))))];
    registry = new Registry();
    engine = new InferenceEngine(engineOptions(modelsDir, { registry, maxBatchSize: 8, maxQueueDelayMicros: 20_000 }));
    await engine.start();
  });

  after(async () => {
    await engine?.stop(AbortSignal.timeout(5000));
    await rm(root, { recursive: true, force: true });
  });

  it('starts ready on the cpu provider with the model, after warming it up', () => {
    assert.equal(engine.ready, true);
    assert.equal(engine.executionProvider, 'cpu');
    assert.match(engine.device, /^cpu: .+ x\d+$/);
    assert.deepEqual(engine.models, [{ name: 'tiny-cnn', version: '1.0.0' }]);
  });

  it('scores a JPEG and a PNG exactly as a direct onnxruntime run on the preprocessInto tensor', TIMEOUT, async () => {
    for (const bytes of [images[0]!, images[1]!]) {
      const result = await engine.classify({ bytes });
      const expected = await directScore(model, bytes);
      assert.ok(Math.abs(result.score - expected) <= 1e-5, `engine ${result.score} vs direct ${expected}`);
      assert.equal(result.flagged, result.score >= 0.5);
      assert.equal(result.label, result.flagged ? 'mercury' : 'clean');
      assert.equal(result.threshold, 0.5);
      assert.equal(result.modelName, 'tiny-cnn');
      assert.equal(result.modelVersion, '1.0.0');
      assert.ok(result.decodeMs > 0 && result.inferenceMs > 0 && result.queueMs >= 0);
    }
  });

  it('batches concurrent requests, with the same scores as single runs', TIMEOUT, async () => {
    const single: ClassifyResult[] = [];
    for (const bytes of images) single.push(await engine.classify({ bytes })); // one at a time: batches of 1
    assert.ok(single.every((r) => r.batchSize === 1));
    const distinct = new Set(single.map((r) => r.score.toFixed(4)));
    assert.equal(distinct.size, images.length, 'the images score differently, so a mixed-up slot would show');
    const concurrent = await Promise.all(images.map((bytes) => engine.classify({ bytes, priority: 'bulk' }))); // the batching lane
    assert.ok(Math.max(...concurrent.map((r) => r.batchSize)) > 1, `batch sizes ${concurrent.map((r) => r.batchSize)}`);
    concurrent.forEach((r, i) => {
      assert.ok(Math.abs(r.score - single[i]!.score) <= 1e-5, `image ${i}: ${r.score} batched vs ${single[i]!.score} alone`);
      assert.equal(r.label, single[i]!.label);
    });
    const metrics = await registry.metrics();
    const sample = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1]);
    const batchesOf1 = sample(/^quicksilver_worker_batch_size_bucket\{le="1"[^}]*\} (\d+)$/m);
    const batches = sample(/^quicksilver_worker_batch_size_count(?:\{[^}]*\})? (\d+)$/m);
    assert.ok(batches > batchesOf1, `the batch-size histogram saw batches larger than 1 (${batchesOf1} of ${batches} were 1)`);
  });

  it('rejects corrupt, non-image, empty and bomb inputs with their codes, and keeps serving', TIMEOUT, async () => {
    const good = images[2]!;
    const cases: [string, Buffer][] = [
      ['IMAGE_CORRUPT', good.subarray(0, Math.floor(good.length / 3))],
      ['UNSUPPORTED_FORMAT', Buffer.from('specimen 0042, Lycopodiaceae\n')],
      ['IMAGE_EMPTY', Buffer.alloc(0)],
      ['IMAGE_TOO_LARGE', pngBomb()],
    ];
    const startedAt = performance.now();
    const outcomes = await Promise.allSettled([...cases.map(([, bytes]) => engine.classify({ bytes })), engine.classify({ bytes: good })]);
    assert.ok(performance.now() - startedAt < 5000, 'bad inputs fail fast');
    cases.forEach(([code], i) => {
      const outcome = outcomes[i]!;
      assert.equal(outcome.status, 'rejected', code);
      assert.equal((outcome as PromiseRejectedResult).reason.code, code);
    });
    const expected = await directScore(model, good);
    assert.equal(outcomes[4]!.status, 'fulfilled', 'a good image in the same batch window is served');
    const sameWindow = (outcomes[4] as PromiseFulfilledResult<ClassifyResult>).value;
    assert.ok(Math.abs(sameWindow.score - expected) <= 1e-5, 'its slot was moved into the failed ones\' place intact');
    const after = await engine.classify({ bytes: good });
    assert.ok(Math.abs(after.score - expected) <= 1e-5);
    const metrics = await registry.metrics();
    for (const [code] of cases) assert.match(metrics, new RegExp(`quicksilver_worker_errors_total\\{code="${code}"[^}]*\\} 1`));
  });

  it('rejects an unknown model with UNKNOWN_MODEL', TIMEOUT, async () => {
    await assert.rejects(engine.classify({ bytes: images[0]!, modelName: 'no-such-model' }), codeOf('UNKNOWN_MODEL'));
    await assert.rejects(engine.classify({ bytes: images[0]!, modelName: 'tiny-cnn@9.9.9' }), codeOf('UNKNOWN_MODEL'));
    assert.equal((await engine.classify({ bytes: images[0]!, modelName: 'tiny-cnn@1.0.0' })).modelVersion, '1.0.0');
  });

  it('runs a realtime image in its express lane ahead of a bulk flood submitted before it', TIMEOUT, async () => {
    const finished: string[] = [];
    const track = (name: string, p: Promise<ClassifyResult>) => p.then((r) => { finished.push(name); return r; });
    const bulk = Array.from({ length: 24 }, (_, i) => track(`bulk-${i}`, engine.classify({ bytes: images[i % images.length]!, priority: 'bulk' })));
    const realtime = await track('realtime', engine.classify({ bytes: images[0]!, priority: 'realtime' }));
    await Promise.all(bulk);
    const position = finished.indexOf('realtime');
    assert.ok(position < bulk.length / 2, `the realtime image finished ${position + 1}th of ${finished.length}: ${finished.join(' ')}`);
    assert.ok(realtime.batchSize <= 2, `it ran in a batch of ${realtime.batchSize}, not in a bulk batch`);
  });

  it('hands each image\'s pooled buffer back once decoded: a buffer re-lent and overwritten at once never changes another image\'s score', TIMEOUT, async () => {
    const poolRegistry = new Registry();
    const pool = new ImageBufferPool({ maxIdleBytes: 64 * 2 ** 20, registry: poolRegistry });
    const pooled = new InferenceEngine(engineOptions(modelsDir, { registry: new Registry(), maxBatchSize: 4, maxQueueDelayMicros: 2000, releaseImage: (bytes) => pool.release(bytes) }));
    await pooled.start();
    try {
      const large = images.filter((bytes) => bytes.length >= MIN_POOLED_BYTES);
      assert.ok(large.length >= 8, `${large.length} test images are large enough to be pooled`);
      const alone: number[] = [];
      for (const bytes of large) alone.push((await pooled.classify({ bytes })).score);
      // 6 images in flight; each one finished lends its buffer to the next, which is written over at once.
      let next = 0;
      const total = 8 * large.length;
      const mismatches: string[] = [];
      await Promise.all(Array.from({ length: 6 }, async () => {
        while (next < total) {
          const i = next++ % large.length;
          const buffer = pool.acquire(large[i]!.length);
          large[i]!.copy(buffer);
          const { score } = await pooled.classify({ bytes: buffer, priority: i % 3 === 0 ? 'realtime' : 'bulk' });
          if (Math.abs(score - alone[i]!) > 1e-5) mismatches.push(`image ${i}: ${score} vs ${alone[i]} alone`);
        }
      }));
      assert.deepEqual(mismatches, []);
      const acquired = (await poolRegistry.getSingleMetric('quicksilver_worker_image_buffers_acquired_total')!.get()).values;
      const count = (outcome: string) => acquired.find((v) => v.labels.outcome === outcome)?.value ?? 0;
      assert.ok(count('reused') > total / 2, `buffers reused ${count('reused')} times, allocated ${count('allocated')}, for ${total} images`);
      // Refused before the batcher (unknown model) and refused by the decoder: both handed back too.
      const idleBytes = async () => (await poolRegistry.getSingleMetric('quicksilver_worker_image_buffer_pool_idle_bytes')!.get()).values[0]!.value;
      const idleBefore = await idleBytes();
      const refused = pool.acquire(large[0]!.length);
      assert.ok(await idleBytes() < idleBefore, 'an idle buffer was lent');
      await assert.rejects(pooled.classify({ bytes: refused, modelName: 'no-such-model' }), codeOf('UNKNOWN_MODEL'));
      assert.equal(await idleBytes(), idleBefore, 'handed back after UNKNOWN_MODEL');
      const corrupt = pool.acquire(large[1]!.length);
      large[1]!.copy(corrupt);
      corrupt.fill(0, 200);
      await assert.rejects(pooled.classify({ bytes: corrupt }), codeOf('IMAGE_CORRUPT'));
      assert.equal(await idleBytes(), idleBefore, 'handed back after IMAGE_CORRUPT');
    } finally {
      await pooled.stop(AbortSignal.timeout(5000));
    }
  });

  it('drops a request whose signal aborts before it runs', TIMEOUT, async () => {
    await assert.rejects(engine.classify({ bytes: images[3]!, signal: AbortSignal.abort(new QuicksilverError('DEADLINE_EXCEEDED', 'gone')) }),
      codeOf('DEADLINE_EXCEEDED'));
  });

  it('refuses a model whose file does not match its sha256, serves the others, newest version by default', TIMEOUT, async () => {
    const dir = join(root, 'mixed');
    await writeTinyCnnModel(dir, { version: '1.0.0' });
    await writeTinyCnnModel(dir, { version: '1.2.0', seed: 777 });
    await writeTinyCnnModel(dir, { version: '1.10.0-rc.1', seed: 778 });
    const tampered = await writeTinyCnnModel(dir, { name: 'tampered-cnn', seed: 99 });
    await writeFile(tampered.modelPath, Buffer.concat([Buffer.from(tampered.modelPath), Buffer.alloc(8)])); // replaced file
    const mixedRegistry = new Registry();
    const mixed = new InferenceEngine(engineOptions(dir, { registry: mixedRegistry }));
    await mixed.start();
    try {
      assert.deepEqual(mixed.models.map((m) => `${m.name}@${m.version}`), ['tiny-cnn@1.10.0-rc.1', 'tiny-cnn@1.2.0', 'tiny-cnn@1.0.0']);
      assert.equal((await mixed.classify({ bytes: images[0]! })).modelVersion, '1.10.0-rc.1');
      assert.equal((await mixed.classify({ bytes: images[0]!, modelName: 'tiny-cnn@1.0.0' })).modelVersion, '1.0.0');
      await assert.rejects(mixed.classify({ bytes: images[0]!, modelName: 'tampered-cnn' }), codeOf('UNKNOWN_MODEL'));
      assert.match(await mixedRegistry.metrics(), /quicksilver_worker_model_load_failures_total\{reason="checksum_mismatch"[^}]*\} 1/);
    } finally {
      await mixed.stop(AbortSignal.timeout(5000));
    }
    assert.ok(compareVersions('1.10.0', '1.9.0') > 0 && compareVersions('1.0.0-rc.1', '1.0.0') < 0);

    const onlyBad = join(root, 'only-bad');
    const bad = await writeTinyCnnModel(onlyBad, { seed: 5 });
    await writeFile(bad.modelPath, Buffer.from('not the model the manifest describes'));
    const badRegistry = new Registry();
    const refused = new InferenceEngine(engineOptions(onlyBad, { registry: badRegistry }));
    await assert.rejects(refused.start(), codeOf('MODEL_CHECKSUM_MISMATCH'));
    assert.equal(refused.ready, false);
    assert.match(await badRegistry.metrics(), /quicksilver_worker_model_load_failures_total\{reason="checksum_mismatch"[^}]*\} 1/);
  });

  const cudaInstalled = existsSync(join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so'));

  it('falls back from cuda to cpu and logs why cuda failed', { ...TIMEOUT, skip: cudaInstalled && 'the CUDA provider is installed here' }, async () => {
    const { logger, lines } = captureLogger();
    const fallback = new InferenceEngine(engineOptions(modelsDir, { executionProviders: ['cuda', 'cpu'], logger }));
    await fallback.start();
    try {
      assert.equal(fallback.executionProvider, 'cpu');
      const chosen = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('execution provider:'));
      assert.ok(chosen, 'one line names the chosen provider');
      assert.equal(chosen.provider, 'cpu');
      assert.match(String((chosen.failed as string[])[0]), /^cuda: .*(shared library|libonnxruntime_providers_cuda)/);
      assert.ok((await fallback.classify({ bytes: images[0]! })).score >= 0);
    } finally {
      await fallback.stop(AbortSignal.timeout(5000));
    }
  });

  it('with requireGpu, fails start() instead of falling back to cpu', { ...TIMEOUT, skip: cudaInstalled && 'the CUDA provider is installed here' }, async () => {
    for (const executionProviders of [['cuda'], ['cuda', 'cpu']] as const) {
      const strict = new InferenceEngine(engineOptions(modelsDir, { executionProviders: [...executionProviders], requireGpu: true }));
      await assert.rejects(strict.start(), (e: QuicksilverError) =>
        e.code === 'CONFIG_INVALID' && /requireGpu/.test(e.message) && /cuda: /.test(e.message));
      assert.equal(strict.ready, false);
      assert.equal(strict.executionProvider, 'none');
    }
  });

  it('hot-swaps models: serves a new version folder, refuses a bad one once, retires a removed one after its queued work, keeps the last', TIMEOUT, async () => {
    const dir = join(root, 'hot');
    await writeTinyCnnModel(dir, { version: '1.0.0' });
    const hotRegistry = new Registry();
    const { logger, lines } = captureLogger();
    const hot = new InferenceEngine(engineOptions(dir, { registry: hotRegistry, logger, maxQueueDelayMicros: 300_000 }));
    await hot.start();
    try {
      assert.deepEqual(await hot.reload(), { added: [], retired: [], refused: [] }, 'nothing changed');
      await writeTinyCnnModel(dir, { version: '1.1.0', seed: 777 });
      const tampered = await writeTinyCnnModel(dir, { version: '2.0.0', seed: 778 });
      await writeFile(tampered.modelPath, Buffer.alloc(64)); // a half-copied or wrong file
      const first = await hot.reload();
      assert.deepEqual(first.added, ['tiny-cnn@1.1.0']);
      assert.deepEqual(first.refused, [tampered.manifestPath]);
      assert.equal((await hot.classify({ bytes: images[0]! })).modelVersion, '1.1.0', 'the newest version serves unpinned requests');
      assert.equal((await hot.classify({ bytes: images[0]!, modelName: 'tiny-cnn@1.0.0' })).modelVersion, '1.0.0');
      await hot.reload();
      const refusals = lines.filter((l) => l.msg === 'model refused' && l.manifestPath === tampered.manifestPath);
      assert.equal(refusals.length, 1, 'a refused version is logged once while its reason stays the same');
      // Retire 1.0.0 while a request for it waits in its batch (300 ms queue delay): the request still completes.
      const queued = hot.classify({ bytes: images[1]!, modelName: 'tiny-cnn@1.0.0', priority: 'bulk' });
      await rm(join(dir, 'tiny-cnn', '1.0.0'), { recursive: true });
      await rm(join(dir, 'tiny-cnn', '2.0.0'), { recursive: true });
      const second = await hot.reload();
      assert.deepEqual(second.retired, ['tiny-cnn@1.0.0']);
      assert.equal((await queued).modelVersion, '1.0.0', 'queued work for a retired version runs before it goes');
      await assert.rejects(hot.classify({ bytes: images[0]!, modelName: 'tiny-cnn@1.0.0' }), codeOf('UNKNOWN_MODEL'));
      assert.deepEqual(hot.models, [{ name: 'tiny-cnn', version: '1.1.0' }]);
      await rm(join(dir, 'tiny-cnn', '1.1.0'), { recursive: true });
      assert.deepEqual((await hot.reload()).retired, [], 'the last model is never retired');
      assert.equal((await hot.classify({ bytes: images[0]! })).modelVersion, '1.1.0');
      const metrics = await hotRegistry.metrics();
      assert.match(metrics, /quicksilver_worker_model_changes_total\{change="added"\} 1/);
      assert.match(metrics, /quicksilver_worker_model_changes_total\{change="retired"\} 1/);
      assert.match(metrics, /quicksilver_worker_model_load_failures_total\{reason="checksum_mismatch"\} 1/);
    } finally {
      await hot.stop(AbortSignal.timeout(5000));
    }
  });

  it('refuses a manifest with an out-of-bounds batch or size, or a batch too big to stage: logged with the reason, counted, the others keep serving', TIMEOUT, async () => {
    const dir = join(root, 'bounds');
    await writeTinyCnnModel(dir, { size: 16, version: '1.0.0' });
    const boundsRegistry = new Registry();
    const { logger, lines } = captureLogger();
    const bounded = new InferenceEngine(engineOptions(dir, { registry: boundsRegistry, logger }));
    await bounded.start();
    try {
      const hugeBatch = await writeTinyCnnModel(dir, { size: 16, version: '1.1.0', manifestOverrides: {
        input: { name: 'input', layout: 'NCHW', shape: [3_200_000_000, 3, 16, 16], dtype: 'float32' } } });
      const wide = await writeTinyCnnModel(dir, { size: 16, version: '1.2.0', manifestOverrides: {
        input: { name: 'input', layout: 'NCHW', shape: [-1, 3, 16, 5000], dtype: 'float32' },
        preprocessing: { ...model.manifest.preprocessing, resize: { width: 5000, height: 16, kernel: 'linear', fit: 'fill' } } } });
      // Within every bound, but one batch would need 192 GiB of staging memory.
      const tooBig = await writeTinyCnnModel(dir, { size: 16, version: '1.3.0', manifestOverrides: {
        input: { name: 'input', layout: 'NCHW', shape: [1024, 3, 4096, 4096], dtype: 'float32' },
        preprocessing: { ...model.manifest.preprocessing, resize: { width: 4096, height: 4096, kernel: 'linear', fit: 'fill' } } } });
      const changes = await bounded.reload();
      assert.deepEqual(changes.added, []);
      assert.deepEqual(changes.refused.sort(), [hugeBatch.manifestPath, wide.manifestPath, tooBig.manifestPath].sort());
      const refusals = lines.filter((l) => l.msg === 'model refused');
      const reasonOf = (match: (l: Record<string, unknown>) => boolean) => String(refusals.find(match)?.err);
      assert.match(reasonOf((l) => l.manifestPath === hugeBatch.manifestPath), /input\.shape\.0: input\.shape\[0\] \(batch\) must be -1 \(dynamic\) or 1\.\.1024/);
      assert.match(reasonOf((l) => l.manifestPath === wide.manifestPath), /preprocessing\.resize\.width must be at most 4096/);
      assert.match(reasonOf((l) => l.model === 'tiny-cnn@1.3.0'), /needs 192\.0 GiB per staging buffer, more than 4 GiB/);
      assert.ok(refusals.every((l) => l.code === 'MODEL_INVALID'));
      assert.match(await boundsRegistry.metrics(), /quicksilver_worker_model_load_failures_total\{reason="invalid"\} 3/);
      assert.deepEqual(bounded.models, [{ name: 'tiny-cnn', version: '1.0.0' }]);
      assert.equal((await bounded.classify({ bytes: images[0]! })).modelVersion, '1.0.0');
    } finally {
      await bounded.stop(AbortSignal.timeout(5000));
    }
  });

  it('stop() drains queued work, then refuses new work with SHUTTING_DOWN', TIMEOUT, async () => {
    const stopping = new InferenceEngine(engineOptions(modelsDir, { maxQueueDelayMicros: 5_000_000 }));
    await stopping.start();
    const startedAt = performance.now();
    await stopping.classify({ bytes: images[5]! });
    assert.ok(performance.now() - startedAt < 2500, 'a realtime image does not wait out the 5 s queue delay (its lane has none)');
    const queued = Promise.all(images.slice(0, 4).map((bytes) => stopping.classify({ bytes, priority: 'bulk' })));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await stopping.stop(AbortSignal.timeout(5000));
    assert.equal((await queued).length, 4, 'queued work ran without waiting out the 5 s delay');
    await assert.rejects(stopping.classify({ bytes: images[0]! }), codeOf('SHUTTING_DOWN'));
    await stopping.stop(AbortSignal.timeout(10)); // idempotent
  });
});

describe('InferenceEngine model threads (reference model, 256 x 256)', TIMEOUT, () => {
  const referenceModels = join(repoRoot(), 'models');
  let images: Buffer[];

  before(async () => {
    images = await Promise.all(Array.from({ length: 16 }, (_, i) => noiseJpeg(100 + i, 300, 400)));
  });

  /** Longest pause of a 1 ms timer while 16 bulk images run as one batch, and that batch's run time. */
  /** The longest the event loop went without running a 1 ms timer while the batch ran: within the last
   *  `inferenceMs` before the results came (decoding before it, on a busy host, is not what is measured). */
  async function eventLoopStallDuringBatch(engine: InferenceEngine): Promise<{ maxGapMs: number; inferenceMs: number }> {
    const ticks: number[] = [performance.now()];
    const timer = setInterval(() => ticks.push(performance.now()), 1);
    try {
      const results = await Promise.all(images.map((bytes) => engine.classify({ bytes, priority: 'bulk' })));
      const end = performance.now(); // a blocked loop ran no timer up to now
      assert.equal(Math.max(...results.map((r) => r.batchSize)), 16, 'the 16 images ran as one batch');
      const inferenceMs = results[0]!.inferenceMs;
      const start = end - inferenceMs;
      let maxGapMs = 0;
      for (const [i, tick] of [...ticks, end].entries()) {
        const previous = ticks[i - 1];
        if (previous !== undefined && tick > start) maxGapMs = Math.max(maxGapMs, Math.min(tick, end) - Math.max(previous, start));
      }
      return { maxGapMs, inferenceMs };
    } finally {
      clearInterval(timer);
    }
  }

  it('keeps the event loop turning while a batch runs (in-thread runs block it for the whole run)', TIMEOUT, async () => {
    const measure = async (modelThreads: boolean) => {
      const engine = new InferenceEngine(engineOptions(referenceModels, { modelThreads, maxBatchSize: 16, maxQueueDelayMicros: 2_000_000 }));
      await engine.start();
      try {
        await eventLoopStallDuringBatch(engine); // warm
        return await eventLoopStallDuringBatch(engine);
      } finally {
        await engine.stop(AbortSignal.timeout(5000));
      }
    };
    const inThread = await measure(false);
    const threaded = await measure(true);
    assert.ok(inThread.maxGapMs >= inThread.inferenceMs * 0.9, `control: an in-thread run of ${inThread.inferenceMs.toFixed(1)} ms stalls the loop (${inThread.maxGapMs.toFixed(1)} ms)`);
    assert.ok(threaded.maxGapMs < inThread.maxGapMs / 2,
      `in a model thread the loop stalled at most ${threaded.maxGapMs.toFixed(1)} ms during a ${threaded.inferenceMs.toFixed(1)} ms run, vs ${inThread.maxGapMs.toFixed(1)} ms in-thread`);
  });

  it('serves one lane and one session per model when it takes one priority class, and both classes run on it', TIMEOUT, async () => {
    for (const lanes of [['realtime'], ['bulk']] as const) {
      const { logger, lines } = captureLogger();
      const engine = new InferenceEngine(engineOptions(referenceModels, { lanes, logger }));
      await engine.start();
      try {
        const warmed = lines.filter((line) => line.msg === 'model warmed up');
        assert.ok(warmed.length >= 1);
        assert.deepEqual(warmed.map((line) => line.sessions), warmed.map(() => 1), `${lanes}: one session per model`);
        const [realtime, bulk] = await Promise.all([engine.classify({ bytes: images[0]! }), engine.classify({ bytes: images[1]!, priority: 'bulk' })]);
        const direct = await Promise.all([engine.classify({ bytes: images[1]! })]);
        assert.ok(realtime.score >= 0 && realtime.score <= 1);
        assert.ok(Math.abs(bulk.score - direct[0]!.score) < 1e-6, `${lanes}: a request of either class runs on the one lane`);
      } finally {
        await engine.stop(AbortSignal.timeout(5000));
      }
    }
  });

  it('nices the bulk lane\'s model thread and its onnxruntime pool on the cpu provider, not the realtime one', { ...TIMEOUT, skip: process.platform !== 'linux' && 'thread nice values are Linux-only' }, async () => {
    const threadNiceness = () => readdirSync('/proc/self/task').map((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); // field 19: nice
    });
    const before = threadNiceness().filter((n) => n === 7).length;
    const engine = new InferenceEngine(engineOptions(referenceModels, { bulkRunNiceness: 7 }));
    await engine.start();
    try {
      const niced = threadNiceness().filter((n) => n === 7).length - before;
      assert.ok(niced >= 1, `threads at nice 7: ${niced}`);
      assert.ok(threadNiceness().filter((n) => n === 0).length >= 2, 'the event loop thread and the realtime model thread keep nice 0');
      const [realtime, bulk] = await Promise.all([engine.classify({ bytes: images[0]! }), engine.classify({ bytes: images[0]!, priority: 'bulk' })]);
      assert.ok(Math.abs(realtime.score - bulk.score) < 1e-6, 'both lanes\' sessions score alike');
    } finally {
      await engine.stop(AbortSignal.timeout(5000));
    }
    assert.equal(threadNiceness().filter((n) => n === 7).length, before, 'stop() ends the model threads');
  });
});
