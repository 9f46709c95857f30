// Triton-like dynamic batcher over staging buffers, independent of images and models.
//
// Each request claims a slot in the open staging buffer and is prepared straight into it
// (prepare(), e.g. an image decoded into the batch tensor), so a batch needs no gathering copy.
// A buffer is sealed once it is full, or once it holds a prepared input while the runner is idle
// and the queue delay (counted from its first prepared input) has passed; 0 = seal at once. A
// sealed buffer runs when the runner is free and its in-flight prepares have settled; inputs that
// failed or were aborted leave holes that are closed by moving later slots down (moveSlot()).
// Several buffers let the next batch be prepared while the previous one runs.
import { QuicksilverError } from '../../common/src/errors.js';
import type { PermitSource, Release } from './concurrency-limiter.js';

export interface SlotRef {
  /** Staging buffer index, 0 .. stagingBuffers-1. */
  buffer: number;
  /** Slot in that buffer, 0 .. maxBatchSize-1. */
  index: number;
}

export interface DynamicBatcherOptions<TInput, TOutput> {
  /** Slots per staging buffer: the largest batch. */
  maxBatchSize: number;
  /** How long a batch waits for more inputs once it holds a prepared one (0 = run what is ready). */
  maxQueueDelayMicros: number;
  /** Staging buffers (default 3): one runs while the others fill. */
  stagingBuffers?: number;
  /**
   * Writes `input` into `slot`. A rejection fails this input only (with that error). `releasePermit`
   * hands the limiter's permit back early (e.g. once the decoder is done and only work on the event
   * loop's thread is left); otherwise it goes back when prepare() settles.
   */
  prepare(input: TInput, slot: SlotRef, releasePermit: () => void): Promise<void>;
  /** Copies slot `from` of `buffer` onto slot `to` (to < from), closing a hole. */
  moveSlot(buffer: number, from: number, to: number): void;
  /** Runs slots 0 .. size-1 of `buffer`; one output per slot, in order. A rejection fails the whole batch. */
  run(buffer: number, size: number): Promise<TOutput[]>;
  /** Bounds concurrent prepare() calls; may be shared by several batchers. A permit is taken before a slot. */
  limiter?: PermitSource;
  /**
   * Called once for every input given to submit(), when the batcher reads it no more: after its prepare()
   * settled, or when it is rejected without one (aborted while queued, shutdown, refused at submit()).
   * Never while a prepare() of it may still read it, even if its submit() was rejected earlier (e.g. aborted).
   */
  releaseInput?(input: TInput): void;
}

export interface BatchedResult<TOutput> {
  output: TOutput;
  /** Inputs in the batch this one ran in. */
  batchSize: number;
  /** Time spent in prepare(). */
  prepareMs: number;
  /** Time from submit() to the start of its batch's run, not counting prepareMs. */
  queueMs: number;
}

/** The error for a request whose AbortSignal fired: its reason when that is a QuicksilverError. */
export function errorFromAbort(signal: AbortSignal): QuicksilverError {
  const reason: unknown = signal.reason;
  if (reason instanceof QuicksilverError) return reason;
  const detail = reason instanceof Error ? reason.message : String(reason);
  const code = reason instanceof Error && reason.name === 'TimeoutError' ? 'DEADLINE_EXCEEDED' : 'INTERNAL';
  return new QuicksilverError(code, `request aborted before it ran: ${detail}`, { cause: reason });
}

type EntryState = 'queued' | 'preparing' | 'ready' | 'dropped' | 'running';

interface Entry<TInput, TOutput> {
  input: TInput;
  /** Urgent entries are admitted before every non-urgent one still waiting. */
  urgent: boolean;
  state: EntryState;
  settled: boolean;
  submittedAt: number;
  prepareMs: number;
  /** Slot index while in a buffer. */
  index: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  resolve(result: BatchedResult<TOutput>): void;
  reject(error: unknown): void;
}

interface StagingBuffer<TInput, TOutput> {
  readonly id: number;
  state: 'free' | 'open' | 'sealed' | 'running';
  /** Claimed slots, in slot order. */
  slots: Entry<TInput, TOutput>[];
  /** prepare() calls not yet settled. */
  preparing: number;
  firstReadyAt: number | undefined;
  delayExpired: boolean;
}

