import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { Dispatcher, type DispatchTask, type WorkerChannel, type WorkerInfo } from '../../coordinator/src/dispatcher.js';
import { QuicksilverError } from '../../common/src/errors.js';

const logger = pino({ level: 'silent' });

class RecordingChannel implements WorkerChannel {
  readonly sent: DispatchTask[] = [];
  readonly cancelled: string[] = [];
  closed = false;
  sendTask(task: DispatchTask): void { this.sent.push(task); }
  cancelTask(taskId: string): void { this.cancelled.push(taskId); }
  close(): void { this.closed = true; }
}

const worker = (id: string, maxInFlight: number, models = ['m'], priorities: WorkerInfo['priorities'] = ['realtime', 'bulk'], readsImageReferences = true): WorkerInfo => ({
  id, executionProvider: 'cpu', device: 'test', models: models.map((name) => ({ name, version: '1.0.0' })), maxBatchSize: 4, maxInFlight, priorities, readsImageReferences,
});
let seq = 0;
const task = (modelName = 'm', extra: Partial<DispatchTask> = {}): DispatchTask => ({
  taskId: `t${++seq}`, idempotencyKey: `k${seq}`, modelName, contentType: 'image/jpeg', sha256: '0'.repeat(64), fileName: `f${seq}.jpg`, sizeBytes: 1, bytes: Buffer.alloc(1), imageUri: '',
  priority: 'realtime', stationId: 's1', ...extra,
});
const classification = { label: 'clean', score: 0.1, threshold: 0.5, flagged: false, modelName: 'm', modelVersion: '1.0.0' };
const newDispatcher = (overrides: Partial<ConstructorParameters<typeof Dispatcher>[0]> = {}) =>
  new Dispatcher({ maxQueuedTasks: 100, taskTimeoutMs: 5000, maxAttempts: 2, heartbeatTimeoutMs: 60_000, bulkCreditShare: 0.5, unknownModelGraceMs: 0, logger, registry: new Registry(), ...overrides });

