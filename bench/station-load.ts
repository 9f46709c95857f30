// Benchmark load generator: simulated stations that stream in-memory images to the coordinator over
// the real Inspect protocol (header + 1 MiB chunks, or the header alone naming the file by reference), each keeping a bounded number in flight or
// sending at a fixed interval, and recording latency from header sent to verdict received.
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHUNK_BYTES, channelOptions, grpc, inspectionProto } from '../common/src/adapters/grpc-services.js';
import type { InspectRequest } from '../common/src/generated/quicksilver/v1/InspectRequest.js';
import type { InspectResponse__Output } from '../common/src/generated/quicksilver/v1/InspectResponse.js';
import { sniffImageFormat } from '../common/src/image-format.js';
import { SERVICE_NODE_FLAGS } from '../common/src/node-flags.js';

export interface BenchImage {
  name: string;
  bytes: Buffer;
  sha256: string;
  contentType: string;
}

export function toBenchImage(name: string, bytes: Buffer): BenchImage {
  const format = sniffImageFormat(bytes) ?? 'jpeg';
  return { name, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), contentType: `image/${format}` };
}

export interface StationResult {
  latenciesMs: number[];
  /** The coordinator's per-stage timings of each verdict (upload, queue, transfer, decode, inference). */
  stagesMs: Record<StageName, number[]>;
  /** Latency of each verdict by the worker that gave it. */
  latenciesByWorkerMs: Record<string, number[]>;
  verdicts: number;
  rejections: Record<string, number>;
}

/** A station child's result: its stations' merged, and the child process's CPU seconds (user + system) from go to the last answer. */
export type StationChildResult = StationResult & { cpuSeconds: number };

export const STAGES = ['upload', 'queue', 'transfer', 'workerQueue', 'decode', 'inference'] as const;
export type StageName = (typeof STAGES)[number];

export interface StationOptions {
  address: string;
  stationId: string;
  images: BenchImage[];
  priority: 'PRIORITY_REALTIME' | 'PRIORITY_BULK';
  /** Saturating mode: keep this many images in flight. */
  inFlight?: number;
  /** Paced mode: one image every intervalMs (jittered ±25 %). */
  intervalMs?: number;
  /** Stop after this many images (saturating) or when the signal aborts. */
  total?: number;
  /** Send each image by reference, as file://<referenceDir>/<name> (the workers read it), instead of its bytes. */
  referenceDir?: string;
  signal?: AbortSignal;
}

let sequence = 0;

