// The worker's inference engine: verified models, onnxruntime sessions on the first execution
// provider that works, and a dynamic batcher per model whose staging buffers ARE the
// input tensors: preprocessInto() decodes each image straight into its batch slot, decodes run in
// parallel (decodeConcurrency, shared by all models) and overlap the previous batch's run.
// Each model has two lanes: realtime (conveyor) images go through an express batcher with its own
// staging buffers and reserved decode permits, so they never wait behind bulk (re-scan) batches being
// decoded or queued. Each lane runs on its own session in a model thread of its own (model-session.ts),
// so a run never blocks the event loop and a conveyor run never waits for a bulk one; on the cpu
// provider the bulk thread is niced, so conveyor runs win the cores.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Registry } from 'prom-client';
import sharp from 'sharp';
import { QuicksilverError, toQuicksilverError } from '../../common/src/errors.js';
import type { Component } from '../../common/src/lifecycle.js';
import type { Logger } from '../../common/src/logger.js';
import type { LoadedModel, ModelManifest } from '../../common/src/model-manifest.js';
import { preprocessInto } from '../../common/src/preprocess.js';
import { ConcurrencyLimiter, type PermitSource } from './concurrency-limiter.js';
import { DriftMonitor } from './drift-monitor.js';
import { DynamicBatcher } from './dynamic-batcher.js';
import {
  describeDevice, EXECUTION_PROVIDERS, isGpuProvider,
  type ExecutionProviderName, type ProviderFailure,
} from './execution-providers.js';
import { ModelRunError, openModelSession, type ModelOutput, type ModelSession } from './model-session.js';
import { discoverModels, ModelStore } from './model-store.js';
import { WorkerMetrics } from './worker-metrics.js';

export interface InferenceEngineOptions {
  /** Scanned for <name>/<version>/manifest.json. */
  modelsDir: string;
  /** Tried in order; the first that creates a session runs every model. */
  executionProviders: ExecutionProviderName[];
  cudaDeviceId: number;
  /** Fail start() rather than run on the CPU (cpu is then ignored in executionProviders). */
  requireGpu: boolean;
  /** Largest batch per model run (a model with a fixed batch dimension uses that instead). */
  maxBatchSize: number;
  /** Once an image is decoded, wait at most this long for more before running (0 = run what is decoded). */
  maxQueueDelayMicros: number;
  /** The same for the realtime (conveyor) lane (default 0: a conveyor image never waits for company). */
  realtimeMaxQueueDelayMicros?: number;
  /** Parallel image decodes, all models together. Process-wide side effects: sharp.concurrency() is set
   *  to cores / decodeConcurrency and sharp's operation cache is disabled. libuv's pool (UV_THREADPOOL_SIZE,
   *  default 4) runs both decodes and model runs: keep it above decodeConcurrency. */
  decodeConcurrency: number;
  /** onnxruntime intra-op threads (0 = onnxruntime's default: one per core). */
  intraOpThreads: number;
  /** onnxruntime pool threads spin-wait between runs (default false: spinning steals decode cores). */
  intraOpSpinning?: boolean;
  /** Model runs in model threads, one session per lane (default true); false runs them in the event loop's thread, one session per model. */
  modelThreads?: boolean;
  /** Linux, cpu provider, model threads: nice value of the bulk lane's thread and onnxruntime pool (default 10; 0 = off). */
  bulkRunNiceness?: number;
  /** With both lanes: after this long without a conveyor (realtime) image, bulk decodes may also use the decode
   *  permits kept for conveyor images; one that comes then still starts at once (default 0 = never lend). */
  lendRealtimeReserveAfterMs?: number;
  /** Priority classes this engine serves (default both). With one, each model has a single lane and session
   *  with that class's settings, and requests of the other class run on it too. */
  lanes?: readonly ('realtime' | 'bulk')[];
  /** Decompression-bomb guard: largest width × height decoded. */
  maxInputPixels: number;
  /** Scores (and images) per model in the label-free drift window (default 500). */
  driftWindowScores?: number;
  /** Called once per classify() request whose bytes the engine reads no more (decoded, refused or dropped),
   *  e.g. ImageBufferPool.release; never while a decode may still read them. */
  releaseImage?: (bytes: Uint8Array) => void;
  /** Called when `ready` turns false after failed runs in a row, and true again once a run succeeds. */
  onReadyChange?: (ready: boolean) => void;
  /** While not ready after failed runs: how often a self-test (one run on zeros, like the warm-up) checks the device (default 5000). */
  selfTestIntervalMs?: number;
  logger: Logger;
  registry: Registry;
}

