// DynamicBatcher as a pure unit: staging buffers are plain arrays, prepare/run are controllable fakes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QuicksilverError } from '../../common/src/errors.js';
import { ConcurrencyLimiter } from '../../gpu-worker/src/concurrency-limiter.js';
import { DynamicBatcher } from '../../gpu-worker/src/dynamic-batcher.js';

interface Input {
  value: number;
  /** prepare() waits for this before writing (default: resolves at once). */
  gate?: Promise<void>;
  fail?: boolean;
  /** prepare() hands its limiter permit back before waiting for the gate (as the engine does once libvips is done). */
  releaseEarly?: boolean;
}

function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Output of run() = the value found in each slot, so results prove the slot ↔ request mapping. */
function harness(options: { maxBatchSize: number; maxQueueDelayMicros?: number; stagingBuffers?: number; limiter?: ConcurrencyLimiter }) {
  const staging = Array.from({ length: options.stagingBuffers ?? 3 }, () => new Array<number>(options.maxBatchSize).fill(NaN));
  const batches: number[][] = [];
  const events: string[] = [];
  let runGate: Promise<void> | undefined;
  let preparing = 0;
  let maxPreparing = 0;
  /** Inputs inside prepare() now, and every releaseInput() call in order. */
  const inPrepare = new Set<Input>();
  const released: number[] = [];
  const releasedDuringPrepare: number[] = [];
  const batcher = new DynamicBatcher<Input, number>({
    maxBatchSize: options.maxBatchSize,
    maxQueueDelayMicros: options.maxQueueDelayMicros ?? 0,
    stagingBuffers: options.stagingBuffers,
    limiter: options.limiter,
    async prepare(input, slot, releasePermit) {
      if (input.releaseEarly) releasePermit();
      preparing++;
      maxPreparing = Math.max(maxPreparing, preparing);
      inPrepare.add(input);
      try {
        events.push(`prepare ${input.value}`);
        await (input.gate ?? Promise.resolve());
        if (input.fail) throw new QuicksilverError('IMAGE_CORRUPT', `input ${input.value} is corrupt`);
        staging[slot.buffer]![slot.index] = input.value;
      } finally {
        preparing--;
        inPrepare.delete(input);
      }
    },
    releaseInput(input) {
      released.push(input.value);
      if (inPrepare.has(input)) releasedDuringPrepare.push(input.value);
    },
    moveSlot(buffer, from, to) {
      staging[buffer]![to] = staging[buffer]![from]!;
    },
    async run(buffer, size) {
      const batch = staging[buffer]!.slice(0, size);
      batches.push(batch);
      events.push(`run ${batch.join(',')}`);
      await runGate;
      events.push(`done ${batch.join(',')}`);
      return batch.map((v) => v * 10);
    },
  });
  return {
    batcher, batches, events, released, releasedDuringPrepare,
    get maxPreparing() { return maxPreparing; },
    blockRuns(gate: Promise<void>) { runGate = gate; },
  };
}

const values = (n: number, from = 1) => Array.from({ length: n }, (_, i) => ({ value: from + i }));

