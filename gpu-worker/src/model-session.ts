// A model's onnxruntime session behind a small interface, run in the calling thread or in a model
// thread of its own (model-thread-entry.ts). onnxruntime-node's run() blocks its thread for the whole
// run (the CPU math, or the wait for the GPU), so in the event loop's thread it stalls gRPC reads,
// decode scheduling and result delivery for every image; in a model thread it stalls nothing.
// Inputs travel to a model thread by transfer, not copy: onnxruntime-node refuses
// SharedArrayBuffer-backed tensors, so the staging array is handed over for the run and handed back.
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { createSessionOnFirstProvider, type ExecutionProviderName, type ProviderFailure, type SessionSettings } from './execution-providers.js';

export interface ModelOutput {
  type: string;
  dims: readonly number[];
  /** Undefined unless type is float32. */
  data: Float32Array | undefined;
}

export interface ModelRun {
  output: ModelOutput | undefined;
  /** The staging array to keep using: the one passed in, or (from a model thread) its handed-back twin. */
  staging: Float32Array;
}

/** A failed run; `staging` is the handed-back staging array when it came back. */
export class ModelRunError extends Error {
  constructor(message: string, readonly staging?: Float32Array) {
    super(message);
  }
}

export interface ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the first product(dims) floats of `staging` (which must start at offset 0 of its own ArrayBuffer) as `inputName`. */
  run(inputName: string, staging: Float32Array, dims: readonly number[], outputName: string): Promise<ModelRun>;
  /** Frees the session (and ends its thread). Idempotent. */
  release(): Promise<void>;
}

export interface ModelSessionSettings extends SessionSettings {
  /** Run in a model thread of its own instead of the calling thread. */
  thread: boolean;
  /** Linux, model threads only: nice value for the thread and onnxruntime's pool threads it creates (0 = unchanged). */
  niceness: number;
}

export interface OpenedModelSession {
  /** Undefined when every provider failed (see failures). */
  session: ModelSession | undefined;
  provider: ExecutionProviderName | undefined;
  failures: ProviderFailure[];
  /** Whether `niceness` was applied (false where the OS refused or is not Linux). */
  niced: boolean;
}

/** Opens a session on the first provider of `providers` that works, in this thread or a model thread. */
export async function openModelSession(
  model: Uint8Array,
  providers: readonly ExecutionProviderName[],
  settings: ModelSessionSettings,
): Promise<OpenedModelSession> {
  if (!settings.thread) {
    const attempt = await createSessionOnFirstProvider(model, providers, settings);
    return { ...attempt, session: attempt.session && new InProcessSession(attempt.session), niced: false };
  }
  return ThreadedSession.open(model, providers, settings);
}

class InProcessSession implements ModelSession {
  private released: Promise<void> | undefined;

  constructor(private readonly session: ort.InferenceSession) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(inputName: string, staging: Float32Array, dims: readonly number[], outputName: string): Promise<ModelRun> {
    const input = new ort.Tensor('float32', staging.subarray(0, product(dims)), dims);
    let outputs: ort.InferenceSession.OnnxValueMapType;
    try {
      outputs = await this.session.run({ [inputName]: input });
    } catch (error) {
      throw new ModelRunError((error as Error).message, staging);
    }
    return { output: describeOutput(outputs[outputName]), staging };
  }

  release(): Promise<void> {
    this.released ??= this.session.release();
    return this.released;
  }
}

// --- model thread protocol (model-thread-entry.ts is the other side) ------------------------------

export interface ModelThreadData {
  model: Uint8Array;
  providers: readonly ExecutionProviderName[];
  settings: SessionSettings;
  niceness: number;
}

export type ToModelThread =
  | { kind: 'run'; id: number; buffer: ArrayBuffer; inputName: string; dims: readonly number[]; outputName: string }
  | { kind: 'release' };

export type FromModelThread =
  | { kind: 'opened'; provider: ExecutionProviderName | undefined; failures: ProviderFailure[]; niced: boolean; inputNames: string[]; outputNames: string[] }
  | { kind: 'result'; id: number; buffer: ArrayBuffer; output?: ModelOutput; error?: string }
  | { kind: 'released' };

