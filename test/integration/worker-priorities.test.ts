// Workers that take one priority class each (a conveyor worker beside a bulk-only one on a shared
// host): registration carries the classes over real gRPC, and the coordinator sends realtime images
// only to the realtime worker and bulk images only to the bulk one, with real decodes and model runs.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { renderSheet } from '../../common/src/synth/index.js';
import type { DispatchTask } from '../../coordinator/src/dispatcher.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';

describe('worker priority classes', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ workers: 0 });
    await cluster.addWorker({ workerId: 'conveyor-worker', priorities: ['realtime'] });
    await cluster.addWorker({ workerId: 'bulk-worker', priorities: ['bulk'] });
  });
  after(async () => { await cluster?.stop(); });

  it('registers each worker\'s classes and routes every image to a worker that takes its class', async () => {
    const { dispatcher } = cluster.coordinator;
    const registered = Object.fromEntries(dispatcher.connectedWorkers.map((w) => [w.id, w.priorities]));
    assert.deepEqual(registered, { 'conveyor-worker': ['realtime'], 'bulk-worker': ['bulk'] });

    const tasks: DispatchTask[] = [];
    for (let i = 0; i < 8; i++) {
      const { bytes } = await renderSheet({ seed: 4100 + i, contaminated: i % 2 === 0, width: 600, height: 800 });
      tasks.push({
        taskId: randomUUID(), idempotencyKey: `s1:${randomUUID()}`, modelName: 'mercury-cnn', contentType: 'image/jpeg',
        sha256: createHash('sha256').update(bytes).digest('hex'), fileName: `QS${4100 + i}.jpg`, sizeBytes: bytes.length, bytes: Buffer.from(bytes), imageUri: '',
        priority: i < 6 ? 'bulk' : 'realtime', stationId: i < 6 ? 'rescan' : 'conveyor-1',
      });
    }
    const outcomes = await Promise.all(tasks.map((task) => dispatcher.submit(task)));
    assert.deepEqual(outcomes.map((o) => o.workerId), [...Array(6).fill('bulk-worker'), 'conveyor-worker', 'conveyor-worker']);
    for (const outcome of outcomes) assert.ok(outcome.classification.score >= 0 && outcome.classification.score <= 1);
  });
});
