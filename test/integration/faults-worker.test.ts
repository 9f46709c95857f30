// Fault injection on workers (real processes): SIGKILL mid-batch, repeatedly; SIGTERM (graceful
// drain); SIGSTOP (connection silent without death) then SIGCONT; an image whose workers keep dying
// (quarantine). A steady stream of images runs throughout; the audit demands zero images lost and zero
// duplicate verdicts (JetStream records per key, agent done/ + rejected/).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { natsServerAvailable } from '../../common/src/nats-server-process.js';
import { allOf, FaultCluster, waitFor } from '../helpers/fault-cluster.js';

// A long batching delay keeps tasks in flight on the worker, so a kill lands mid-batch.
const SLOW_BATCHES = ['--max-batch-size', '8', '--max-queue-delay-micros', '300000', '--realtime-max-queue-delay-micros', '300000'];
/** Coordinator heartbeat timeout in the fault cluster (2 s) plus slack for a loaded 2-core machine. */
const REDISPATCH_BOUND_MS = 2000 + 8000;

describe('faults: workers', { timeout: 150_000, skip: !natsServerAvailable() && 'nats-server not installed' }, () => {
  it('a worker SIGKILLed mid-batch three times: its tasks are re-dispatched at once, nothing lost or doubled', { timeout: 120_000 }, async (t) => {
    const cluster = await FaultCluster.start({ workers: 2, workerFlags: SLOW_BATCHES });
    t.after(() => cluster.stop());
    // A burst of images per try; a kill counts once the coordinator reports the worker lost while it held
    // tasks (a batch can finish between seeing it in flight and the kill landing: then try again).
    const feeds = [];
    let midBatchKills = 0;
    for (let attempt = 1; midBatchKills < 3; attempt++) {
      assert.ok(attempt <= 8, `only ${midBatchKills} of 3 kills landed mid-batch in ${attempt - 1} tries`);
      const feed = cluster.feed(12, 80, `QS${attempt}`);
      feeds.push(feed);
      await feed.fed(4);
      await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_worker_in_flight', { worker: 'w1' })) > 0, 15_000, 'w1 holding tasks');
      const lossesBefore = (await cluster.workerLosses('w1')).length;
      const requeuedBefore = await cluster.coordinatorMetric('quicksilver_coordinator_tasks_requeued_total', { reason: 'worker_lost' });
      await cluster.signal(cluster.workers.get('w1')!, 'SIGKILL');
      // Detection is bounded by the heartbeat timeout (a killed process's stream breaks at once).
      await waitFor(async () => (await cluster.workerLosses('w1')).length > lossesBefore, REDISPATCH_BOUND_MS, `try ${attempt}: the coordinator noticing the kill`);
      const { orphanedTasks } = (await cluster.workerLosses('w1'))[lossesBefore];
      if (orphanedTasks > 0) {
        midBatchKills++;
        assert.equal(await cluster.coordinatorMetric('quicksilver_coordinator_tasks_requeued_total', { reason: 'worker_lost' }), requeuedBefore + orphanedTasks,
          'every task it held is back in the queue');
      }
      await cluster.startWorker('w1');
    }
    const feed = allOf(...feeds);
    await cluster.waitAllFiled(feed, 60_000);
    await cluster.assertExactlyOnce(feed);
  });

  it('images sent by reference: a worker SIGKILLed mid-batch, the other reads them again; nothing lost or doubled, no bytes through the coordinator', { timeout: 120_000 }, async (t) => {
    const cluster = await FaultCluster.start({ workers: 2, workerFlags: SLOW_BATCHES, byReference: true });
    t.after(() => cluster.stop());
    let orphaned = 0;
    const feeds = [];
    for (let attempt = 1; orphaned === 0; attempt++) {
      assert.ok(attempt <= 6, `no kill landed mid-batch in ${attempt - 1} tries`);
      const feed = cluster.feed(12, 80, `QR${attempt}`);
      feeds.push(feed);
      await feed.fed(4);
      await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_worker_in_flight', { worker: 'w1' })) > 0, 15_000, 'w1 holding tasks');
      const lossesBefore = (await cluster.workerLosses('w1')).length;
      await cluster.signal(cluster.workers.get('w1')!, 'SIGKILL');
      await waitFor(async () => (await cluster.workerLosses('w1')).length > lossesBefore, REDISPATCH_BOUND_MS, `try ${attempt}: the coordinator noticing the kill`);
      orphaned = (await cluster.workerLosses('w1'))[lossesBefore]!.orphanedTasks;
      await cluster.startWorker('w1');
    }
    const feed = allOf(...feeds);
    await cluster.waitAllFiled(feed, 60_000);
    await cluster.assertExactlyOnce(feed);
    assert.equal(await cluster.coordinatorMetric('quicksilver_coordinator_images_by_reference_total'), feed.images.size, 'every image went by reference');
    assert.equal(await cluster.coordinatorMetric('quicksilver_coordinator_image_bytes_received_total'), 0, 'no image bytes reached the coordinator');
  });

  it('a worker stopped with SIGTERM mid-stream drains: finishes its tasks, takes no new ones, exits 0; nothing lost or doubled', { timeout: 120_000 }, async (t) => {
    const cluster = await FaultCluster.start({ workers: 2, workerFlags: SLOW_BATCHES });
    t.after(() => cluster.stop());
    const feed = cluster.feed(24, 100);
    await feed.fed(8);
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_worker_in_flight', { worker: 'w1' })) > 0, 15_000, 'w1 holding tasks');
    const w1 = cluster.workers.get('w1')!;
    const exit = new Promise<number | null>((resolve) => w1.child.once('exit', (code) => resolve(code)));
    await cluster.signal(w1, 'SIGTERM');
    assert.equal(await exit, 0, 'clean exit');
    assert.equal(await cluster.coordinatorMetric('quicksilver_coordinator_tasks_requeued_total', { reason: 'worker_lost' }), 0, 'it delivered every task it held');
    await cluster.waitAllFiled(feed, 60_000);
    await cluster.assertExactlyOnce(feed);
  });

  it('an image whose workers keep dying is quarantined after maxTaskAttempts with a reason, and serving goes on', { timeout: 120_000 }, async (t) => {
    // A 2 s batching delay keeps the lone image in flight long enough to see who holds it.
    const cluster = await FaultCluster.start({ workers: 2, workerFlags: ['--max-batch-size', '8', '--max-queue-delay-micros', '2000000', '--realtime-max-queue-delay-micros', '2000000'], coordinatorFlags: ['--max-task-attempts', '3'] });
    t.after(() => cluster.stop());
    // One image at a time, so the worker holding a task is the one holding the "poison" image; the test
    // plays the crash that image causes by killing whichever worker holds it.
    const alive = () => [...cluster.workers].filter(([, w]) => w.child.exitCode === null && w.child.signalCode === null).map(([id]) => id);
    const poison = cluster.feed(1, 0);
    await poison.fed(1);
    for (let attempt = 1; attempt <= 3; attempt++) {
      let holder: string | undefined;
      await waitFor(async () => {
        for (const id of alive()) if ((await cluster.coordinatorMetric('quicksilver_coordinator_worker_in_flight', { worker: id })) > 0) holder = id;
        return holder !== undefined;
      }, 15_000, `attempt ${attempt}: a worker holding the image`);
      await cluster.signal(cluster.workers.get(holder!)!, 'SIGKILL');
      if (attempt < 3 && alive().length === 0) await cluster.startWorker(holder!);
    }
    await cluster.waitAllFiled(poison, 30_000);
    const audit = await cluster.audit(poison);
    const [name] = poison.images.keys();
    assert.equal(audit.rejected.length, 1);
    assert.equal(audit.rejected[0].name, name);
    assert.equal(audit.rejected[0].code, 'WORKER_LOST');
    assert.match(audit.rejected[0].reason, /went away 3 times.*quarantined as a possible poison image/);
    assert.equal(audit.records.size, 0, 'no verdict published for it');
    for (const id of ['w1', 'w2']) if (!alive().includes(id)) await cluster.startWorker(id);
    const after = cluster.feed(1, 0, 'QT');
    await cluster.waitAllFiled(after, 30_000);
    assert.equal((await cluster.audit(after)).records.size, 1, 'the next image gets its verdict');
  });

  it('a worker paused with SIGSTOP is dropped after missed heartbeats, its tasks go elsewhere, and it rejoins after SIGCONT', { timeout: 120_000 }, async (t) => {
    const cluster = await FaultCluster.start({ workers: 2, workerFlags: SLOW_BATCHES });
    t.after(() => cluster.stop());
    const feed = cluster.feed(30, 100);
    await feed.fed(8);
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_worker_in_flight', { worker: 'w1' })) > 0, 15_000, 'w1 holding tasks');
    const w1 = cluster.workers.get('w1')!;
    await cluster.signal(w1, 'SIGSTOP');
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_workers_connected')) === 1, REDISPATCH_BOUND_MS, 'the paused worker dropped');
    assert.ok((await cluster.coordinatorMetric('quicksilver_coordinator_worker_losses_total', { reason: 'heartbeat' })) >= 1, 'dropped for missed heartbeats');
    await waitFor(async () => (await cluster.workerLosses('w1')).length > 0, 5000, 'the loss logged');
    const [loss] = await cluster.workerLosses('w1');
    assert.match(loss.reason, /missed heartbeats/);
    assert.equal(await cluster.coordinatorMetric('quicksilver_coordinator_tasks_requeued_total', { reason: 'worker_lost' }), loss.orphanedTasks, 'every task it held re-dispatched');
    await feed.fed(20);
    await cluster.signal(w1, 'SIGCONT');
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_workers_connected')) === 2, 15_000, 'the resumed worker registered again');
    await cluster.waitAllFiled(feed, 60_000);
    await cluster.assertExactlyOnce(feed);
  });
});
