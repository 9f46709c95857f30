// The limit: the worker's own engine and settings in this one process (decode, preprocess, infer),
// fed with a window of 2 x maxBatch images - the images/s no distributed path can beat on this machine.
// The engine has two lanes (bulk: queue delay, batches filling; realtime: its own decode permits, no
// delay) and which is faster depends on the cores and images, so the limit runs both and takes the faster.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { repoRoot } from '../common/src/paths.js';
import { WorkerConfigSchema } from '../gpu-worker/src/config.js';
import { InferenceEngine } from '../gpu-worker/src/inference-engine.js';

const WORKER_DEFAULTS = WorkerConfigSchema.parse({});

export type Lane = 'bulk' | 'realtime';

export interface LimitOptions {
  total: number;
  maxBatchSize: number;
  queueDelayUs: number;
  providers: string;
  /** Measure this lane only (default: both, the faster one is the limit). */
  lane?: Lane;
}

export interface LaneThroughput {
  imagesPerSecond: number;
  meanBatch: number;
  /** This process's CPU (every thread, kernel included) per image. */
  cpuMsPerImage: number;
}

export interface LimitResult extends LaneThroughput {
  /** The faster lane, whose figures these are. */
  lane: Lane;
  lanes: Partial<Record<Lane, LaneThroughput>>;
  provider: string;
  device: string;
  /** Cores this process may run on (its CPU affinity). */
  cores: number;
}

export async function measureLimit(images: { bytes: Buffer }[], options: LimitOptions): Promise<LimitResult> {
  const engine = new InferenceEngine({
    modelsDir: join(repoRoot(), 'models'), executionProviders: options.providers.split(',') as ('cuda' | 'webgpu' | 'cpu')[], cudaDeviceId: 0,
    requireGpu: false, maxBatchSize: options.maxBatchSize, maxQueueDelayMicros: options.queueDelayUs, decodeConcurrency: availableParallelism(),
    intraOpThreads: 0, maxInputPixels: 120_000_000, lendRealtimeReserveAfterMs: WORKER_DEFAULTS.lendRealtimeReserveAfterMs,
    logger: pino({ level: 'warn' }), registry: new Registry(),
  });
  await engine.start();
  const run = async (lane: Lane, total = options.total): Promise<LaneThroughput> => {
    let next = 0;
    const batchSizes: number[] = [];
    const cpuStart = process.cpuUsage();
    const started = performance.now();
    await Promise.all(Array.from({ length: 2 * options.maxBatchSize }, async () => {
      while (next < total) {
        const image = images[next++ % images.length]!;
        batchSizes.push((await engine.classify({ bytes: image.bytes, priority: lane })).batchSize);
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    return {
      imagesPerSecond: total / seconds,
      meanBatch: batchSizes.reduce((a, b) => a + b, 0) / batchSizes.length,
      cpuMsPerImage: (cpu.user + cpu.system) / 1000 / total,
    };
  };
  try {
    // Unmeasured warm-up (JIT, allocator, libvips): without it the first lane measured paid for it, 5-15 %.
    await run(options.lane ?? 'bulk', Math.min(options.total, 4 * options.maxBatchSize));
    const lanes: Partial<Record<Lane, LaneThroughput>> = {};
    for (const lane of options.lane ? [options.lane] : (['bulk', 'realtime'] as const)) lanes[lane] = await run(lane);
    const [lane, best] = (Object.entries(lanes) as [Lane, LaneThroughput][]).reduce((a, b) => (b[1].imagesPerSecond > a[1].imagesPerSecond ? b : a));
    return { ...best, lane, lanes, provider: engine.executionProvider, device: engine.device, cores: availableParallelism() };
  } finally {
    await engine.stop(AbortSignal.timeout(5000));
  }
}
