// gpu-worker configuration (env prefix QS_WORKER). Every field: default + description.
import { availableParallelism, hostname } from 'node:os';
import { z } from 'zod';
import { UrlPrefixSchema } from '../../common/src/rescan/image-uri.js';
import { clientSecurityFields, natsSecurityFields } from '../../common/src/security-config.js';

export const WORKER_ENV_PREFIX = 'QS_WORKER';

const defaultWorkerId = () => `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 100)}-${process.pid}`;

export const WorkerConfigSchema = z.object({
  coordinatorAddress: z.string().default('127.0.0.1:50051').describe('host:port of the coordinator gRPC server'),
  ...clientSecurityFields,
  workerId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).default(defaultWorkerId).describe('worker name shown in metrics and logs (default: hostname-pid)'),
  modelsDir: z.string().default('models').describe('folder scanned for <name>/<version>/manifest.json'),
  modelsPollIntervalMs: z.number().int().min(0).default(10_000).describe('how often modelsDir is re-scanned: a new <name>/<version> folder is served, a removed one retired, without a restart (0 = only at start)'),
  executionProviders: z.array(z.enum(['cuda', 'webgpu', 'cpu'])).min(1).default(['cuda', 'webgpu', 'cpu'])
    .describe('onnxruntime execution providers tried in order; the first that loads runs the models (see docs/gpu.md)'),
  cudaDeviceId: z.number().int().min(0).default(0).describe('CUDA device ordinal for the cuda provider'),
  requireGpu: z.boolean().default(false).describe('fail at start instead of falling back to the cpu provider'),
  maxBatchSize: z.number().int().min(1).max(256).default(8).describe('largest batch run at once (dynamic batching)'),
  maxQueueDelayMicros: z.number().int().min(0).default(2000).describe('how long a bulk batch waits for more images once one is ready'),
  realtimeMaxQueueDelayMicros: z.number().int().min(0).default(0).describe('the same for conveyor (realtime) images (0: a conveyor image runs as soon as it is decoded)'),
  priorities: z.array(z.enum(['realtime', 'bulk'])).min(1).default(['realtime', 'bulk'])
    .describe('priority classes this worker takes: realtime (conveyor images) and bulk (re-scan work, from the coordinator and from NATS). On a host shared by both, a realtime worker beside a bulk-only one with idleScheduling (or niceness 10) keeps conveyor latency flat under bulk load (docs/performance.md)'),
  niceness: z.number().int().min(0).max(19).default(0).describe('Linux: nice value of the whole worker process, every thread (those started later inherit it); e.g. 10 for a bulk-only worker sharing cores with a realtime one, where idleScheduling is not available (0 = unchanged)'),
  idleScheduling: z.boolean().default(false).describe('Linux: run every thread of the worker under SCHED_IDLE (util-linux chrt), so it gets only CPU time no other process wants; stronger than niceness 19, for a bulk-only worker sharing cores with a realtime one (docs/performance.md)'),
  bulkProcess: z.boolean().default(false).describe('on a worker taking both classes: run its bulk work (bulk images from the coordinator, re-scan rows from NATS) in a child process under SCHED_IDLE that registers as <workerId>-bulk with this worker\'s credential, while this process takes conveyor images only: a realtime and a bulk-only worker in one container or pod (one GPU), so bulk work never slows the conveyor\'s decodes on shared cores (docs/deploy.md). The child is restarted when it exits; its metrics are served with this process\'s, labelled process="gpu-worker-bulk"'),
  maxInFlight: z.number().int().min(0).default(0).describe('tasks the coordinator may have outstanding here (0 = 3 x maxBatchSize: two batches of bulk work plus room for conveyor images)'),
  decodeConcurrency: z.number().int().min(0).default(0).describe('images decoded in parallel (0 = the cores this process may use; one more on a bulk-only worker, which keeps no core free for conveyor sheets: +2 to 9 % on 2 cores, docs/performance.md)'),
  lendRealtimeReserveAfterMs: z.number().int().min(0).default(10_000).describe('on a worker taking both classes: after this long without a conveyor image, bulk decodes may also use the decode slots kept for conveyor images (bulk decoding +7 % in process on 2 cores with master-size sheets); a conveyor image that comes then still starts at once, beside one bulk decode more than usual, and no slot is lent again until the conveyor has been idle this long (0 = never lend)'),
  intraOpThreads: z.number().int().min(0).default(0).describe('onnxruntime intra-op threads (0 = onnxruntime default)'),
  intraOpSpinning: z.boolean().default(false).describe('onnxruntime pool threads spin-wait between runs (costs CPU that decoding needs; true only with spare cores)'),
  modelThreads: z.boolean().default(true).describe('model runs in threads of their own, one session per lane, so a run never blocks the event loop; on webgpu one run at a time (false: in the event loop thread, one session per model)'),
  bulkRunNiceness: z.number().int().min(0).max(19).default(10).describe('Linux, cpu provider: nice value of the bulk lane\'s model thread and onnxruntime pool, so conveyor runs win the cores (0 = off)'),
  imageBufferPoolBytes: z.number().int().min(0).default(64 * 2 ** 20).describe('bytes of idle buffers kept to read or assemble the next images in (a fresh buffer per image costs page faults and V8 collections; 0 = none kept)'),
  maxInputPixels: z.number().int().positive().default(120_000_000).describe('largest width x height decoded (decompression-bomb guard)'),
  driftWindowScores: z.number().int().min(1).default(500).describe('scores (and images) per model in the label-free drift window (PSI, flag rate, input statistics)'),
  healthAddress: z.string().default('0.0.0.0:50052').describe('host:port of the worker gRPC health service (port 0 picks a free one)'),
  metricsHost: z.string().default('0.0.0.0').describe('interface of the /metrics HTTP server'),
  metricsPort: z.number().int().min(0).max(65535).default(9465).describe('port of the /metrics HTTP server (0 picks a free one)'),
  reconnectMaxDelayMs: z.number().int().positive().default(10_000).describe('longest pause between reconnection attempts to the coordinator'),
  natsServers: z.array(z.string()).default([]).describe('NATS servers to pull re-scan work from (comma-separated; empty = no re-scan work on this worker)'),
  ...natsSecurityFields,
  rescanAllowedRoots: z.array(z.string()).default([]).describe('folders re-scan image paths must lie under (symlinks resolved); empty = no file paths'),
  rescanAllowedUrlPrefixes: z.array(UrlPrefixSchema).default([]).describe('http(s) URL prefixes (scheme://host[:port]/path/) re-scan image URLs and every redirect must start with; empty = no URLs'),
  rescanMaxInFlight: z.number().int().min(0).default(0).describe('re-scan rows in flight at most, conveyor tasks counted first (0 = the link\'s maxInFlight)'),
  rescanMaxImageBytes: z.number().int().positive().default(300 * 1024 * 1024).describe('largest re-scan image read, in bytes'),
  rescanHttpTimeoutMs: z.number().int().positive().default(30_000).describe('time allowed to download one re-scan image over http(s), redirects included (keep it below the jobs\' ack wait)'),
  referenceAllowedRoots: z.array(z.string()).default([])
    .describe('folders conveyor images sent by reference (agent spoolUriPrefix: file paths on storage this worker mounts) must lie under, symlinks resolved; empty = no file references (such images get IMAGE_REFERENCE_UNREADABLE and the agent sends their bytes)'),
  referenceAllowedUrlPrefixes: z.array(UrlPrefixSchema).default([])
    .describe('http(s) URL prefixes conveyor images sent by reference and every redirect must start with; empty = no URL references'),
  referenceReadTimeoutMs: z.number().int().positive().default(10_000)
    .describe('time allowed to read one image sent by reference (a file, or http(s) with its redirects); past it the image is IMAGE_REFERENCE_UNREADABLE and the agent sends its bytes (a read stuck on a hung network mount keeps one libuv thread until the mount answers: mount shares soft)'),
  modelSelfTestIntervalMs: z.number().int().positive().default(5000).describe('after 3 failed model runs in a row (e.g. a lost GPU) the worker reports not ready and gets no tasks: this often a run on zeros (like the warm-up) checks whether the device works again; the first that succeeds makes it ready'),
  shutdownGraceMs: z.number().int().positive().default(15_000).describe('time SIGTERM allows in-flight tasks to finish'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('log level'),
});
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

/** decodeConcurrency as configured, or for 0 the cores this process may use, plus one on a bulk-only worker. */
export function resolveDecodeConcurrency(config: Pick<WorkerConfig, 'decodeConcurrency' | 'priorities'>, cores = availableParallelism()): number {
  if (config.decodeConcurrency > 0) return config.decodeConcurrency;
  return Math.max(1, cores) + (config.priorities.includes('realtime') ? 0 : 1);
}