/** Runs one station until `total` images are answered or the signal aborts; resolves with its measurements. */
export async function runStation(options: StationOptions): Promise<StationResult> {
  const client = new inspectionProto.Inspection(options.address, grpc.credentials.createInsecure(), { ...channelOptions, 'grpc.use_local_subchannel_pool': 1 });
  const call = client.Inspect();
  const pending = new Map<string, number>();
  const result: StationResult = { latenciesMs: [], stagesMs: { upload: [], queue: [], transfer: [], workerQueue: [], decode: [], inference: [] }, latenciesByWorkerMs: {}, verdicts: 0, rejections: {} };
  let sent = 0;
  let answered = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const limit = options.total ?? Number.MAX_SAFE_INTEGER;

  const write = (message: InspectRequest) => new Promise<void>((resolve) => {
    if (call.write(message)) resolve();
    else call.once('drain', () => resolve());
  });
  const sendOne = async () => {
    const image = options.images[sent % options.images.length]!;
    sent++;
    const key = `${options.stationId}:${image.sha256.slice(0, 32)}:${process.pid}.${++sequence}`;
    pending.set(key, performance.now());
    const imageUri = options.referenceDir ? pathToFileURL(join(options.referenceDir, image.name)).href : '';
    await write({ header: { idempotencyKey: key, stationId: options.stationId, barcode: '', captureTime: new Date().toISOString(),
      contentType: image.contentType, sizeBytes: image.bytes.length, sha256: image.sha256, fileName: image.name, modelName: '', priority: options.priority, imageUri } });
    if (imageUri) return;
    for (let offset = 0; offset < image.bytes.length; offset += CHUNK_BYTES) {
      const end = Math.min(offset + CHUNK_BYTES, image.bytes.length);
      await write({ chunk: { idempotencyKey: key, offset, data: image.bytes.subarray(offset, end), last: end === image.bytes.length } });
    }
  };
  let pumping = false;
  const pump = async () => {
    if (pumping) return;
    pumping = true;
    while (options.inFlight && pending.size < options.inFlight && sent < limit && !options.signal?.aborted) await sendOne();
    pumping = false;
  };

  call.on('data', (response: InspectResponse__Output) => {
    const key = response.verdict?.idempotencyKey ?? response.rejection?.idempotencyKey;
    if (!key || response.accepted) return;
    const startedAt = pending.get(key);
    if (startedAt === undefined) return;
    pending.delete(key);
    answered++;
    if (response.verdict) {
      result.verdicts++;
      const latencyMs = performance.now() - startedAt;
      result.latenciesMs.push(latencyMs);
      (result.latenciesByWorkerMs[response.verdict.workerId] ??= []).push(latencyMs);
      const t = response.verdict.timings;
      if (t) for (const stage of STAGES) result.stagesMs[stage].push(t[`${stage}Ms`]);
    } else {
      const code = response.rejection!.code;
      result.rejections[code] = (result.rejections[code] ?? 0) + 1;
    }
    if (answered >= limit || (options.signal?.aborted && pending.size === 0)) done();
    else void pump();
  });
  call.on('error', () => done());

  let pacer: NodeJS.Timeout | undefined;
  if (options.intervalMs) {
    const tick = () => {
      if (options.signal?.aborted || sent >= limit) return;
      void sendOne();
      pacer = setTimeout(tick, options.intervalMs! * (0.75 + Math.random() / 2));
    };
    pacer = setTimeout(tick, Math.random() * options.intervalMs);
  } else {
    void pump();
  }
  options.signal?.addEventListener('abort', () => { if (pending.size === 0) done(); }, { once: true });
  if (options.signal?.aborted) done(); // stopped before it started (a child told to stop before 'go')
  await finished;
  clearTimeout(pacer);
  call.end();
  client.close();
  return result;
}

/** The stations' latencies by the worker that gave each verdict, merged. */
export function latenciesByWorker(results: readonly StationResult[]): Record<string, number[]> {
  const merged: Record<string, number[]> = {};
  for (const result of results) for (const [worker, latencies] of Object.entries(result.latenciesByWorkerMs)) (merged[worker] ??= []).push(...latencies);
  return merged;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface StationChild {
  /** Resolves once the child has loaded its images and waits for go(). */
  ready: Promise<void>;
  go(): void;
  result: Promise<StationChildResult>;
}

/**
 * runStation() in a child process of its own (bench/station-child.ts), as an agent on its own host would run,
 * with the service processes' node flags (`stations` of them in that process, each with `total` images); it
 * starts sending on go(). Aborting `signal` stops it.
 */
export function startStationInChild(options: Omit<StationOptions, 'images' | 'signal'> & { imagesDir: string; stations?: number }, signal?: AbortSignal): StationChild {
  const child = fork(new URL('./station-child.js', import.meta.url), [JSON.stringify(options)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...SERVICE_NODE_FLAGS] });
  const stop = () => child.send('stop');
  if (signal?.aborted) stop();
  else signal?.addEventListener('abort', stop, { once: true });
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const result = new Promise<StationChildResult>((resolve, reject) => {
    child.on('message', (message) => {
      if (message === 'ready') onReady();
      else resolve(message as StationChildResult);
    });
    child.once('exit', (code) => reject(new Error(`bench station process exited with code ${code} before reporting`)));
  });
  return { ready: Promise.race([ready, result.then(() => undefined)]), go: () => child.send('go'), result };
}

/** A station in a child process that starts as soon as it is ready. */
export function runStationInChild(options: Omit<StationOptions, 'images' | 'signal'> & { imagesDir: string }, signal: AbortSignal): Promise<StationResult> {
  const station = startStationInChild(options, signal);
  void station.ready.then(() => station.go(), () => undefined);
  return station.result;
}