/** What a reload() changed. */
export interface ModelChanges {
  /** name@version */
  added: string[];
  /** name@version */
  retired: string[];
  /** Manifest paths of new versions that were refused (logged with the reason; retried at the next reload). */
  refused: string[];
}

/** How long a retired model's queued work may take to drain before it is rejected. */
const RETIRE_GRACE_MS = 30_000;

export interface ClassifyRequest {
  bytes: Uint8Array;
  /** "name", "name@version", or undefined for the newest version of the first model. */
  modelName?: string;
  /** Aborting before the image's batch starts drops it (rejects with the signal's reason, see errorFromAbort). */
  signal?: AbortSignal;
  /** realtime (default) images go through the model's express lane (own decode permits and staging buffers, no queue delay). */
  priority?: 'realtime' | 'bulk';
}

export interface ClassifyResult {
  label: string;
  /** Probability of the manifest's positiveLabel. */
  score: number;
  threshold: number;
  flagged: boolean;
  modelName: string;
  modelVersion: string;
  decodeMs: number;
  /** Run time of the whole batch (on webgpu, with the wait for the device). */
  inferenceMs: number;
  batchSize: number;
  /** Waiting time (for a decode slot and for the batch), decode excluded. */
  queueMs: number;
}

interface BatchOutput {
  probabilities: Float64Array;
  inferenceMs: number;
}

interface ServedModel {
  manifest: ModelManifest;
  /** Every session of the model (one, or one per lane). */
  sessions: ModelSession[];
  /** Slots per staging buffer. */
  batchCapacity: number;
  /** The model's batch dimension is fixed: every run uses all batchCapacity slots. */
  fixedBatch: boolean;
  /** Floats per image: 3 × H × W. */
  imageSize: number;
  realtime: Lane;
  bulk: Lane;
}

/** One batching lane of a model: its session, staging buffers that are the input tensors, and their batcher. */
interface Lane {
  session: ModelSession;
  /** Entries are replaced by their handed-back twins after each run in a model thread. */
  staging: Float32Array[];
  batcher: DynamicBatcher<Uint8Array, BatchOutput>;
}

type LoadFailureReason = 'checksum_mismatch' | 'invalid' | 'session_create' | 'warmup';

const STAGING_BUFFERS = 3;
const REALTIME_STAGING_BUFFERS = 2;
/** Largest staging buffer (one batch of input tensors) a model may need; a manifest asking more is refused. */
const MAX_STAGING_BUFFER_BYTES = 4 * 2 ** 30;
/** Consecutive failed model runs after which the engine reports not ready (e.g. a lost GPU). */
const FAILED_RUNS_UNTIL_UNREADY = 3;

export class InferenceEngine implements Component {
  readonly name = 'inference-engine';
  private readonly store = new ModelStore<ServedModel>();
  private readonly metrics: WorkerMetrics;
  private readonly drift: DriftMonitor;
  private readonly decodeLimiter: ConcurrencyLimiter;
  private readonly logger: Logger;
  private provider: ExecutionProviderName | undefined;
  private state: 'new' | 'starting' | 'ready' | 'stopping' | 'stopped' = 'new';
  private stopped: Promise<void> | undefined;
  private consecutiveFailedRuns = 0;
  private lastRunError = '';
  private selfTestTimer: NodeJS.Timeout | undefined;
  /** webgpu with model threads: one run at a time on the device, realtime first. onnxruntime's WebGPU
   *  provider shares one device context between sessions and crashes on concurrent runs from two
   *  threads (microsoft/onnxruntime#32561); cpu and cuda sessions run concurrently. */
  private deviceGate: ConcurrencyLimiter | undefined;
  private reloading: Promise<ModelChanges> = Promise.resolve({ added: [], retired: [], refused: [] });
  /** Last refusal message per manifest path, so a refused version is logged again only when its reason changes. */
  private readonly refusedVersions = new Map<string, string>();
  /** manifestPath#sha256 of versions that verified but could not be served (session, warm-up): not retried. */
  private readonly unservable = new Set<string>();
  /** Errors refuse() logged and counted: serve() refuses any other failure itself. */
  private readonly refusals = new WeakSet<QuicksilverError>();

