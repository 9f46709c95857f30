// A worker whose model runs keep failing (a lost GPU) reports not ready and gets no tasks; a self-test run
// brings it back once the device works again. In process: nats-server, coordinator and worker (real gRPC,
// real onnxruntime). The device failure is real too: the tiny CNN built with failOnBrightInput fails every
// run of a bright image in onnxruntime, while runs of zeros (warm-up, self-test) and dark images succeed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import sharp from 'sharp';
import { QuicksilverError } from '../../common/src/errors.js';
import { natsServerAvailable } from '../../common/src/nats-server-process.js';
import type { DispatchTask } from '../../coordinator/src/dispatcher.js';
import { startCluster, until } from '../helpers/cluster.js';
import { writeTinyCnnModel } from '../support/tiny-cnn-model.js';

const SELF_TEST_INTERVAL_MS = 2000;

const task = (id: string, bytes: Buffer): DispatchTask => ({
  taskId: id, idempotencyKey: `s1:${id}`, modelName: 'tiny-cnn', contentType: 'image/jpeg', sha256: '', fileName: `${id}.jpg`,
  sizeBytes: bytes.length, bytes, imageUri: '', priority: 'realtime', stationId: 's1',
});

describe('worker readiness follows its model runs', { timeout: 90_000, skip: !natsServerAvailable() && 'nats-server not installed' }, () => {
  it('after 3 failed runs in a row: /readyz 503 with the reason, no tasks routed to it; ready again after a self-test run succeeds', async (t) => {
    const lines: { msg?: string; time: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push({ ...(JSON.parse(line) as object), time: Date.now() }) });
    const cluster = await startCluster({ workers: 0, logger });
    t.after(() => cluster.stop());
    const modelsDir = join(cluster.dir, 'models');
    await writeTinyCnnModel(modelsDir, { size: 16, failOnBrightInput: true });
    const worker = await cluster.addWorker({ workerId: 'flaky-gpu', modelsDir, modelSelfTestIntervalMs: SELF_TEST_INTERVAL_MS });
    const readyz = async () => {
      const response = await fetch(`http://127.0.0.1:${worker.metricsServer.port}/readyz`);
      return { status: response.status, body: await response.text() };
    };
    await until(async () => (await readyz()).status === 200, 10_000, 'the worker ready');
    const white = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 255, g: 255, b: 255 } } }).jpeg().toBuffer();
    const black = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 0, g: 0, b: 0 } } }).jpeg().toBuffer();
    const { dispatcher } = cluster.coordinator;

    // One bright image, three attempts (maxTaskAttempts), three failed runs on the only worker.
    await assert.rejects(dispatcher.submit(task('bright', white)), (e: unknown) => e instanceof QuicksilverError && e.code === 'INFERENCE_FAILED');
    assert.equal(worker.engine.ready, false);
    const notReady = await readyz();
    assert.equal(notReady.status, 503);
    assert.match(notReady.body, /^not ready: 3 model runs failed in a row \(last: .*Gather.*\); a self-test run every 2000 ms checks the device/);
    await until(() => lines.some((l) => l.msg === 'worker draining: no new tasks for it'), 5000, 'the coordinator routing nothing to it');

    // A dark image would run fine here: it must wait in the queue until the worker is ready again.
    const submittedAt = Date.now();
    const dark = await dispatcher.submit(task('dark', black));
    const answeredAt = Date.now();
    const recovered = lines.find((l) => l.msg === 'a model run succeeded again: reporting ready');
    assert.ok(recovered, 'the self-test brought it back');
    assert.ok(lines.some((l) => l.msg === 'worker takes tasks again'), 'the coordinator heard it');
    assert.ok(answeredAt >= recovered.time, 'the dark image ran only after the worker was ready again');
    assert.ok(answeredAt - submittedAt > 500, `it waited in the queue (${answeredAt - submittedAt} ms)`);
    assert.equal(dark.workerId, 'flaky-gpu');
    assert.equal(dark.classification.modelName, 'tiny-cnn');
    assert.equal((await readyz()).status, 200);
    assert.equal(worker.engine.ready, true);
  });
});
