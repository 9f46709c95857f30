// GPU check for a worker host: runs the worker's own engine and the reference model on a GPU
// execution provider and on the CPU, and reports provider placement, the CPU-vs-GPU score
// difference and throughput at batch 1 and 32 (model only, and decode + model through the engine).
// Usage: node dist/bench/gpu-check.js --provider webgpu|cuda [--count 32] [--out DIR]
// Exit code 0 and the line GPU_CHECK_PASSED when the GPU provider ran every node and matched the CPU.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import * as ort from 'onnxruntime-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadModel } from '../common/src/model-manifest.js';
import { repoRoot } from '../common/src/paths.js';
import { preprocessInto } from '../common/src/preprocess.js';
import { renderSheet } from '../common/src/synth/index.js';
import { InferenceEngine } from '../gpu-worker/src/inference-engine.js';

interface Options { provider: 'webgpu' | 'cuda'; count: number; out: string; tolerance: number }

const program = new Command('gpu-check')
  .addOption(new Option('--provider <name>', 'GPU execution provider').choices(['webgpu', 'cuda']).default('webgpu'))
  .addOption(new Option('--count <n>', 'synthetic sheets').argParser(Number).default(32))
  .addOption(new Option('--tolerance <x>', 'largest accepted |score_gpu - score_cpu|').argParser(Number).default(1e-3))
  .option('--out <dir>', 'where gpu-check.json goes', process.env.OUT ?? join(repoRoot(), 'bench', 'results'));

const manifestPath = join(repoRoot(), 'models', 'mercury-cnn', '1.0.0', 'manifest.json');

/** ORT's verbose log in a child process tells where the nodes were placed. */
function placement(provider: string, modelPath: string): string[] {
  const script = `const ort=require(${JSON.stringify(join(repoRoot(), 'node_modules', 'onnxruntime-node'))});ort.env.logLevel='verbose';
ort.InferenceSession.create(${JSON.stringify(modelPath)},{executionProviders:[${JSON.stringify(provider)}],logSeverityLevel:0}).then(s=>s.release()).catch(e=>{console.error('FAIL',e.message);process.exit(1)})`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
  return `${run.stdout}\n${run.stderr}`.split('\n').filter((l) => /placed on|Node placements|FAIL|No supported adapters/.test(l)).map((l) => l.slice(0, 300)).slice(0, 12);
}

async function main(options: Options): Promise<void> {
  const { manifest, modelPath } = await loadModel(manifestPath);
  const { width, height } = manifest.preprocessing.resize;
  const plane = 3 * width * height;
  const images: Buffer[] = [];
  for (let i = 0; i < options.count; i++) images.push((await renderSheet({ seed: 700 + i, contaminated: i % 2 === 0, width: 1500, height: 2000 })).bytes);
  const tensor = new Float32Array(options.count * plane);
  for (let i = 0; i < images.length; i++) await preprocessInto(images[i]!, manifest.preprocessing, tensor, i * plane);

  const report: Record<string, unknown> = { date: new Date().toISOString(), provider: options.provider, cores: availableParallelism(), cpu: cpus()[0]?.model };
  report.placement = placement(options.provider, modelPath);

  const modelThroughput = async (provider: string) => {
    const session = await ort.InferenceSession.create(modelPath, { executionProviders: [provider === 'cuda' ? { name: 'cuda', deviceId: 0 } : provider] });
    const run = async (batch: number) => {
      const input = new ort.Tensor('float32', tensor.subarray(0, batch * plane), [batch, 3, height, width]);
      return Array.from((await session.run({ [manifest.input.name]: input }))[manifest.output.name]!.data as Float32Array);
    };
    const logits = await run(options.count);
    const timeAt = async (batch: number) => {
      await run(batch);
      const rounds = Math.max(3, Math.ceil(96 / batch));
      const started = performance.now();
      for (let r = 0; r < rounds; r++) await run(batch);
      return (rounds * batch) / ((performance.now() - started) / 1000);
    };
    const result = { logits, batch1ImagesPerSecond: await timeAt(1), batch32ImagesPerSecond: await timeAt(Math.min(32, options.count)) };
    await session.release();
    return result;
  };
  const cpu = await modelThroughput('cpu');
  let gpu: Awaited<ReturnType<typeof modelThroughput>> | undefined;
  try {
    gpu = await modelThroughput(options.provider);
  } catch (error) {
    report.error = `${options.provider}: ${(error as Error).message.split('\n')[0]}`;
  }
  const softmaxPositive = (logits: number[], i: number) => {
    const pair = logits.slice(2 * i, 2 * i + 2);
    const max = Math.max(...pair);
    const exps = pair.map((l) => Math.exp(l - max));
    return exps[manifest.labels.indexOf(manifest.positiveLabel)]! / (exps[0]! + exps[1]!);
  };
  if (gpu) {
    let maxDiff = 0;
    for (let i = 0; i < options.count; i++) maxDiff = Math.max(maxDiff, Math.abs(softmaxPositive(gpu.logits, i) - softmaxPositive(cpu.logits, i)));
    report.maxScoreDifference = maxDiff;
    report.model = { cpu: { batch1: cpu.batch1ImagesPerSecond, batch32: cpu.batch32ImagesPerSecond }, gpu: { batch1: gpu.batch1ImagesPerSecond, batch32: gpu.batch32ImagesPerSecond } };
    // The worker's engine on the GPU: decode + preprocess + inference, batch 1 vs 32. Images alternate
    // between the realtime and bulk lanes, so both lanes' model threads run on the device at once.
    for (const maxBatchSize of [1, 32]) {
      const engine = new InferenceEngine({
        modelsDir: join(repoRoot(), 'models'), executionProviders: [options.provider], cudaDeviceId: 0, requireGpu: true, maxBatchSize,
        maxQueueDelayMicros: 2000, decodeConcurrency: availableParallelism(), intraOpThreads: 0, maxInputPixels: 120_000_000,
        logger: pino({ level: 'warn' }), registry: new Registry(),
      });
      await engine.start();
      const started = performance.now();
      await Promise.all(Array.from({ length: 3 }, () => images).flat().map((bytes, i) => engine.classify({ bytes, priority: i % 2 === 0 ? 'realtime' : 'bulk' })));
      report[`engineBatch${maxBatchSize}ImagesPerSecond`] = (3 * images.length) / ((performance.now() - started) / 1000);
      report.device = engine.device;
      await engine.stop(AbortSignal.timeout(5000));
    }
  }
  const allOnGpu = (report.placement as string[]).some((l) => /All nodes placed on \[(WebGpu|CUDA)ExecutionProvider\]/.test(l));
  const passed = gpu !== undefined && (report.maxScoreDifference as number) <= options.tolerance;
  report.allNodesOnGpu = allOnGpu;
  report.passed = passed;
  mkdirSync(options.out, { recursive: true });
  writeFileSync(join(options.out, 'gpu-check.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
  console.log(passed ? 'GPU_CHECK_PASSED' : 'GPU_CHECK_FAILED');
  process.exit(passed ? 0 : 1);
}

program.action(async (options: Options) => main(options));
program.parseAsync(process.argv).catch((error: Error) => {
  console.error(`gpu-check: ${error.message}`);
  process.exit(1);
});