  constructor(private readonly options: InferenceEngineOptions) {
    const invalid = (field: string, rule: string) => new QuicksilverError('CONFIG_INVALID', `inference engine: ${field} must be ${rule}`);
    const { executionProviders, maxBatchSize, maxQueueDelayMicros, decodeConcurrency, intraOpThreads, maxInputPixels } = options;
    if (executionProviders.length === 0 || executionProviders.some((p) => !EXECUTION_PROVIDERS.includes(p))) {
      throw invalid('executionProviders', `a non-empty list of ${EXECUTION_PROVIDERS.join(', ')}`);
    }
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw invalid('maxBatchSize', 'a positive integer');
    if (!(maxQueueDelayMicros >= 0)) throw invalid('maxQueueDelayMicros', '>= 0');
    if (!Number.isInteger(decodeConcurrency) || decodeConcurrency < 1) throw invalid('decodeConcurrency', 'a positive integer');
    if (!Number.isInteger(intraOpThreads) || intraOpThreads < 0) throw invalid('intraOpThreads', 'an integer >= 0');
    if (!(maxInputPixels > 0)) throw invalid('maxInputPixels', 'positive');
    this.logger = options.logger.child({ component: this.name });
    // Realtime decodes may exceed decodeConcurrency by a quarter: a conveyor sheet never waits for a bulk
    // decode; and while one decodes, no bulk decode starts, so it shares the cores only with those running.
    // With both lanes, that reserve is lent to bulk decodes while no conveyor sheet came for a while.
    const bothLanes = (options.lanes ?? ['realtime', 'bulk']).length > 1;
    const lendAfterMs = options.lendRealtimeReserveAfterMs ?? 0;
    this.decodeLimiter = new ConcurrencyLimiter(decodeConcurrency, {
      urgentReserve: Math.ceil(decodeConcurrency / 4), normalYieldsToUrgent: true,
      lendReserveAfterMs: bothLanes && lendAfterMs > 0 ? lendAfterMs : Number.POSITIVE_INFINITY,
    });
    this.metrics = new WorkerMetrics(options.registry, () => this.queueDepth);
    this.drift = new DriftMonitor(options.registry, options.driftWindowScores ?? 500);
  }

  /** Started, not stopping, and model runs are not failing one after another (a lost GPU turns this false). */
  get ready(): boolean {
    return this.state === 'ready' && this.consecutiveFailedRuns < FAILED_RUNS_UNTIL_UNREADY;
  }

  /** Why `ready` is false (undefined when ready). */
  get notReadyReason(): string | undefined {
    if (this.state !== 'ready') return `the inference engine is ${this.state}`;
    if (this.consecutiveFailedRuns < FAILED_RUNS_UNTIL_UNREADY) return undefined;
    return `${this.consecutiveFailedRuns} model runs failed in a row (last: ${this.lastRunError}); a self-test run every ${this.selfTestIntervalMs} ms checks the device`;
  }

  private get selfTestIntervalMs(): number {
    return this.options.selfTestIntervalMs ?? 5000;
  }

  /** The provider running the models ('none' before start()). */
  get executionProvider(): string {
    return this.provider ?? 'none';
  }

  get device(): string {
    return this.provider ? describeDevice(this.provider, this.options.cudaDeviceId) : 'none';
  }

  get models(): { name: string; version: string }[] {
    return this.store.all().map(({ manifest }) => ({ name: manifest.name, version: manifest.version }));
  }

  /** Images accepted and not yet running, all models together. */
  get queueDepth(): number {
    return this.store.all().reduce((sum, model) => sum + lanesOf(model).reduce((lanes, lane) => lanes + lane.batcher.queueDepth, 0), 0);
  }

