// The worker link's express stream over real gRPC: a worker that attached one gets realtime tasks on
// it and bulk tasks on its main stream; an express stream for an unregistered worker is refused; and
// losing the express stream counts as losing the worker (its tasks are re-dispatched).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { channelOptions, grpc, workerProto } from '../../common/src/adapters/grpc-services.js';
import type { CoordinatorMessage__Output } from '../../common/src/generated/quicksilver/v1/CoordinatorMessage.js';
import type { WorkerMessage } from '../../common/src/generated/quicksilver/v1/WorkerMessage.js';
import type { DispatchTask } from '../../coordinator/src/dispatcher.js';
import { startCluster, until, type Cluster } from '../helpers/cluster.js';

type LinkStream = grpc.ClientDuplexStream<WorkerMessage, CoordinatorMessage__Output>;

/** A raw WorkerLink stream that records the task headers it receives. */
function openStream(client: InstanceType<typeof workerProto.WorkerLink>, first: WorkerMessage) {
  const stream: LinkStream = client.Connect();
  const tasks: { taskId: string; priority: string }[] = [];
  let registered = false;
  let error: grpc.ServiceError | undefined;
  stream.on('data', (message: CoordinatorMessage__Output) => {
    if (message.registered) registered = true;
    if (message.task) tasks.push({ taskId: message.task.taskId, priority: message.task.priority });
  });
  stream.on('error', (e: grpc.ServiceError) => (error = e));
  stream.write(first);
  return { stream, tasks, isRegistered: () => registered, error: () => error };
}

const task = (priority: 'realtime' | 'bulk'): DispatchTask => ({
  taskId: randomUUID(), idempotencyKey: `s1:${randomUUID()}`, modelName: 'mercury-cnn', contentType: 'image/jpeg',
  sha256: 'ab'.repeat(32), fileName: 'QS1.jpg', sizeBytes: 41, bytes: Buffer.from('not decoded: this worker is a test double'), imageUri: '', priority, stationId: 's1',
});

describe('worker link express stream (real gRPC)', { timeout: 60_000 }, () => {
  let cluster: Cluster;
  let client: InstanceType<typeof workerProto.WorkerLink>;

  before(async () => {
    cluster = await startCluster({ workers: 0 });
    client = new workerProto.WorkerLink(cluster.coordinatorAddress, grpc.credentials.createInsecure(), channelOptions);
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('sends realtime tasks on the express stream and bulk tasks on the main stream', async () => {
    const register = {
      register: { workerId: 'express-1', executionProvider: 'cpu', device: 'test', models: [{ name: 'mercury-cnn', version: '1.0.0' }], maxBatchSize: 4, maxInFlight: 8 },
    };
    const main = openStream(client, register);
    await until(() => main.isRegistered(), 10_000, 'registered');
    const express = openStream(client, { attachExpress: { workerId: 'express-1' } });
    await new Promise((resolve) => setTimeout(resolve, 200)); // the attach message reaches the coordinator
    const { dispatcher } = cluster.coordinator;
    const realtime = task('realtime');
    const bulk = task('bulk');
    void dispatcher.submit(realtime).catch(() => {});
    void dispatcher.submit(bulk).catch(() => {});
    await until(() => main.tasks.length + express.tasks.length === 2, 10_000, 'both tasks sent');
    assert.deepEqual(express.tasks, [{ taskId: realtime.taskId, priority: 'PRIORITY_REALTIME' }]);
    assert.deepEqual(main.tasks, [{ taskId: bulk.taskId, priority: 'PRIORITY_BULK' }]);

    // Losing the express stream is losing the worker: both tasks go back to the queue (no worker left).
    express.stream.cancel();
    await until(async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${cluster.coordinator.metricsServer.port}/metrics`)).text();
      return /^quicksilver_coordinator_tasks_requeued_total\{[^}]*reason="worker_lost"[^}]*\} 2$/m.test(metrics);
    }, 10_000, 'both tasks requeued after the express stream was lost');
    await until(() => main.error() !== undefined || main.stream.destroyed || main.stream.readableEnded, 10_000, 'the main stream closed too');
    main.stream.cancel();
  });

  it('refuses an express stream for a worker that is not registered', async () => {
    const orphan = openStream(client, { attachExpress: { workerId: 'nobody' } });
    await until(() => orphan.error() !== undefined, 10_000, 'refusal');
    assert.equal(orphan.error()!.code, grpc.status.FAILED_PRECONDITION);
    assert.match(orphan.error()!.details, /no registered worker nobody/);
  });
});