describe('DynamicBatcher', { timeout: 10_000 }, () => {
  it('admits an urgent (realtime) request ahead of waiting non-urgent (bulk) ones', async () => {
    const h = harness({ maxBatchSize: 8, limiter: new ConcurrencyLimiter(1) });
    const gate = latch();
    const first = h.batcher.submit({ value: 1, gate: gate.promise }, undefined, false);
    await sleep(5); // 1 holds the only prepare permit
    const all = [
      first,
      h.batcher.submit({ value: 2 }, undefined, false),
      h.batcher.submit({ value: 3 }, undefined, false),
      h.batcher.submit({ value: 9 }),
      h.batcher.submit({ value: 10 }),
    ];
    await sleep(10);
    gate.open();
    await Promise.all(all);
    assert.deepEqual(h.events.filter((e) => e.startsWith('prepare')), ['prepare 1', 'prepare 9', 'prepare 10', 'prepare 2', 'prepare 3']);
  });

  it('with no queue delay batches whatever is ready, up to maxBatchSize, and maps outputs back to requests', async () => {
    const h = harness({ maxBatchSize: 4 });
    const results = await Promise.all(values(6).map((input) => h.batcher.submit(input)));
    assert.deepEqual(results.map((r) => r.output), [10, 20, 30, 40, 50, 60]);
    assert.deepEqual(h.batches, [[1, 2, 3, 4], [5, 6]]);
    assert.deepEqual(results.map((r) => r.batchSize), [4, 4, 4, 4, 2, 2]);
    assert.ok(results.every((r) => r.queueMs >= 0 && r.prepareMs >= 0));
  });

  it('a lone request runs at once when there is no delay', async () => {
    const h = harness({ maxBatchSize: 8 });
    const result = await h.batcher.submit({ value: 7 });
    assert.equal(result.output, 70);
    assert.equal(result.batchSize, 1);
  });

  it('waits up to maxQueueDelayMicros for more requests once one is ready', async () => {
    const h = harness({ maxBatchSize: 8, maxQueueDelayMicros: 150_000 });
    const startedAt = performance.now();
    const first = h.batcher.submit({ value: 1 });
    await sleep(30);
    const second = h.batcher.submit({ value: 2 });
    const results = await Promise.all([first, second]);
    const elapsedMs = performance.now() - startedAt;
    assert.deepEqual(h.batches, [[1, 2]]);
    assert.ok(elapsedMs >= 140, `ran after ${elapsedMs} ms, before the 150 ms delay`);
    assert.ok(elapsedMs < 1000, `ran after ${elapsedMs} ms`);
    assert.ok(results[0].queueMs >= 140);
  });

  it('a full batch does not wait for the queue delay', async () => {
    const h = harness({ maxBatchSize: 3, maxQueueDelayMicros: 5_000_000 });
    const startedAt = performance.now();
    await Promise.all(values(3).map((input) => h.batcher.submit(input)));
    assert.deepEqual(h.batches, [[1, 2, 3]]);
    assert.ok(performance.now() - startedAt < 1000);
  });

  it("one input's prepare failure rejects only that input; the hole is closed before the run", async () => {
    const h = harness({ maxBatchSize: 4 });
    const settled = await Promise.allSettled([{ value: 1 }, { value: 2, fail: true }, { value: 3 }, { value: 4 }].map((i) => h.batcher.submit(i)));
    assert.equal(settled[1]!.status, 'rejected');
    assert.equal(((settled[1] as PromiseRejectedResult).reason as QuicksilverError).code, 'IMAGE_CORRUPT');
    assert.deepEqual(settled.filter((s) => s.status === 'fulfilled').map((s) => s.value.output), [10, 30, 40]);
    assert.deepEqual(h.batches, [[1, 3, 4]]);
  });

  it('the next batch is prepared while the previous one runs', async () => {
    const h = harness({ maxBatchSize: 2 });
    const gate = latch();
    h.blockRuns(gate.promise);
    const first = Promise.all(values(2).map((input) => h.batcher.submit(input)));
    await sleep(10);
    assert.deepEqual(h.events.slice(-1), ['run 1,2']);
    const second = Promise.all(values(2, 3).map((input) => h.batcher.submit(input)));
    await sleep(10);
    assert.ok(h.events.includes('prepare 3') && h.events.includes('prepare 4'), h.events.join(' | '));
    assert.ok(!h.events.includes('done 1,2'));
    gate.open();
    assert.deepEqual((await first).map((r) => r.output), [10, 20]);
    assert.deepEqual((await second).map((r) => r.output), [30, 40]);
    assert.deepEqual(h.batches, [[1, 2], [3, 4]]);
  });

  it('requests queue while the runner is busy and then run together', async () => {
    const h = harness({ maxBatchSize: 8 });
    const gate = latch();
    h.blockRuns(gate.promise);
    const first = h.batcher.submit({ value: 1 });
    await sleep(5);
    const rest = values(5, 2).map((input) => h.batcher.submit(input));
    await sleep(10);
    assert.equal(h.batcher.queueDepth, 5);
    gate.open();
    await Promise.all([first, ...rest]);
    assert.deepEqual(h.batches, [[1], [2, 3, 4, 5, 6]]);
    assert.equal(h.batcher.queueDepth, 0);
  });

  it('a request aborted before its batch runs is dropped with the abort reason', async () => {
    const h = harness({ maxBatchSize: 8 });
    const gate = latch();
    h.blockRuns(gate.promise);
    const first = h.batcher.submit({ value: 1 });
    await sleep(5);
    const controller = new AbortController();
    const aborted = h.batcher.submit({ value: 2 }, controller.signal);
    const kept = h.batcher.submit({ value: 3 });
    await sleep(5);
    controller.abort(new QuicksilverError('DEADLINE_EXCEEDED', 'caller gave up'));
    await assert.rejects(aborted, (e: QuicksilverError) => e.code === 'DEADLINE_EXCEEDED');
    gate.open();
    assert.equal((await first).output, 10);
    assert.equal((await kept).output, 30);
    assert.deepEqual(h.batches, [[1], [3]]);
  });

  it('an already aborted signal rejects at once; a timeout maps to DEADLINE_EXCEEDED', async () => {
    const h = harness({ maxBatchSize: 2 });
    await assert.rejects(h.batcher.submit({ value: 1 }, AbortSignal.abort()), (e: QuicksilverError) => e.code === 'INTERNAL');
    const gate = latch();
    const keepAlive = setInterval(() => {}, 1000); // AbortSignal.timeout's timer does not hold the event loop open
    const slow = h.batcher.submit({ value: 2, gate: gate.promise }, AbortSignal.timeout(20));
    await assert.rejects(slow, (e: QuicksilverError) => e.code === 'DEADLINE_EXCEEDED');
    clearInterval(keepAlive);
    gate.open();
    await h.batcher.close(AbortSignal.timeout(1000));
    assert.deepEqual(h.batches, []);
  });

  it('a run failure rejects its batch and the batcher keeps serving', async () => {
    let failNext = true;
    const staging = [[0, 0], [0, 0], [0, 0]];
    const batcher = new DynamicBatcher<number, number>({
      maxBatchSize: 2, maxQueueDelayMicros: 0,
      async prepare(input, slot) { staging[slot.buffer]![slot.index] = input; },
      moveSlot() {},
      async run(buffer, size) {
        if (failNext) {
          failNext = false;
          throw new QuicksilverError('INFERENCE_FAILED', 'device lost');
        }
        return staging[buffer]!.slice(0, size);
      },
    });
    const failed = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
    assert.ok(failed.every((s) => s.status === 'rejected' && (s.reason as QuicksilverError).code === 'INFERENCE_FAILED'));
    assert.equal((await batcher.submit(3)).output, 3);
  });

  it('a shared limiter bounds concurrent prepares', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const h = harness({ maxBatchSize: 4, limiter });
    const inputs = values(10).map((v) => ({ ...v, gate: sleep(5).then(() => undefined) }));
    const results = await Promise.all(inputs.map((input) => h.batcher.submit(input)));
    assert.deepEqual(results.map((r) => r.output), inputs.map((i) => i.value * 10));
    assert.ok(h.maxPreparing <= 2, `saw ${h.maxPreparing} concurrent prepares`);
    assert.equal(limiter.inUse, 0);
  });

  it('a prepare that hands its permit back early lets the next prepare start; the permit is not returned twice', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const h = harness({ maxBatchSize: 4, limiter });
    const tail = latch();
    const first = h.batcher.submit({ value: 1, gate: tail.promise, releaseEarly: true });
    const second = h.batcher.submit({ value: 2, gate: sleep(5).then(() => undefined) });
    const third = h.batcher.submit({ value: 3, gate: sleep(5).then(() => undefined) });
    await sleep(20);
    assert.deepEqual(h.events.filter((e) => e.startsWith('prepare')), ['prepare 1', 'prepare 2', 'prepare 3'], 'the others prepared while the first was still finishing');
    assert.equal(limiter.inUse, 0, 'the early release and the one when prepare() settles count once');
    tail.open();
    assert.deepEqual((await Promise.all([first, second, third])).map((r) => r.output), [10, 20, 30]);
    assert.equal(limiter.inUse, 0);
    assert.equal(h.maxPreparing, 2, 'one permit: besides the released one, one prepare at a time');
  });

  it('releases every input exactly once, when no prepare() reads it any more: ran, failed, aborted queued or mid-prepare, abandoned, refused', async () => {
    const h = harness({ maxBatchSize: 2, stagingBuffers: 1, limiter: new ConcurrencyLimiter(1) });
    assert.equal((await h.batcher.submit({ value: 1 })).output, 10);
    await assert.rejects(h.batcher.submit({ value: 2, fail: true }), (e: QuicksilverError) => e.code === 'IMAGE_CORRUPT');
    assert.deepEqual(h.released, [1, 2]);

    const slowGate = latch();
    const midPrepare = new AbortController();
    const slow = h.batcher.submit({ value: 3, gate: slowGate.promise }, midPrepare.signal);
    const queued = new AbortController();
    const waiting = h.batcher.submit({ value: 4 }, queued.signal);
    await sleep(5);
    assert.ok(h.events.includes('prepare 3') && !h.events.includes('prepare 4'), '3 prepares (it holds the only permit), 4 waits');
    queued.abort(new QuicksilverError('DEADLINE_EXCEEDED', 'gave up while queued'));
    await assert.rejects(waiting, (e: QuicksilverError) => e.code === 'DEADLINE_EXCEEDED');
    assert.deepEqual(h.released, [1, 2, 4], 'an input dropped from the queue is released at once');
    midPrepare.abort(new QuicksilverError('DEADLINE_EXCEEDED', 'gave up while decoding'));
    await assert.rejects(slow, (e: QuicksilverError) => e.code === 'DEADLINE_EXCEEDED');
    assert.deepEqual(h.released, [1, 2, 4], 'an input aborted mid-prepare is not released while prepare() may still read it');
    slowGate.open();
    await sleep(5);
    assert.deepEqual(h.released, [1, 2, 4, 3], 'released once its prepare() settled');

    // Shutdown: 6 waits for the only staging buffer (5 runs in it) and is abandoned; 7 is refused.
    const runGate = latch();
    h.blockRuns(runGate.promise);
    const running = h.batcher.submit({ value: 5 });
    await sleep(5);
    const abandoned = h.batcher.submit({ value: 6 });
    const grace = new AbortController();
    const closed = h.batcher.close(grace.signal);
    await assert.rejects(h.batcher.submit({ value: 7 }), (e: QuicksilverError) => e.code === 'SHUTTING_DOWN');
    grace.abort();
    await assert.rejects(abandoned, (e: QuicksilverError) => e.code === 'SHUTTING_DOWN');
    runGate.open();
    await closed;
    assert.equal((await running).output, 50);
    assert.deepEqual([...h.released].sort(), [1, 2, 3, 4, 5, 6, 7], 'each input released exactly once');
    assert.deepEqual(h.releasedDuringPrepare, [], 'never while its prepare() ran');
  });

  it('close() drains queued work without waiting out the delay, then refuses new work', async () => {
    const h = harness({ maxBatchSize: 8, maxQueueDelayMicros: 10_000_000 });
    const pending = Promise.all(values(3).map((input) => h.batcher.submit(input)));
    await sleep(10);
    await h.batcher.close(AbortSignal.timeout(2000));
    assert.deepEqual((await pending).map((r) => r.output), [10, 20, 30]);
    await assert.rejects(h.batcher.submit({ value: 4 }), (e: QuicksilverError) => e.code === 'SHUTTING_DOWN');
    await h.batcher.close(AbortSignal.timeout(10)); // idempotent
  });

  it('close() rejects work not yet running with SHUTTING_DOWN once its grace expires', async () => {
    const h = harness({ maxBatchSize: 1, stagingBuffers: 1 });
    const gate = latch();
    h.blockRuns(gate.promise);
    const running = h.batcher.submit({ value: 1 });
    await sleep(5);
    const waiting = [h.batcher.submit({ value: 2 }), h.batcher.submit({ value: 3 })];
    const grace = new AbortController();
    const closed = h.batcher.close(grace.signal);
    grace.abort();
    for (const w of waiting) await assert.rejects(w, (e: QuicksilverError) => e.code === 'SHUTTING_DOWN');
    gate.open();
    await closed;
    assert.equal((await running).output, 10);
    assert.deepEqual(h.batches, [[1]]);
  });
});