  /**
   * Verifies and loads every model (a refused one is logged, counted and skipped), picks the execution
   * provider, and runs one full batch through each model before resolving. Throws when no model loads
   * (with the first refusal's code, e.g. MODEL_CHECKSUM_MISMATCH) or, with requireGpu, when no GPU
   * provider works (CONFIG_INVALID).
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new QuicksilverError('INTERNAL', `inference engine cannot start: it is ${this.state}`);
    this.state = 'starting';
    const { decodeConcurrency, modelsDir } = this.options;
    const cores = availableParallelism();
    sharp.concurrency(Math.max(1, Math.floor(cores / decodeConcurrency)));
    sharp.cache(false); // every image is new: libvips' operation cache would only hold memory
    const threadPool = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    if (threadPool < decodeConcurrency + 1) {
      this.logger.warn({ threadPool, decodeConcurrency }, 'UV_THREADPOOL_SIZE is not above decodeConcurrency: decodes and model runs will queue behind each other');
    }
    try {
      const discovery = await discoverModels(modelsDir);
      const refusals: QuicksilverError[] = [];
      for (const { manifestPath, error } of discovery.failures) {
        this.refusedVersions.set(manifestPath, error.message); // reload() logs it again only when its reason changes
        this.refuse(error.code === 'MODEL_CHECKSUM_MISMATCH' ? 'checksum_mismatch' : 'invalid', error, { manifestPath });
        refusals.push(error);
      }
      for (const model of discovery.loaded) {
        const served = await this.serve(model).catch((error: unknown) => {
          if (error instanceof QuicksilverError && error.code === 'CONFIG_INVALID') throw error; // requireGpu: fatal
          refusals.push(toQuicksilverError(error));
          return undefined;
        });
        if (served) {
          this.store.add(served);
          this.drift.track(served.manifest);
        }
      }
      if (this.store.size === 0) {
        const first = refusals[0] ?? new QuicksilverError('MODEL_INVALID', 'no model loaded');
        throw new QuicksilverError(first.code, `no model could be served from ${modelsDir}: ${refusals.map((e) => e.message).join(' | ')}`, { cause: first });
      }
      if (this.state !== 'starting') throw new QuicksilverError('SHUTTING_DOWN', 'the inference engine was stopped while starting');
    } catch (error) {
      await this.releaseSessions();
      this.state = 'stopped';
      throw error;
    }
    this.state = 'ready';
    this.logger.info({
      provider: this.provider, device: this.device, models: this.models.map((m) => `${m.name}@${m.version}`),
      maxBatchSize: this.options.maxBatchSize, maxQueueDelayMicros: this.options.maxQueueDelayMicros,
      decodeConcurrency, sharpThreads: sharp.concurrency(),
    }, 'inference engine ready');
  }

  /** Stops intake, runs what is queued until `signal` aborts (the rest gets SHUTTING_DOWN), releases sessions. Idempotent. */
  stop(signal: AbortSignal): Promise<void> {
    this.stopped ??= (async () => {
      this.state = 'stopping';
      clearTimeout(this.selfTestTimer);
      const models = this.store.all();
      await Promise.all(models.flatMap((model) => lanesOf(model).map((lane) => lane.batcher.close(signal))));
      await this.releaseSessions();
      this.state = 'stopped';
      this.logger.info('inference engine stopped');
    })();
    return this.stopped;
  }

  /** Classifies one image. Throws QuicksilverError (see ClassifyRequest and preprocessInto for the codes). */
  async classify(request: ClassifyRequest): Promise<ClassifyResult> {
    let submitted = false;
    try {
      if (this.state !== 'ready') {
        throw this.state === 'stopping' || this.state === 'stopped'
          ? new QuicksilverError('SHUTTING_DOWN', 'the inference engine is shutting down')
          : new QuicksilverError('UNAVAILABLE', 'the inference engine has not started');
      }
      const model = this.store.resolve(request.modelName);
      const lane = request.priority === 'bulk' ? model.bulk : model.realtime;
      submitted = true; // from here the batcher calls releaseImage
      const { output, batchSize, prepareMs, queueMs } = await lane.batcher.submit(request.bytes, request.signal);
      const { manifest } = model;
      const positive = manifest.labels.indexOf(manifest.positiveLabel);
      const score = output.probabilities[positive]!;
      const flagged = score >= manifest.threshold;
      const label = flagged ? manifest.positiveLabel : mostProbableOther(manifest.labels, output.probabilities, positive);
      this.metrics.imagesTotal.inc({ model: manifest.name, version: manifest.version, label });
      this.drift.observeScore(manifest, score, flagged);
      return {
        label, score, threshold: manifest.threshold, flagged, modelName: manifest.name, modelVersion: manifest.version,
        decodeMs: prepareMs, inferenceMs: output.inferenceMs, batchSize, queueMs,
      };
    } catch (error) {
      if (!submitted) this.options.releaseImage?.(request.bytes);
      const failure = toQuicksilverError(error);
      this.metrics.errorsTotal.inc({ code: failure.code });
      throw failure;
    }
  }

  /**
   * Hot swap: serves versions added under modelsDir since start (or the last reload) and retires
   * served ones whose folder is gone (their queued work runs first). A version is immutable: publish a
   * changed model as a new version folder. A refused version is logged and counted, and the rest keep
   * serving; the last model is never retired. Reloads run one at a time.
   */
  reload(): Promise<ModelChanges> {
    this.reloading = this.reloading.then(() => this.applyModelChanges(), () => this.applyModelChanges());
    return this.reloading;
  }

