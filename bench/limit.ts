// The limit: the worker's own engine and settings in this one process (decode, preprocess, infer),
// fed with a window of 2 x maxBatch images through the bulk lane, the one saturating work takes in a
// worker (queue delay, batches filling) - the images/s no distributed path can beat on this machine.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { repoRoot } from '../common/src/paths.js';
import { InferenceEngine } from '../gpu-worker/src/inference-engine.js';

export interface LimitOptions {
  total: number;
  maxBatchSize: number;
  queueDelayUs: number;
  providers: string;
}

export interface LimitResult {
  imagesPerSecond: number;
  meanBatch: number;
  /** This process's CPU (every thread, kernel included) per image. */
  cpuMsPerImage: number;
  provider: string;
  device: string;
  /** Cores this process may run on (its CPU affinity). */
  cores: number;
}

export async function measureLimit(images: { bytes: Buffer }[], options: LimitOptions): Promise<LimitResult> {
  const engine = new InferenceEngine({
    modelsDir: join(repoRoot(), 'models'), executionProviders: options.providers.split(',') as ('cuda' | 'webgpu' | 'cpu')[], cudaDeviceId: 0,
    requireGpu: false, maxBatchSize: options.maxBatchSize, maxQueueDelayMicros: options.queueDelayUs, decodeConcurrency: availableParallelism(),
    intraOpThreads: 0, maxInputPixels: 120_000_000, logger: pino({ level: 'warn' }), registry: new Registry(),
  });
  await engine.start();
  const window = 2 * options.maxBatchSize;
  let next = 0;
  const batchSizes: number[] = [];
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: window }, async () => {
    while (next < options.total) {
      const image = images[next++ % images.length]!;
      batchSizes.push((await engine.classify({ bytes: image.bytes, priority: 'bulk' })).batchSize);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const result = {
    imagesPerSecond: options.total / seconds,
    meanBatch: batchSizes.reduce((a, b) => a + b, 0) / batchSizes.length,
    cpuMsPerImage: (cpu.user + cpu.system) / 1000 / options.total,
    provider: engine.executionProvider,
    device: engine.device,
    cores: availableParallelism(),
  };
  await engine.stop(AbortSignal.timeout(5000));
  return result;
}