interface PendingRun {
  resolve(run: ModelRun): void;
  reject(error: ModelRunError): void;
}

const THREAD_RELEASE_TIMEOUT_MS = 5000;

class ThreadedSession implements ModelSession {
  private readonly pending = new Map<number, PendingRun>();
  private nextId = 0;
  private ended: Error | undefined;
  private released: Promise<void> | undefined;

  private constructor(private readonly thread: Worker, readonly inputNames: readonly string[], readonly outputNames: readonly string[]) {
    thread.on('message', (message: FromModelThread) => {
      if (message.kind !== 'result') return;
      const run = this.pending.get(message.id);
      if (!run) return;
      this.pending.delete(message.id);
      this.updateRef();
      const staging = new Float32Array(message.buffer);
      if (message.error !== undefined) run.reject(new ModelRunError(message.error, staging));
      else run.resolve({ output: message.output, staging });
    });
    thread.on('error', (error) => this.end(new Error(`the model thread failed: ${error.message}`)));
    thread.on('exit', (code) => this.end(new Error(`the model thread exited (code ${code})`)));
    this.updateRef();
  }

  static open(model: Uint8Array, providers: readonly ExecutionProviderName[], settings: ModelSessionSettings): Promise<OpenedModelSession> {
    const { thread: _thread, niceness, ...sessionSettings } = settings;
    const workerData: ModelThreadData = { model, providers, settings: sessionSettings, niceness };
    const thread = new Worker(new URL('./model-thread-entry.js', import.meta.url), { workerData });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the model thread exited (code ${code}) before opening a session`));
      thread.once('error', reject);
      thread.once('exit', onExit);
      thread.once('message', (message: FromModelThread) => {
        thread.off('error', reject);
        thread.off('exit', onExit);
        if (message.kind !== 'opened') return reject(new Error(`the model thread sent '${message.kind}' before opening a session`));
        const { provider, failures, niced } = message;
        if (!provider) {
          void thread.terminate();
          return resolve({ session: undefined, provider, failures, niced });
        }
        resolve({ session: new ThreadedSession(thread, message.inputNames, message.outputNames), provider, failures, niced });
      });
    });
  }

  run(inputName: string, staging: Float32Array, dims: readonly number[], outputName: string): Promise<ModelRun> {
    if (this.ended) return Promise.reject(new ModelRunError(this.ended.message));
    if (staging.byteOffset !== 0 || staging.buffer instanceof SharedArrayBuffer) {
      return Promise.reject(new ModelRunError('a model thread needs a staging array that owns its whole ArrayBuffer'));
    }
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const buffer = staging.buffer as ArrayBuffer;
      const message: ToModelThread = { kind: 'run', id, buffer, inputName, dims, outputName };
      try {
        this.thread.postMessage(message, [buffer]); // throws (and keeps the buffer) e.g. for a detached array
      } catch (error) {
        reject(new ModelRunError(`cannot hand the input to the model thread: ${(error as Error).message}`, staging.length > 0 ? staging : undefined));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.updateRef();
    });
  }

  release(): Promise<void> {
    this.released ??= (async () => {
      if (this.ended) return;
      const exited = new Promise<void>((resolve) => this.thread.once('exit', () => resolve()));
      this.thread.ref();
      this.thread.postMessage({ kind: 'release' } satisfies ToModelThread);
      const timer = setTimeout(() => void this.thread.terminate(), THREAD_RELEASE_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    })();
    return this.released;
  }

  /** The thread keeps the process alive only while a run is pending. */
  private updateRef(): void {
    if (this.pending.size > 0) this.thread.ref();
    else this.thread.unref();
  }

  private end(error: Error): void {
    this.ended ??= error;
    for (const run of this.pending.values()) run.reject(new ModelRunError(error.message));
    this.pending.clear();
  }
}

export function describeOutput(value: ort.Tensor | undefined): ModelOutput | undefined {
  if (!value) return undefined;
  return { type: value.type, dims: [...value.dims], data: value.type === 'float32' ? (value.data as Float32Array) : undefined };
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