  private async applyModelChanges(): Promise<ModelChanges> {
    const changes: ModelChanges = { added: [], retired: [], refused: [] };
    if (this.state !== 'ready') return changes;
    const served = new Map(this.store.all().map((model) => [modelId(model.manifest), model]));
    const present = new Set<string>();
    const discovery = await discoverModels(this.options.modelsDir, (name, version) => {
      const id = `${name}@${version}`;
      if (served.has(id)) present.add(id);
      return served.has(id);
    }).catch((error: unknown) => {
      this.logger.warn({ err: (error as Error).message }, 'model reload: nothing found; keeping the models served');
      return undefined;
    });
    if (!discovery) return changes;
    for (const { manifestPath, error } of discovery.failures) {
      changes.refused.push(manifestPath);
      if (this.refusedVersions.get(manifestPath) === error.message) continue;
      this.refusedVersions.set(manifestPath, error.message);
      this.refuse(error.code === 'MODEL_CHECKSUM_MISMATCH' ? 'checksum_mismatch' : 'invalid', error, { manifestPath });
    }
    for (const model of discovery.loaded) {
      const id = modelId(model.manifest);
      const attempt = `${model.manifestPath}#${model.manifest.sha256}`;
      if (this.unservable.has(attempt)) {
        changes.refused.push(model.manifestPath);
        continue;
      }
      try {
        const added = await this.serve(model);
        if (this.state !== 'ready') {
          await Promise.all(added.sessions.map((session) => session.release().catch(() => {})));
          return changes;
        }
        this.store.add(added);
        this.drift.track(added.manifest);
        this.refusedVersions.delete(model.manifestPath);
        present.add(id);
        changes.added.push(id);
        this.metrics.modelChangesTotal.inc({ change: 'added' });
        this.logger.info({ model: id }, 'model version added: serving it');
      } catch {
        changes.refused.push(model.manifestPath); // serve() logged and counted it
        this.unservable.add(attempt);
      }
    }
    for (const [id, model] of served) {
      if (present.has(id)) continue;
      if (this.store.size === 1) {
        this.logger.warn({ model: id }, 'model folder removed, but it is the last model: still serving it');
        continue;
      }
      this.store.remove(model);
      this.drift.untrack(model.manifest);
      changes.retired.push(id);
      this.metrics.modelChangesTotal.inc({ change: 'retired' });
      this.logger.info({ model: id }, 'model version retired: its folder is gone; draining its queued work');
      const grace = AbortSignal.timeout(RETIRE_GRACE_MS);
      await Promise.all(lanesOf(model).map((lane) => lane.batcher.close(grace)));
      await Promise.all(model.sessions.map((session) => session.release().catch(() => {})));
    }
    return changes;
  }

  // --- loading ------------------------------------------------------------------------------------

  /** Session (on the chosen provider) + warm-up + batcher for one verified model; throws after logging and
   *  counting the refusal, whatever failed (CONFIG_INVALID, requireGpu without a GPU, is fatal and passes through). */
  private async serve(model: LoadedModel): Promise<ServedModel> {
    try {
      return await this.serveModel(model);
    } catch (error) {
      const failure = toQuicksilverError(error);
      if (this.refusals.has(failure) || failure.code === 'CONFIG_INVALID') throw failure;
      const id = modelId(model.manifest);
      throw this.refuse('invalid', new QuicksilverError('MODEL_INVALID', `model ${id}: cannot be served: ${failure.message}`, { cause: error }), { model: id });
    }
  }

