// The worker's CoordinatorLink answers every task it was sent exactly once, a cancelled one too, so the
// coordinator (which keeps a settled task's credit until the worker answers) gets the credit back. Real
// gRPC over loopback: this test plays the coordinator's side of WorkerLink (to choose the order in which
// messages reach the two streams); the worker side is the real link over a real inference engine.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import sharp from 'sharp';
import { grpc, workerProto } from '../../common/src/adapters/grpc-services.js';
import type { CoordinatorMessage } from '../../common/src/generated/quicksilver/v1/CoordinatorMessage.js';
import type { TaskResult__Output } from '../../common/src/generated/quicksilver/v1/TaskResult.js';
import type { WorkerMessage__Output } from '../../common/src/generated/quicksilver/v1/WorkerMessage.js';
import { CoordinatorLink } from '../../gpu-worker/src/adapters/coordinator-link.js';
import { InferenceEngine } from '../../gpu-worker/src/inference-engine.js';
import { silentLogger, until } from '../helpers/cluster.js';
import { writeTinyCnnModel } from '../support/tiny-cnn-model.js';

type ServerCall = grpc.ServerDuplexStream<WorkerMessage__Output, CoordinatorMessage>;

describe('worker link: cancelled tasks are answered (real gRPC)', { timeout: 60_000 }, () => {
  let dir: string;
  let engine: InferenceEngine;
  let server: grpc.Server;
  let link: CoordinatorLink;
  let image: Buffer;
  let main: ServerCall | undefined;
  let express: ServerCall | undefined;
  const results: TaskResult__Output[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qs-link-cancel-'));
    await writeTinyCnnModel(join(dir, 'models'), { size: 16 });
    engine = new InferenceEngine({
      modelsDir: join(dir, 'models'), executionProviders: ['cpu'], cudaDeviceId: 0, requireGpu: false, maxBatchSize: 2, maxQueueDelayMicros: 0,
      decodeConcurrency: 1, intraOpThreads: 1, maxInputPixels: 10_000_000, logger: silentLogger, registry: new Registry(),
    });
    await engine.start();
    image = await sharp({ create: { width: 40, height: 60, channels: 3, background: { r: 200, g: 120, b: 40 } } }).jpeg().toBuffer();
    server = new grpc.Server();
    server.addService(workerProto.WorkerLink.service, {
      Connect: (call: ServerCall) => {
        call.on('data', (message: WorkerMessage__Output) => {
          if (message.register) {
            main = call;
            call.write({ registered: { heartbeatIntervalMs: 1000 } });
          } else if (message.attachExpress) {
            express = call;
          } else if (message.result) {
            results.push(message.result);
          }
        });
        call.on('error', () => {});
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    link = new CoordinatorLink({
      coordinatorAddress: `127.0.0.1:${port}`, security: { tlsCaFile: '', tlsCertFile: '', tlsKeyFile: '', tlsServerName: '', authTokenFile: '' },
      workerId: 'cancel-1', maxBatchSize: 2, maxInFlight: 4, priorities: ['realtime', 'bulk'], reconnectMaxDelayMs: 1000, classifier: engine,
      readsImageReferences: false, readReference: () => Promise.reject(new Error('not used')), logger: silentLogger,
    });
    await link.start();
    await until(() => main !== undefined && express !== undefined && link.isRegistered, 10_000, 'main and express streams');
  });

  after(async () => {
    await link?.stop(AbortSignal.timeout(2000));
    server?.forceShutdown();
    await engine?.stop(AbortSignal.timeout(2000));
    await rm(dir, { recursive: true, force: true });
  });

  const header = (taskId: string, sizeBytes: number) => ({
    task: { taskId, idempotencyKey: `s1:${taskId}`, modelName: 'tiny-cnn', contentType: 'image/jpeg', sizeBytes, sha256: '', fileName: `${taskId}.jpg`, imageUri: '', priority: 'PRIORITY_REALTIME' as const },
  });
  const answersFor = (taskId: string) => results.filter((r) => r.taskId === taskId);

  it('a cancel on the main stream while the task\'s chunks still arrive on the express stream: answered once, later chunks dropped', async () => {
    const half = Math.floor(image.length / 2);
    express!.write(header('A', image.length));
    express!.write({ chunk: { taskId: 'A', data: image.subarray(0, half), last: false } });
    await until(() => link.inFlight === 1, 5000, 'task A being assembled');
    main!.write({ cancel: { taskId: 'A' } }); // the coordinator writes a cancel on both streams, main first
    await until(() => answersFor('A').length > 0, 5000, 'an answer for the cancelled task A');
    express!.write({ chunk: { taskId: 'A', data: image.subarray(half), last: true } });
    express!.write({ cancel: { taskId: 'A' } });
    // A task sent after it on the same stream is answered: everything before it was read.
    express!.write(header('B', image.length));
    express!.write({ chunk: { taskId: 'B', data: image, last: true } });
    await until(() => answersFor('B').length > 0, 10_000, 'the answer for task B');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [a, ...more] = answersFor('A');
    assert.equal(more.length, 0, 'one answer for A');
    assert.equal(a!.error?.code, 'DEADLINE_EXCEEDED');
    assert.equal(a!.error?.retryable, true);
    assert.match(a!.error!.reason, /cancelled by the coordinator/);
    assert.equal(answersFor('B').length, 1);
    assert.ok(answersFor('B')[0]!.classification, 'B classified');
    assert.equal(link.inFlight, 0, 'nothing left held');
  });

  it('a cancel on both streams for a task already running: one answer', async () => {
    express!.write(header('C', image.length));
    express!.write({ chunk: { taskId: 'C', data: image, last: true } });
    main!.write({ cancel: { taskId: 'C' } });
    express!.write({ cancel: { taskId: 'C' } });
    await until(() => answersFor('C').length > 0, 10_000, 'an answer for task C');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(answersFor('C').length, 1);
    const [c] = answersFor('C');
    assert.ok(c!.classification || c!.error?.code === 'DEADLINE_EXCEEDED', `classified, or refused as cancelled: ${JSON.stringify(c!.error)}`);
    assert.equal(link.inFlight, 0);
  });
});
