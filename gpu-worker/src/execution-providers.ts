// onnxruntime execution providers: try an ordered list, keep the first one that creates a session,
// and say why the others failed. Facts this relies on (see docs/gpu.md):
// - listSupportedBackends() lists cuda even when its provider libraries are not installed; only
//   creating a session tells ("Failed to load shared library"), so every provider is tried for real.
// - ORT appends the CPU provider implicitly: ops a GPU provider lacks still run, on the CPU.
// - The Node binding takes deviceId for cuda and rejects it for webgpu.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';

export const EXECUTION_PROVIDERS = ['cuda', 'webgpu', 'cpu'] as const;
export type ExecutionProviderName = (typeof EXECUTION_PROVIDERS)[number];

export interface SessionSettings {
  cudaDeviceId: number;
  /** onnxruntime intra-op threads; 0 = onnxruntime's default. */
  intraOpThreads: number;
  /** Let onnxruntime's idle pool threads spin-wait between runs (lower latency, but burns cores that
   *  image decoding needs: measured 13-14 vs 7.5 CPU ms per image at batch 1 on the reference model). */
  intraOpSpinning: boolean;
}

export interface ProviderFailure {
  provider: ExecutionProviderName;
  reason: string;
}

export interface ProviderSession {
  /** Undefined when every provider failed (see failures). */
  session: ort.InferenceSession | undefined;
  provider: ExecutionProviderName | undefined;
  /** Providers tried before the one that worked (or all of them), with the reason each failed. */
  failures: ProviderFailure[];
}

export const isGpuProvider = (provider: ExecutionProviderName): boolean => provider !== 'cpu';

/** Creates a session on the first provider of `providers` that works. Never throws for a provider failure. */
export async function createSessionOnFirstProvider(
  model: Uint8Array,
  providers: readonly ExecutionProviderName[],
  settings: SessionSettings,
): Promise<ProviderSession> {
  const failures: ProviderFailure[] = [];
  for (const provider of providers) {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: [provider === 'cuda' ? { name: 'cuda', deviceId: settings.cudaDeviceId } : provider],
      graphOptimizationLevel: 'all',
      ...(settings.intraOpThreads > 0 ? { intraOpNumThreads: settings.intraOpThreads } : {}),
      extra: { session: { intra_op: { allow_spinning: settings.intraOpSpinning ? '1' : '0' }, inter_op: { allow_spinning: settings.intraOpSpinning ? '1' : '0' } } },
    };
    try {
      return { session: await ort.InferenceSession.create(model, options), provider, failures };
    } catch (error) {
      failures.push({ provider, reason: explainFailure(provider, error) });
    }
  }
  return { session: undefined, provider: undefined, failures };
}

/** ORT's first message line, plus what to do about the failures we know. */
function explainFailure(provider: ExecutionProviderName, error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();
  if (provider === 'cuda' && !existsSync(join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so'))) {
    return `${message} (libonnxruntime_providers_cuda.so is not installed in ${ortBinaryDir()}: see docs/gpu.md)`;
  }
  if (provider === 'webgpu' && /adapter/i.test(message)) {
    return `${message} (no WebGPU adapter: needs libvulkan.so.1 and the GPU's Vulkan driver; see docs/gpu.md)`;
  }
  return message;
}

/** Where onnxruntime-node keeps its native libraries (and where its installer puts the CUDA provider). */
export function ortBinaryDir(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node'); // .../onnxruntime-node/dist/index.js
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/** Human description of what runs the model, e.g. "cpu: AMD EPYC 7B13 x2" or "cuda:0 NVIDIA H100 80GB HBM3". */
export function describeDevice(provider: ExecutionProviderName, cudaDeviceId: number): string {
  if (provider === 'cpu') return `cpu: ${cpus()[0]?.model.trim() ?? 'unknown'} x${availableParallelism()}`;
  const gpus = nvidiaGpuModels();
  if (provider === 'cuda') return [`cuda:${cudaDeviceId}`, gpus[cudaDeviceId]].filter(Boolean).join(' ');
  return ['webgpu', gpus.length === 1 ? gpus[0] : undefined].filter(Boolean).join(' ');
}

/** GPU model names from the NVIDIA driver's /proc entries, in PCI bus order (CUDA's order on uniform hosts). */
function nvidiaGpuModels(): string[] {
  const root = '/proc/driver/nvidia/gpus';
  try {
    return readdirSync(root).sort().map((bus) => {
      const info = readFileSync(join(root, bus, 'information'), 'utf8');
      return /^Model:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? bus;
    });
  } catch {
    return [];
  }
}