  private async serveModel(model: LoadedModel): Promise<ServedModel> {
    const { manifest } = model;
    const id = `${manifest.name}@${manifest.version}`;
    // Hash the very bytes handed to onnxruntime: the file may have changed since loadModel checked it.
    const bytes = await readFile(model.modelPath).catch((error: Error) => {
      throw this.refuse('invalid', new QuicksilverError('MODEL_INVALID', `model ${id}: cannot read ${model.modelPath}: ${error.message}`), { model: id });
    });
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== manifest.sha256) {
      throw this.refuse('checksum_mismatch', new QuicksilverError('MODEL_CHECKSUM_MISMATCH',
        `model ${id}: ${model.modelPath} changed after verification (SHA-256 ${actual}, manifest says ${manifest.sha256})`), { model: id });
    }
    // The first session picks the provider; the bulk lane's (on the cpu provider niced) uses the same one.
    const lanes = this.options.lanes ?? ['realtime', 'bulk'];
    const bulkOnly = !lanes.includes('realtime');
    // 0 until the first session has picked the provider (a bulk-only worker's process is niced anyway).
    const bulkNiceness = () => (this.provider === 'cpu' ? this.options.bulkRunNiceness ?? 10 : 0);
    const sessions = [await this.createSessionOnDevice(bytes, id, bulkOnly ? bulkNiceness() : 0)];
    try {
      const realtimeSession = sessions[0]!;
      if (!realtimeSession.inputNames.includes(manifest.input.name) || !realtimeSession.outputNames.includes(manifest.output.name)) {
        throw this.refuse('invalid', new QuicksilverError('MODEL_INVALID',
          `model ${id}: the ONNX graph has inputs [${realtimeSession.inputNames}] and outputs [${realtimeSession.outputNames}], `
          + `the manifest names input '${manifest.input.name}' and output '${manifest.output.name}'`), { model: id });
      }
      if ((this.options.modelThreads ?? true) && lanes.length > 1) sessions.push(await this.createSessionOnDevice(bytes, id, bulkNiceness()));
      const bulkSession = sessions.at(-1)!;
      const declaredBatch = manifest.input.shape[0];
      const fixedBatch = declaredBatch > 0;
      const batchCapacity = fixedBatch ? declaredBatch : this.options.maxBatchSize;
      const [, channels, height, width] = manifest.input.shape;
      const imageSize = channels * height * width;
      const stagingBytes = batchCapacity * imageSize * Float32Array.BYTES_PER_ELEMENT;
      if (stagingBytes > MAX_STAGING_BUFFER_BYTES) {
        throw this.refuse('invalid', new QuicksilverError('MODEL_INVALID', `model ${id}: a batch of ${batchCapacity} x [${channels}, ${height}, ${width}] `
          + `needs ${(stagingBytes / 2 ** 30).toFixed(1)} GiB per staging buffer, more than ${MAX_STAGING_BUFFER_BYTES / 2 ** 30} GiB (input.shape, maxBatchSize)`), { model: id });
      }
      const lane = (session: ModelSession, stagingBuffers: number, limiter: PermitSource, maxQueueDelayMicros: number): Lane => {
        const staging = Array.from({ length: stagingBuffers }, () => new Float32Array(batchCapacity * imageSize));
        const created: Lane = {
          session,
          staging,
          batcher: new DynamicBatcher<Uint8Array, BatchOutput>({
            maxBatchSize: batchCapacity, maxQueueDelayMicros, stagingBuffers, limiter,
            prepare: (image, slot, releasePermit) => this.decodeInto(served, staging[slot.buffer]!, image, slot.index, releasePermit),
            moveSlot: (buffer, from, to) => staging[buffer]!.copyWithin(to * imageSize, from * imageSize, (from + 1) * imageSize),
            run: (buffer, size) => this.runBatch(served, created, buffer, size),
            releaseInput: this.options.releaseImage,
          }),
        };
        return created;
      };
      // By default a conveyor image never waits for company: the realtime lane runs what is decoded at once.
      const realtimeLane = () => lane(realtimeSession, REALTIME_STAGING_BUFFERS, this.decodeLimiter.lane(true), this.options.realtimeMaxQueueDelayMicros ?? 0);
      const bulkLane = () => lane(bulkSession, STAGING_BUFFERS, this.decodeLimiter.lane(false), this.options.maxQueueDelayMicros);
      const only = lanes.length > 1 ? undefined : bulkOnly ? bulkLane() : realtimeLane();
      const served: ServedModel = {
        manifest, sessions, batchCapacity, fixedBatch, imageSize,
        realtime: only ?? realtimeLane(),
        bulk: only ?? bulkLane(),
      };
      try {
        // Warm-up: a full batch on each session allocates what the largest run needs (and compiles GPU kernels).
        const startedAt = performance.now();
        for (const warmed of served.bulk.session === served.realtime.session ? [served.bulk] : [served.bulk, served.realtime]) {
          await this.runBatch(served, warmed, 0, batchCapacity, false);
        }
        this.logger.info({ model: id, batch: batchCapacity, sessions: sessions.length, ms: round(performance.now() - startedAt) }, 'model warmed up');
      } catch (error) {
        throw this.refuse('warmup', toQuicksilverError(error), { model: id });
      }
      return served;
    } catch (error) {
      await Promise.all(sessions.map((session) => session.release().catch(() => {})));
      throw error;
    }
  }

  /** createSession, holding the webgpu device gate when there is one (creating a session while another thread runs may crash it too). */
  private async createSessionOnDevice(bytes: Uint8Array, id: string, niceness: number): Promise<ModelSession> {
    const release = this.deviceGate ? await this.deviceGate.acquire(false) : undefined;
    try {
      return await this.createSession(bytes, id, niceness);
    } finally {
      release?.();
    }
  }

  /** The first model picks the provider from the configured list; later models use the same one. */
  private async createSession(bytes: Uint8Array, id: string, niceness: number): Promise<ModelSession> {
    const { requireGpu, executionProviders, cudaDeviceId, intraOpThreads, intraOpSpinning = false, modelThreads = true } = this.options;
    const candidates = this.provider ? [this.provider] : executionProviders.filter((p) => !requireGpu || isGpuProvider(p));
    if (candidates.length === 0) {
      throw new QuicksilverError('CONFIG_INVALID', `requireGpu is set but executionProviders [${executionProviders}] names no GPU provider (cuda, webgpu)`);
    }
    const attempt = await openModelSession(bytes, candidates, { cudaDeviceId, intraOpThreads, intraOpSpinning, thread: modelThreads, niceness });
    if (niceness > 0) this.logger.info({ model: id, niceness, applied: attempt.niced }, 'bulk model runs niced');
    if (!this.provider && attempt.provider) {
      this.provider = attempt.provider;
      if (attempt.provider === 'webgpu' && modelThreads) this.deviceGate = new ConcurrencyLimiter(1);
      const line = { provider: attempt.provider, device: this.device, failed: attempt.failures.map(formatFailure), model: id };
      if (attempt.failures.length > 0) this.logger.warn(line, `execution provider: ${attempt.provider} (after ${attempt.failures.map((f) => f.provider).join(', ')} failed)`);
      else this.logger.info(line, `execution provider: ${attempt.provider}`);
    }
    if (attempt.session) return attempt.session;
    const reasons = attempt.failures.map(formatFailure).join(' | ');
    if (requireGpu && !this.provider) {
      this.logger.error({ failed: attempt.failures.map(formatFailure) }, 'no GPU execution provider works and requireGpu is set');
      throw new QuicksilverError('CONFIG_INVALID', `requireGpu is set but no GPU execution provider could run model ${id}: ${reasons}`);
    }
    throw this.refuse('session_create', new QuicksilverError('MODEL_INVALID', `model ${id}: no execution provider could load it: ${reasons}`), { model: id });
  }

  private refuse(reason: LoadFailureReason, error: QuicksilverError, context: Record<string, string>): QuicksilverError {
    this.refusals.add(error);
    this.metrics.modelLoadFailuresTotal.inc({ reason });
    this.logger.error({ ...context, reason, code: error.code, err: error.message }, 'model refused');
    return error;
  }

  private async releaseSessions(): Promise<void> {
    const models = this.store.all();
    this.store.clear();
    await Promise.all(models.flatMap((model) => model.sessions.map((session) => session.release().catch((error: unknown) => {
      this.logger.warn({ err: error, model: model.manifest.name }, 'releasing a session failed');
    }))));
  }

  // --- readiness ----------------------------------------------------------------------------------
  // FAILED_RUNS_UNTIL_UNREADY failed runs in a row (e.g. a GPU fell off the bus) turn `ready` false: the worker
  // then reports not ready and announces itself draining, so it gets no tasks, and so no run could show the
  // device works again. A self-test (one run of zeros on the first model's bulk session, like the warm-up, in a
  // buffer of its own) runs every selfTestIntervalMs until one succeeds; any successful run turns `ready` true.

  private runFailed(message: string): void {
    this.lastRunError = message;
    if (++this.consecutiveFailedRuns !== FAILED_RUNS_UNTIL_UNREADY) return;
    this.logger.error({ err: message, selfTestIntervalMs: this.selfTestIntervalMs }, `${FAILED_RUNS_UNTIL_UNREADY} model runs failed in a row: reporting not ready`);
    this.scheduleSelfTest();
    this.options.onReadyChange?.(false);
  }

  private runSucceeded(): void {
    const wasUnready = this.consecutiveFailedRuns >= FAILED_RUNS_UNTIL_UNREADY;
    this.consecutiveFailedRuns = 0;
    if (!wasUnready) return;
    clearTimeout(this.selfTestTimer);
    this.selfTestTimer = undefined;
    this.logger.info('a model run succeeded again: reporting ready');
    this.options.onReadyChange?.(this.ready);
  }

  private scheduleSelfTest(): void {
    clearTimeout(this.selfTestTimer);
    this.selfTestTimer = setTimeout(() => void this.selfTest(), this.selfTestIntervalMs);
    this.selfTestTimer.unref();
  }

  private async selfTest(): Promise<void> {
    this.selfTestTimer = undefined;
    const model = this.store.all()[0];
    if (this.state !== 'ready' || this.consecutiveFailedRuns < FAILED_RUNS_UNTIL_UNREADY || !model) return;
    const { manifest, imageSize } = model;
    const rows = model.fixedBatch ? model.batchCapacity : 1;
    const [, channels, height, width] = manifest.input.shape;
    try {
      const releaseDevice = this.deviceGate ? await this.deviceGate.acquire(false) : undefined;
      let output: ModelOutput | undefined;
      try {
        output = (await model.bulk.session.run(manifest.input.name, new Float32Array(rows * imageSize), [rows, channels, height, width], manifest.output.name)).output;
      } finally {
        releaseDevice?.();
      }
      if (!output?.data || output.dims[0] !== rows) throw new Error(`output '${manifest.output.name}' is ${output ? `[${output.dims}]` : 'missing'}`);
    } catch (error) {
      if (this.consecutiveFailedRuns < FAILED_RUNS_UNTIL_UNREADY) return; // a task's run succeeded meanwhile
      this.lastRunError = (error as Error).message;
      this.logger.warn({ err: this.lastRunError, model: modelId(manifest), retryInMs: this.selfTestIntervalMs }, 'self-test run failed: still not ready');
      if (this.state === 'ready') this.scheduleSelfTest();
      return;
    }
    if (this.consecutiveFailedRuns >= FAILED_RUNS_UNTIL_UNREADY) this.runSucceeded();
  }

  // --- hot path -----------------------------------------------------------------------------------

  /** The decode permit bounds images inside libvips (their decoded pixels, threads); it goes back once
   *  libvips is done (the next decode then starts right after this one's normalization, before its drift
   *  statistics and the batch bookkeeping). */
  private async decodeInto(model: ServedModel, staging: Float32Array, image: Uint8Array, slot: number, releasePermit: () => void): Promise<void> {
    const startedAt = performance.now();
    await preprocessInto(image, model.manifest.preprocessing, staging, slot * model.imageSize,
      { maxInputPixels: this.options.maxInputPixels, onDecoded: releasePermit });
    this.metrics.decodeDuration.observe((performance.now() - startedAt) / 1000);
    this.drift.observeInput(model.manifest, staging, slot * model.imageSize);
  }

  /** Runs slots 0..size-1 of a lane's staging buffer on the lane's session; one probability vector per image. */
  private async runBatch(model: ServedModel, lane: Lane, buffer: number, size: number, observe = true): Promise<BatchOutput[]> {
    const { manifest, imageSize } = model;
    const rows = model.fixedBatch ? model.batchCapacity : size;
    const [, channels, height, width] = manifest.input.shape;
    const staging = lane.staging[buffer]!;
    const startedAt = performance.now();
    let logits: ModelOutput | undefined;
    try {
      const releaseDevice = this.deviceGate ? await this.deviceGate.acquire(lane === model.realtime) : undefined;
      try {
        const run = await lane.session.run(manifest.input.name, staging, [rows, channels, height, width], manifest.output.name);
        lane.staging[buffer] = run.staging;
        logits = run.output;
      } finally {
        releaseDevice?.();
      }
    } catch (error) {
      // A model thread hands the staging array back even when the run fails; if it died, start a new one.
      const handedBack = error instanceof ModelRunError ? error.staging : undefined;
      lane.staging[buffer] = handedBack ?? (staging.length > 0 ? staging : new Float32Array(model.batchCapacity * imageSize));
      if (observe) this.runFailed((error as Error).message);
      throw new QuicksilverError('INFERENCE_FAILED', `model ${manifest.name}@${manifest.version} failed on a batch of ${rows}: ${(error as Error).message}`, { cause: error });
    }
    const inferenceMs = performance.now() - startedAt;
    if (observe) this.runSucceeded();
    const labels = manifest.labels.length;
    if (!logits?.data || logits.dims.length !== 2 || logits.dims[0] !== rows || logits.dims[1] !== labels) {
      throw new QuicksilverError('MODEL_INVALID', `model ${manifest.name}@${manifest.version}: output '${manifest.output.name}' is `
        + `${logits ? `${logits.type} [${logits.dims}]` : 'missing'}, expected float32 [${rows}, ${labels}] (one score per label)`);
    }
    if (observe) {
      this.metrics.inferenceDuration.observe(inferenceMs / 1000);
      this.metrics.batchSize.observe(size);
    }
    const values = logits.data;
    return Array.from({ length: size }, (_, i) => {
      const row = Float64Array.from(values.subarray(i * labels, (i + 1) * labels));
      return { probabilities: manifest.output.kind === 'logits' ? softmax(row) : row, inferenceMs };
    });
  }
}

/** Numerically stable softmax, in place. */
export function softmax(values: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] = Math.exp(values[i]! - max);
  for (let i = 0; i < values.length; i++) values[i]! /= sum;
  return values;
}

function mostProbableOther(labels: string[], probabilities: Float64Array, positive: number): string {
  let best = positive === 0 ? 1 : 0;
  for (let i = 0; i < labels.length; i++) if (i !== positive && probabilities[i]! > probabilities[best]!) best = i;
  return labels[best]!;
}

const formatFailure = (failure: ProviderFailure): string => `${failure.provider}: ${failure.reason}`;
const round = (ms: number): number => Math.round(ms * 100) / 100;
const modelId = (manifest: ModelManifest): string => `${manifest.name}@${manifest.version}`;

/** A model's lanes, each once (a single-class engine's two lanes are one). */
function lanesOf(model: ServedModel): Lane[] {
  return model.realtime === model.bulk ? [model.realtime] : [model.realtime, model.bulk];
}