export class DynamicBatcher<TInput, TOutput> {
  private readonly intake: Entry<TInput, TOutput>[] = [];
  private readonly buffers: StagingBuffer<TInput, TOutput>[];
  /** Sealed buffers, oldest first. */
  private readonly sealed: StagingBuffer<TInput, TOutput>[] = [];
  private running: StagingBuffer<TInput, TOutput> | undefined;
  private admitting = false;
  private closing = false;
  private delayTimer: NodeJS.Timeout | undefined;
  private freedWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: DynamicBatcherOptions<TInput, TOutput>) {
    const { maxBatchSize, maxQueueDelayMicros, stagingBuffers = 3 } = options;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new RangeError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`);
    if (!(maxQueueDelayMicros >= 0)) throw new RangeError(`maxQueueDelayMicros must be >= 0, got ${maxQueueDelayMicros}`);
    if (!Number.isInteger(stagingBuffers) || stagingBuffers < 1) throw new RangeError(`stagingBuffers must be a positive integer, got ${stagingBuffers}`);
    this.buffers = Array.from({ length: stagingBuffers }, (_, id) => ({
      id, state: 'free' as const, slots: [], preparing: 0, firstReadyAt: undefined, delayExpired: false,
    }));
  }

  /** Requests submitted and not yet running (waiting for a slot, being prepared, or prepared). */
  get queueDepth(): number {
    let depth = this.intake.length;
    for (const buffer of this.buffers) {
      if (buffer.state === 'running') continue;
      for (const entry of buffer.slots) if (entry.state === 'preparing' || entry.state === 'ready') depth++;
    }
    return depth;
  }

  /**
   * Queues `input`; resolves with its output once its batch ran. Rejects with prepare()'s or run()'s
   * error, with errorFromAbort(signal) if `signal` aborts before its batch starts, or SHUTTING_DOWN.
   * An `urgent` input (default) waits only behind other urgent ones; a non-urgent one behind everything.
   */
  submit(input: TInput, signal?: AbortSignal, urgent = true): Promise<BatchedResult<TOutput>> {
    if (this.closing || signal?.aborted) {
      this.options.releaseInput?.(input);
      return Promise.reject(signal?.aborted ? errorFromAbort(signal) : new QuicksilverError('SHUTTING_DOWN', 'the batcher is closing'));
    }
    return new Promise((resolve, reject) => {
      const entry: Entry<TInput, TOutput> = {
        input, urgent, state: 'queued', settled: false, submittedAt: performance.now(), prepareMs: 0, index: -1,
        signal, onAbort: undefined, resolve, reject,
      };
      if (signal) {
        entry.onAbort = () => this.abort(entry);
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      const firstNonUrgent = urgent ? this.intake.findIndex((waiting) => !waiting.urgent) : -1;
      if (firstNonUrgent >= 0) this.intake.splice(firstNonUrgent, 0, entry);
      else this.intake.push(entry);
      void this.admit();
    });
  }

  /**
   * Stops intake and runs what is queued (without waiting out the queue delay). When `signal`
   * aborts, work not yet running is rejected with SHUTTING_DOWN. Resolves once nothing runs or
   * prepares any more. Idempotent.
   */
  async close(signal: AbortSignal): Promise<void> {
    this.closing = true;
    this.schedule();
    if (this.isIdle()) return;
    await new Promise<void>((resolve) => {
      const onAbort = () => this.abandon();
      this.idleWaiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // --- admission, urgent first then arrival order: wait for room, take a prepare permit, claim a slot

  private async admit(): Promise<void> {
    if (this.admitting) return;
    this.admitting = true;
    try {
      while (this.intake.length > 0) {
        if (!this.bufferWithRoom()) {
          await this.nextBufferFreed();
          continue;
        }
        const release: Release = this.options.limiter ? await this.options.limiter.acquire() : () => {};
        const entry = this.intake.shift();
        if (!entry) {
          release(); // every waiting request was aborted meanwhile
          break;
        }
        const buffer = this.bufferWithRoom(); // the open buffer may have been sealed while we waited
        if (!buffer) {
          this.intake.unshift(entry);
          release();
          continue;
        }
        this.claim(buffer, entry, release);
      }
    } finally {
      this.admitting = false;
    }
  }

  private bufferWithRoom(): StagingBuffer<TInput, TOutput> | undefined {
    const open = this.buffers.find((b) => b.state === 'open');
    if (open) return open; // an open buffer always has room: it is sealed when it fills up
    const free = this.buffers.find((b) => b.state === 'free');
    if (free) free.state = 'open';
    return free;
  }

  private nextBufferFreed(): Promise<void> {
    return new Promise((resolve) => this.freedWaiters.push(resolve));
  }

  private claim(buffer: StagingBuffer<TInput, TOutput>, entry: Entry<TInput, TOutput>, release: Release): void {
    entry.state = 'preparing';
    entry.index = buffer.slots.length;
    buffer.slots.push(entry);
    buffer.preparing++;
    if (buffer.slots.length === this.options.maxBatchSize) this.seal(buffer);
    void this.prepare(buffer, entry, release);
  }

  private async prepare(buffer: StagingBuffer<TInput, TOutput>, entry: Entry<TInput, TOutput>, release: Release): Promise<void> {
    const startedAt = performance.now();
    try {
      await this.options.prepare(entry.input, { buffer: buffer.id, index: entry.index }, release);
      entry.prepareMs = performance.now() - startedAt;
      if (entry.state === 'preparing') {
        entry.state = 'ready';
        buffer.firstReadyAt ??= performance.now();
      }
    } catch (error) {
      entry.prepareMs = performance.now() - startedAt;
      if (entry.state === 'preparing') {
        entry.state = 'dropped';
        this.settle(entry, error);
      }
    } finally {
      release();
      this.options.releaseInput?.(entry.input);
      buffer.preparing--;
      this.schedule();
    }
  }

  // --- batching -----------------------------------------------------------------------------------

  /** Re-evaluated after every state change: seals the open buffer when due, runs the oldest sealed one. */
  private schedule(): void {
    const open = this.buffers.find((b) => b.state === 'open');
    const runnerIdle = !this.running && this.sealed.length === 0;
    if (open && runnerIdle && open.slots.some((e) => e.state === 'ready')) {
      const waitedMicros = (performance.now() - open.firstReadyAt!) * 1000;
      const delay = this.options.maxQueueDelayMicros;
      if (this.closing || delay === 0 || open.delayExpired || waitedMicros >= delay) this.seal(open);
      else this.armDelayTimer(open, delay - waitedMicros);
    }
    const next = this.sealed[0];
    if (!this.running && next && next.preparing === 0) {
      this.sealed.shift();
      void this.dispatch(next);
    }
    if (this.idleWaiters.length > 0 && this.isIdle()) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  private armDelayTimer(buffer: StagingBuffer<TInput, TOutput>, remainingMicros: number): void {
    if (this.delayTimer) return;
    this.delayTimer = setTimeout(() => {
      this.delayTimer = undefined;
      if (buffer.state === 'open') buffer.delayExpired = true;
      this.schedule();
    }, Math.ceil(remainingMicros / 1000));
  }

  private seal(buffer: StagingBuffer<TInput, TOutput>): void {
    if (this.delayTimer) {
      clearTimeout(this.delayTimer);
      this.delayTimer = undefined;
    }
    buffer.state = 'sealed';
    this.sealed.push(buffer);
  }

  private async dispatch(buffer: StagingBuffer<TInput, TOutput>): Promise<void> {
    const batch = buffer.slots.filter((entry) => entry.state === 'ready');
    if (batch.length === 0) {
      this.free(buffer);
      this.schedule();
      return;
    }
    buffer.state = 'running';
    this.running = buffer;
    const startedAt = performance.now();
    try {
      batch.forEach((entry, slot) => {
        if (entry.index !== slot) this.options.moveSlot(buffer.id, entry.index, slot);
        entry.index = slot;
        entry.state = 'running';
        this.detachAbort(entry); // too late to drop it now
      });
      const outputs = await this.options.run(buffer.id, batch.length);
      if (outputs.length !== batch.length) throw new QuicksilverError('INTERNAL', `run() returned ${outputs.length} outputs for ${batch.length} inputs`);
      batch.forEach((entry, i) => this.settle(entry, undefined, {
        output: outputs[i]!,
        batchSize: batch.length,
        prepareMs: entry.prepareMs,
        queueMs: Math.max(0, startedAt - entry.submittedAt - entry.prepareMs),
      }));
    } catch (error) {
      for (const entry of batch) this.settle(entry, error);
    } finally {
      this.running = undefined;
      this.free(buffer);
      this.schedule();
    }
  }

  private free(buffer: StagingBuffer<TInput, TOutput>): void {
    buffer.state = 'free';
    buffer.slots = [];
    buffer.firstReadyAt = undefined;
    buffer.delayExpired = false;
    const waiters = this.freedWaiters;
    this.freedWaiters = [];
    for (const wake of waiters) wake();
  }

  // --- abort and shutdown -------------------------------------------------------------------------

  private abort(entry: Entry<TInput, TOutput>): void {
    if (entry.settled || entry.state === 'running') return;
    if (entry.state === 'queued') {
      this.intake.splice(this.intake.indexOf(entry), 1);
      this.options.releaseInput?.(entry.input);
    } else entry.state = 'dropped'; // a slot being prepared stays claimed until prepare() settles; then it is a hole
    this.settle(entry, errorFromAbort(entry.signal!));
    this.schedule();
  }

  /** Grace is over: rejects everything not yet running. */
  private abandon(): void {
    const error = () => new QuicksilverError('SHUTTING_DOWN', 'shutdown grace expired before this request ran');
    for (const entry of this.intake.splice(0)) {
      this.settle(entry, error());
      this.options.releaseInput?.(entry.input);
    }
    for (const buffer of this.buffers) {
      if (buffer.state === 'running') continue;
      for (const entry of buffer.slots) {
        if (entry.state === 'preparing' || entry.state === 'ready') {
          entry.state = 'dropped';
          this.settle(entry, error());
        }
      }
    }
    const waiters = this.freedWaiters; // lets admit() see the empty intake and exit
    this.freedWaiters = [];
    for (const wake of waiters) wake();
    this.schedule();
  }

  private isIdle(): boolean {
    return this.intake.length === 0 && !this.running
      && this.buffers.every((b) => b.preparing === 0 && !b.slots.some((e) => e.state === 'ready'));
  }

  private detachAbort(entry: Entry<TInput, TOutput>): void {
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    entry.onAbort = undefined;
  }

  private settle(entry: Entry<TInput, TOutput>, error: unknown, result?: BatchedResult<TOutput>): void {
    if (entry.settled) return;
    entry.settled = true;
    this.detachAbort(entry);
    if (result) entry.resolve(result);
    else entry.reject(error);
  }
}