describe('Dispatcher', { timeout: 10_000 }, () => {
  it('never exceeds a worker credit and routes to the least-loaded worker', async () => {
    const dispatcher = newDispatcher();
    const a = new RecordingChannel();
    const b = new RecordingChannel();
    dispatcher.registerWorker(worker('a', 2), a);
    dispatcher.registerWorker(worker('b', 4), b);
    const results = Array.from({ length: 8 }, () => dispatcher.submit(task()));
    assert.equal(a.sent.length, 2, 'worker a holds exactly its credit');
    assert.equal(b.sent.length, 4, 'worker b holds exactly its credit');
    assert.equal(dispatcher.queueDepth, 2);
    dispatcher.completeTask('a', { taskId: a.sent[0]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    assert.equal(a.sent.length, 3, 'freed credit is used at once');
    for (const t of [...a.sent]) dispatcher.completeTask('a', { taskId: t.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    for (const t of [...b.sent]) dispatcher.completeTask('b', { taskId: t.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    for (const t of [...a.sent.slice(3)]) dispatcher.completeTask('a', { taskId: t.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    const settled = await Promise.all(results);
    assert.equal(settled.length, 8);
    assert.ok(settled.every((s) => s.classification.label === 'clean'));
    dispatcher.close();
  });

  /** Submits one task, answers it from the worker it went to after `answerMs[worker]` of the fake clock; returns that worker. */
  /** A dispatcher on a test clock with these workers registered, each with a channel that records what it was sent. */
  const clockedFleet = <Id extends string>(workers: Record<Id, WorkerInfo>, overrides: Partial<ConstructorParameters<typeof Dispatcher>[0]> = {}) => {
    const clock = { now: 1000 };
    const dispatcher = newDispatcher({ now: () => clock.now, taskTimeoutMs: 600_000, ...overrides });
    const channels = Object.fromEntries(Object.keys(workers).map((id) => [id, new RecordingChannel()])) as Record<Id, RecordingChannel>;
    for (const id of Object.keys(workers) as Id[]) dispatcher.registerWorker(workers[id], channels[id]);
    return { clock, dispatcher, channels };
  };

  const sendOne = async (dispatcher: Dispatcher, channels: Record<string, RecordingChannel>, answerMs: Record<string, number>, clock: { now: number }) => {
    const before = Object.fromEntries(Object.entries(channels).map(([id, channel]) => [id, channel.sent.length]));
    const result = dispatcher.submit(task());
    const id = Object.keys(channels).find((key) => channels[key]!.sent.length > before[key]!);
    assert.ok(id, 'the task was dispatched');
    clock.now += answerMs[id]!;
    dispatcher.completeTask(id, { taskId: channels[id]!.sent.at(-1)!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    await result;
    return id;
  };

  it('sends a trickle of conveyor images to the worker expected to answer first, and tries a slow one again later', async () => {
    const { clock, dispatcher, channels } = clockedFleet({ fast: worker('fast', 8), slow: worker('slow', 8) });
    const answerMs = { fast: 40, slow: 400 };
    /** One image every 2 s. */
    const trickle = async (images: number) => {
      const to: string[] = [];
      for (let i = 0; i < images; i++) {
        const start = clock.now;
        to.push(await sendOne(dispatcher, channels, answerMs, clock));
        clock.now = start + 2000;
      }
      return to;
    };
    assert.deepEqual(await trickle(2), ['fast', 'slow'], 'before a round trip is known, idle workers take turns');
    assert.deepEqual(await trickle(20), Array(20).fill('fast'), 'then the faster one gets every image of a trickle');
    // The slow worker's estimate (400 ms) decays while it gets nothing (60 s time constant); it is tried
    // again once below the fast one's 40 ms, ~140 s after its last answer, and then passed over again.
    const later = await trickle(60);
    assert.deepEqual(later.filter((id) => id === 'slow').length, 1, `one retry of the slow worker in 120 s: ${later.join(',')}`);
    const metrics = await (dispatcher as unknown as { options: { registry: Registry } }).options.registry.metrics();
    assert.match(metrics, /quicksilver_coordinator_worker_service_seconds\{worker="fast",priority="realtime"\} 0\.04/);
    assert.match(metrics, /quicksilver_coordinator_worker_service_seconds\{worker="slow",priority="realtime"\} 0\.4/);
    dispatcher.close();
  });

  it('spreads a burst over workers of different speeds by expected answer time, within each one\'s credit', async () => {
    const { clock, dispatcher, channels } = clockedFleet({ fast: worker('fast', 12), slow: worker('slow', 12) });
    const answerMs = { fast: 50, slow: 200 };
    assert.deepEqual([await sendOne(dispatcher, channels, answerMs, clock), await sendOne(dispatcher, channels, answerMs, clock)], ['fast', 'slow']);
    const before = { fast: channels.fast.sent.length, slow: channels.slow.sent.length };
    const burst = Array.from({ length: 16 }, () => dispatcher.submit(task()));
    // fast (max batch 4) costs ~50 x (1 + k/4) with k images in flight: under slow's 200 up to its credit of 12.
    assert.equal(channels.fast.sent.length - before.fast, 12, 'the fast worker fills its credit');
    assert.equal(channels.slow.sent.length - before.slow, 4, 'the rest goes to the slow one, not half of the burst');
    for (const id of ['fast', 'slow'] as const) {
      for (const sent of channels[id].sent.slice(before[id])) dispatcher.completeTask(id, { taskId: sent.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    }
    assert.equal((await Promise.all(burst)).length, 16);
    dispatcher.close();
  });

  it('passes over a worker whose tasks go unanswered (a hung worker that still sends heartbeats)', async () => {
    const { clock, dispatcher, channels } = clockedFleet({ ok: worker('ok', 8), stuck: worker('stuck', 8) });
    assert.deepEqual([await sendOne(dispatcher, channels, { ok: 100, stuck: 100 }, clock), await sendOne(dispatcher, channels, { ok: 100, stuck: 100 }, clock)], ['ok', 'stuck']);
    // From now on the stuck worker answers nothing; ok answers each image of a 2 s trickle in 100 ms.
    const held: Promise<unknown>[] = [];
    const to: string[] = [];
    for (let i = 0; i < 60; i++) {
      const before = channels.ok.sent.length;
      const result = dispatcher.submit(task());
      if (channels.ok.sent.length > before) {
        to.push('ok');
        clock.now += 100;
        dispatcher.completeTask('ok', { taskId: channels.ok.sent.at(-1)!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
        await result;
        clock.now += 1900;
      } else {
        to.push('stuck');
        held.push(result.catch(() => {}));
        clock.now += 2000;
      }
    }
    assert.ok(to.filter((id) => id === 'stuck').length <= 1, `the stuck worker got ${to.filter((id) => id === 'stuck').length} of 60 images (${to.join(',')})`);
    await dispatcher.drain(AbortSignal.abort()); // fails what the stuck worker holds
    await Promise.all(held);
    dispatcher.close();
  });

  it('counts a worker\'s bulk tasks when placing a conveyor image', async () => {
    const { clock, dispatcher, channels } = clockedFleet({ mixed: worker('mixed', 16), conveyor: worker('conveyor', 16, ['m'], ['realtime']) }, { bulkCreditShare: 0.7 });
    assert.deepEqual([await sendOne(dispatcher, channels, { mixed: 95, conveyor: 100 }, clock), await sendOne(dispatcher, channels, { mixed: 95, conveyor: 100 }, clock)], ['mixed', 'conveyor']);
    const bulk = Array.from({ length: 11 }, () => dispatcher.submit(task('m', { priority: 'bulk', stationId: 'rescan' })));
    assert.equal(channels.mixed.sent.length, 12, 'the bulk tasks went to the only worker taking them');
    clock.now += 10;
    const before = channels.conveyor.sent.length;
    const image = dispatcher.submit(task());
    assert.equal(channels.conveyor.sent.length, before + 1, 'the conveyor image goes to the worker not busy with a re-scan');
    dispatcher.completeTask('conveyor', { taskId: channels.conveyor.sent.at(-1)!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    await image;
    for (const sent of channels.mixed.sent.slice(1)) dispatcher.completeTask('mixed', { taskId: sent.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    await Promise.all(bulk);
    dispatcher.close();
  });

  it('keeps the conveyor\'s share of the queue from bulk tasks', async () => {
    const dispatcher = newDispatcher({ maxQueuedTasks: 8, realtimeReserveFraction: 0.25, taskTimeoutMs: 300 });
    const bulk = Array.from({ length: 6 }, (_, i) => dispatcher.submit(task('m', { priority: 'bulk', stationId: `b${i % 2}` })));
    await assert.rejects(dispatcher.submit(task('m', { priority: 'bulk', stationId: 'b2' })),
      (error: QuicksilverError) => error.code === 'OVERLOADED' && error.retryable && /bulk tasks fill their 6 places .*kept for conveyor images/.test(error.message));
    const conveyor = [dispatcher.submit(task()), dispatcher.submit(task())];
    assert.equal(dispatcher.queueDepth, 8, 'conveyor images take the reserved places');
    await assert.rejects(dispatcher.submit(task()), (error: QuicksilverError) => error.code === 'OVERLOADED' && /queue is full \(8 tasks\)/.test(error.message));
    const channel = new RecordingChannel();
    dispatcher.registerWorker(worker('w', 2), channel);
    assert.deepEqual(channel.sent.map((t) => t.priority), ['realtime', 'realtime'], 'and go first');
    const settled = await Promise.allSettled([...bulk, ...conveyor]); // each times out after taskTimeoutMs
    assert.ok(settled.every((outcome) => outcome.status === 'rejected'));
    dispatcher.close();
  });

  it('re-dispatches a lost worker\'s tasks and quarantines a task after maxAttempts losses', async () => {
    const dispatcher = newDispatcher({ maxAttempts: 2 });
    const first = new RecordingChannel();
    dispatcher.registerWorker(worker('w1', 1), first);
    const result = dispatcher.submit(task());
    assert.equal(first.sent.length, 1);
    dispatcher.workerDisconnected('w1', 'killed');
    assert.ok(first.closed);
    assert.equal(dispatcher.queueDepth, 1, 'orphaned task is queued again');
    const second = new RecordingChannel();
    dispatcher.registerWorker(worker('w2', 1), second);
    assert.equal(second.sent.length, 1, 'the new worker gets the orphaned task');
    dispatcher.workerDisconnected('w2', 'killed again');
    await assert.rejects(result, (error: QuicksilverError) => error.code === 'WORKER_LOST' && !error.retryable && /2 times/.test(error.message));
    dispatcher.close();
  });

  it('answers UNKNOWN_MODEL when workers exist but none serves the model', async () => {
    const dispatcher = newDispatcher();
    dispatcher.registerWorker(worker('w', 1, ['other']), new RecordingChannel());
    await assert.rejects(dispatcher.submit(task('m')), (error: QuicksilverError) => error.code === 'UNKNOWN_MODEL' && /other/.test(error.message));
    dispatcher.close();
  });

  it('queues a known model while its only worker restarts (retryable NO_WORKER at the deadline), not UNKNOWN_MODEL', async () => {
    const dispatcher = newDispatcher({ taskTimeoutMs: 300 });
    dispatcher.registerWorker(worker('other', 4, ['other']), new RecordingChannel());
    dispatcher.registerWorker(worker('mercury', 4, ['m']), new RecordingChannel());
    dispatcher.workerDisconnected('mercury', 'restarting');
    const expiring = dispatcher.submit(task('m'));
    assert.equal(dispatcher.queueDepth, 1, 'queued for the worker that served the model, not rejected');
    await assert.rejects(expiring, (error: QuicksilverError) => error.code === 'NO_WORKER' && error.retryable);
    const waiting = dispatcher.submit(task('m'));
    const back = new RecordingChannel();
    dispatcher.registerWorker(worker('mercury', 4, ['m']), back);
    assert.equal(back.sent.length, 1, 'the returning worker gets the queued task');
    dispatcher.completeTask('mercury', { taskId: back.sent[0]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    assert.equal((await waiting).workerId, 'mercury');
    await assert.rejects(dispatcher.submit(task('never-served')), (error: QuicksilverError) => error.code === 'UNKNOWN_MODEL' && /since the coordinator started/.test(error.message));
    dispatcher.close();
  });

  it('lets a model no worker has served yet wait for the fleet for unknownModelGraceMs after the start', async () => {
    const dispatcher = newDispatcher({ unknownModelGraceMs: 300 });
    dispatcher.registerWorker(worker('other', 4, ['other']), new RecordingChannel());
    const early = dispatcher.submit(task('m'));
    assert.equal(dispatcher.queueDepth, 1, 'queued during the grace');
    const channel = new RecordingChannel();
    dispatcher.registerWorker(worker('late', 4, ['m']), channel);
    dispatcher.completeTask('late', { taskId: channel.sent[0]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    assert.equal((await early).workerId, 'late');
    await new Promise((resolve) => setTimeout(resolve, 350));
    await assert.rejects(dispatcher.submit(task('typo')), (error: QuicksilverError) => error.code === 'UNKNOWN_MODEL' && !error.retryable);
    dispatcher.close();
  });

  it('routes a pinned name@version only to a worker advertising that version', async () => {
    const dispatcher = newDispatcher();
    const v1 = new RecordingChannel();
    const v2 = new RecordingChannel();
    dispatcher.registerWorker(worker('v1', 4, ['m']), v1);
    dispatcher.registerWorker({ ...worker('v2', 4), models: [{ name: 'm', version: '2.0.0' }] }, v2);
    const results = [dispatcher.submit(task('m@2.0.0')), dispatcher.submit(task('m@2.0.0')), dispatcher.submit(task('m@1.0.0'))];
    assert.deepEqual([v1.sent.map((t) => t.modelName), v2.sent.map((t) => t.modelName)], [['m@1.0.0'], ['m@2.0.0', 'm@2.0.0']]);
    for (const [id, channel] of [['v1', v1], ['v2', v2]] as const) {
      for (const t of channel.sent) dispatcher.completeTask(id, { taskId: t.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    }
    await Promise.all(results);
    await assert.rejects(dispatcher.submit(task('m@9.9.9')), (error: QuicksilverError) => error.code === 'UNKNOWN_MODEL' && /m@2\.0\.0/.test(error.message));
    dispatcher.heartbeat('v1', false, [{ name: 'm', version: '3.0.0' }]); // 1.0.0 retired, hot swap
    await assert.rejects(dispatcher.submit(task('m@1.0.0')), (error: QuicksilverError) => error.code === 'UNKNOWN_MODEL');
    dispatcher.close();
  });

  it('routes a model a worker hot-swapped in once its heartbeat lists it', async () => {
    const dispatcher = newDispatcher();
    const channel = new RecordingChannel();
    dispatcher.registerWorker(worker('w1', 4, ['m']), channel);
    await assert.rejects(dispatcher.submit(task('n')), (error: QuicksilverError) => error.code === 'UNKNOWN_MODEL');
    dispatcher.heartbeat('w1', false, []); // an older worker's heartbeat: models unchanged
    await assert.rejects(dispatcher.submit(task('n')), (error: QuicksilverError) => error.code === 'UNKNOWN_MODEL');
    dispatcher.heartbeat('w1', false, [{ name: 'm', version: '1.0.0' }, { name: 'n', version: '2.0.0' }]);
    const result = dispatcher.submit(task('n'));
    assert.equal(channel.sent.at(-1)?.modelName, 'n');
    dispatcher.completeTask('w1', { taskId: channel.sent.at(-1)!.taskId, classification: { ...classification, modelName: 'n', modelVersion: '2.0.0' }, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    assert.equal((await result).classification.modelName, 'n');
    dispatcher.heartbeat('w1', false, [{ name: 'n', version: '2.0.0' }]); // m retired
    await assert.rejects(dispatcher.submit(task('m')), (error: QuicksilverError) => error.code === 'UNKNOWN_MODEL');
    dispatcher.close();
  });

  it('fails a task at its deadline: NO_WORKER without workers, DEADLINE_EXCEEDED (with a cancel) on a silent worker', async () => {
    const dispatcher = newDispatcher({ taskTimeoutMs: 50 });
    await assert.rejects(dispatcher.submit(task()), (error: QuicksilverError) => error.code === 'NO_WORKER' && error.retryable);
    const channel = new RecordingChannel();
    dispatcher.registerWorker(worker('slow', 1), channel);
    await assert.rejects(dispatcher.submit(task()), (error: QuicksilverError) => error.code === 'DEADLINE_EXCEEDED');
    assert.deepEqual(channel.cancelled, [channel.sent[0]!.taskId]);
    dispatcher.close();
  });

  it('drops a worker that stops sending heartbeats and moves its task to another worker', async () => {
    const dispatcher = newDispatcher({ heartbeatTimeoutMs: 500 });
    const silent = new RecordingChannel();
    dispatcher.registerWorker(worker('silent', 1), silent);
    const result = dispatcher.submit(task());
    const alive = new RecordingChannel();
    dispatcher.registerWorker(worker('alive', 1), alive);
    const beats = setInterval(() => dispatcher.heartbeat('alive'), 30);
    while (alive.sent.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    clearInterval(beats);
    assert.ok(silent.closed, 'silent worker was dropped');
    dispatcher.completeTask('alive', { taskId: alive.sent[0]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    assert.equal((await result).workerId, 'alive');
    dispatcher.close();
  });

  it('retries a retryable worker error elsewhere and passes a terminal one through', async () => {
    const dispatcher = newDispatcher();
    const channel = new RecordingChannel();
    dispatcher.registerWorker(worker('w', 1), channel);
    const corrupt = dispatcher.submit(task());
    dispatcher.completeTask('w', { taskId: channel.sent[0]!.taskId, error: { code: 'IMAGE_CORRUPT', reason: 'bad bytes', retryable: false }, decodeMs: 0, inferenceMs: 0, batchSize: 0 });
    await assert.rejects(corrupt, (error: QuicksilverError) => error.code === 'IMAGE_CORRUPT' && error.message === 'bad bytes');
    const flaky = dispatcher.submit(task());
    dispatcher.completeTask('w', { taskId: channel.sent[1]!.taskId, error: { code: 'INFERENCE_FAILED', reason: 'oom', retryable: true }, decodeMs: 0, inferenceMs: 0, batchSize: 0 });
    assert.equal(channel.sent.length, 3, 'retried');
    dispatcher.completeTask('w', { taskId: channel.sent[2]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    assert.equal((await flaky).attempts, 2);
    dispatcher.close();
  });

  it('dispatches realtime work before bulk work, and stations round-robin within a class', async () => {
    const dispatcher = newDispatcher();
    const pending = [
      ...Array.from({ length: 3 }, () => dispatcher.submit(task('m', { priority: 'bulk', stationId: 'rescan' }))),
      ...Array.from({ length: 3 }, () => dispatcher.submit(task('m', { stationId: 'busy' }))),
      dispatcher.submit(task('m', { stationId: 'quiet' })),
    ];
    const channel = new RecordingChannel();
    dispatcher.registerWorker(worker('w', 1), channel);
    const order: string[] = [];
    for (let i = 0; i < 7; i++) {
      const sent = channel.sent[i]!;
      order.push(`${sent.priority}:${sent.stationId}`);
      dispatcher.completeTask('w', { taskId: sent.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    }
    assert.deepEqual(order, [
      'realtime:busy', 'realtime:quiet', 'realtime:busy', 'realtime:busy', 'bulk:rescan', 'bulk:rescan', 'bulk:rescan',
    ]);
    await Promise.all(pending);
    dispatcher.close();
  });

  it('keeps part of each worker\'s credit free of bulk work for conveyor images', async () => {
    const dispatcher = newDispatcher();
    const channel = new RecordingChannel();
    dispatcher.registerWorker(worker('w', 4), channel);
    const bulk = Array.from({ length: 6 }, () => dispatcher.submit(task('m', { priority: 'bulk', stationId: 'rescan' })));
    assert.equal(channel.sent.length, 2, 'bulk holds at most half of the credit of 4');
    const conveyor = dispatcher.submit(task('m', { stationId: 'conveyor' }));
    assert.equal(channel.sent.length, 3);
    assert.equal(channel.sent[2]!.priority, 'realtime', 'the conveyor image goes straight to the worker');
    for (let i = 0; i < channel.sent.length; i++) {
      dispatcher.completeTask('w', { taskId: channel.sent[i]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    }
    await Promise.all([...bulk, conveyor]);
    dispatcher.close();
  });

  it('sends each priority class only to workers that take it; a bulk-only worker uses its whole credit for bulk', async () => {
    const dispatcher = newDispatcher({ taskTimeoutMs: 300 });
    const conveyorWorker = new RecordingChannel();
    dispatcher.registerWorker(worker('conveyor', 4, ['m'], ['realtime']), conveyorWorker);
    const early = dispatcher.submit(task('m', { priority: 'bulk', stationId: 'rescan' }));
    assert.equal(conveyorWorker.sent.length, 0, 'a realtime-only worker never holds bulk work');
    await assert.rejects(early, (error: QuicksilverError) => error.code === 'NO_WORKER' && /taking bulk work/.test(error.message));

    const bulkWorker = new RecordingChannel();
    dispatcher.registerWorker(worker('bulk', 4, ['m'], ['bulk']), bulkWorker);
    const bulk = Array.from({ length: 6 }, () => dispatcher.submit(task('m', { priority: 'bulk', stationId: 'rescan' })));
    const conveyor = Array.from({ length: 2 }, () => dispatcher.submit(task('m', { stationId: 'conveyor' })));
    assert.deepEqual(bulkWorker.sent.map((t) => t.priority), ['bulk', 'bulk', 'bulk', 'bulk'], 'no bulkCreditShare cap without conveyor work to leave room for');
    assert.deepEqual(conveyorWorker.sent.map((t) => t.priority), ['realtime', 'realtime'], 'the idle realtime worker takes the conveyor images at once');
    const finish = (id: string, channel: RecordingChannel) => {
      for (const sent of channel.sent.splice(0)) dispatcher.completeTask(id, { taskId: sent.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    };
    finish('conveyor', conveyorWorker);
    finish('bulk', bulkWorker);
    assert.equal(bulkWorker.sent.length, 2, 'the rest of the bulk work follows on the bulk worker');
    finish('bulk', bulkWorker);
    assert.deepEqual((await Promise.all([...bulk, ...conveyor])).map((o) => o.workerId), [...Array(6).fill('bulk'), 'conveyor', 'conveyor']);
    dispatcher.close();
  });

  it('sends a draining worker nothing new while it finishes what it holds', async () => {
    const dispatcher = newDispatcher();
    const draining = new RecordingChannel();
    const other = new RecordingChannel();
    dispatcher.registerWorker(worker('leaving', 4), draining);
    const held = dispatcher.submit(task());
    assert.equal(draining.sent.length, 1);
    dispatcher.heartbeat('leaving', true);
    const next = dispatcher.submit(task());
    assert.equal(draining.sent.length, 1, 'no new task for the draining worker');
    assert.equal(dispatcher.queueDepth, 1);
    dispatcher.registerWorker(worker('staying', 4), other);
    assert.equal(other.sent.length, 1, 'the queued task goes to the other worker');
    dispatcher.completeTask('leaving', { taskId: draining.sent[0]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    dispatcher.completeTask('staying', { taskId: other.sent[0]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    assert.equal((await held).workerId, 'leaving', 'the draining worker still delivers what it held');
    assert.equal((await next).workerId, 'staying');
    dispatcher.close();
  });

  it('sends tasks again to a worker that stops saying draining (a not-ready worker that recovered), the queued one at once', async () => {
    const dispatcher = newDispatcher();
    const channel = new RecordingChannel();
    dispatcher.registerWorker(worker('recovering', 4), channel);
    dispatcher.heartbeat('recovering', true);
    const queued = dispatcher.submit(task());
    assert.equal(channel.sent.length, 0, 'nothing for it while it says draining');
    dispatcher.heartbeat('recovering', false);
    assert.equal(channel.sent.length, 1, 'the queued task goes to it once it takes tasks again');
    dispatcher.completeTask('recovering', { taskId: channel.sent[0]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    assert.equal((await queued).workerId, 'recovering');
    dispatcher.close();
  });

  it('sends images by reference only to workers that read them, answers at once when none does, and never retries an unreadable one', async () => {
    const dispatcher = newDispatcher();
    const bytesOnly = new RecordingChannel();
    dispatcher.registerWorker(worker('bytes-only', 4, ['m'], ['realtime', 'bulk'], false), bytesOnly);
    const byReference = (extra: Partial<DispatchTask> = {}) => task('m', { bytes: undefined, imageUri: 'file:///mnt/stations/s1/spool/a.img', ...extra });
    await assert.rejects(dispatcher.submit(byReference()),
      (error: QuicksilverError) => error.code === 'IMAGE_REFERENCE_UNREADABLE' && error.retryable && /no connected worker reads images by reference/.test(error.message));
    assert.equal(bytesOnly.sent.length, 0, 'nothing sent to a worker that cannot read references');

    const reader = new RecordingChannel();
    dispatcher.registerWorker(worker('reader', 4), reader);
    const readable = dispatcher.submit(byReference());
    const withBytes = dispatcher.submit(task());
    assert.deepEqual([reader.sent.length, bytesOnly.sent.length], [1, 1], 'the reference to the reader, the bytes to the least loaded');
    assert.equal(reader.sent[0]!.imageUri, 'file:///mnt/stations/s1/spool/a.img');
    dispatcher.completeTask('reader', { taskId: reader.sent[0]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    dispatcher.completeTask('bytes-only', { taskId: bytesOnly.sent[0]!.taskId, classification, decodeMs: 1, inferenceMs: 1, batchSize: 1 });
    assert.equal((await readable).workerId, 'reader');
    assert.equal((await withBytes).workerId, 'bytes-only');

    const unreadable = dispatcher.submit(byReference());
    dispatcher.completeTask('reader', { taskId: reader.sent[1]!.taskId, error: { code: 'IMAGE_REFERENCE_UNREADABLE', reason: 'cannot read /x: ENOENT', retryable: true }, decodeMs: 0, inferenceMs: 0, batchSize: 0 });
    await assert.rejects(unreadable, (error: QuicksilverError) => error.code === 'IMAGE_REFERENCE_UNREADABLE' && error.retryable && error.message === 'cannot read /x: ENOENT');
    assert.equal(reader.sent.length, 2, 'answered at once, not tried again');
    dispatcher.close();
  });
});
