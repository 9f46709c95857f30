// Fault injection on the coordinator (real processes): killed (SIGKILL) and stopped (SIGTERM) and
// restarted on the same address while a steady stream of images runs. Agents and workers reconnect,
// the agent resends what has no verdict; zero images lost, zero duplicate verdicts. Then, with the
// coordinator's in-memory answer cache gone, an image whose verdict is already published is sent
// again: it is answered, and JetStream's message-id dedupe keeps its single record.
import assert from 'node:assert/strict';
import { copyFile, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { natsServerAvailable } from '../../common/src/nats-server-process.js';
import { FaultCluster, waitFor } from '../helpers/fault-cluster.js';

describe('faults: coordinator', { timeout: 150_000, skip: !natsServerAvailable() && 'nats-server not installed' }, () => {
  it('restarted after SIGKILL and after SIGTERM: nothing lost or doubled; a resend after restart adds no record', { timeout: 120_000 }, async (t) => {
    const cluster = await FaultCluster.start({ workers: 2, workerFlags: ['--max-batch-size', '8', '--max-queue-delay-micros', '200000', '--realtime-max-queue-delay-micros', '200000'] });
    t.after(() => cluster.stop());
    const feed = cluster.feed(36, 100);
    await feed.fed(10);
    await cluster.signal(cluster.coordinator!, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await cluster.startCoordinator();
    await feed.fed(24);
    const graceful = cluster.coordinator!;
    const exit = new Promise<number | null>((resolve) => graceful.child.once('exit', (code) => resolve(code)));
    await cluster.signal(graceful, 'SIGTERM');
    assert.equal(await exit, 0, 'drained and exited cleanly mid-stream');
    await cluster.startCoordinator();
    await cluster.waitAllFiled(feed, 60_000);
    const audit = await cluster.assertExactlyOnce(feed);

    // A fresh coordinator has no memory of answered keys: resend published bytes under a new name.
    await cluster.signal(cluster.coordinator!, 'SIGKILL');
    await cluster.startCoordinator();
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_workers_connected')) === 2, 15_000, 'workers back');
    const [name, key] = [...feed.images][0];
    await copyFile(join(cluster.hotFolder, 'done', name), join(cluster.hotFolder, 'resend.part'));
    await rename(join(cluster.hotFolder, 'resend.part'), join(cluster.hotFolder, 'QS99999999.jpg'));
    await waitFor(async () => (await readdir(join(cluster.hotFolder, 'done'))).includes('QS99999999.jpg') && (await readdir(join(cluster.hotFolder, 'spool'))).length === 0,
      30_000, 'the resend filed');
    assert.equal(await cluster.coordinatorMetric('quicksilver_coordinator_verdicts_total'), 1, 'classified again by the new coordinator');
    const after = await cluster.audit(feed);
    assert.equal(after.filedIn.get('QS99999999.jpg'), 'done');
    assert.equal(after.records.get(key), 1, 'JetStream dropped the second publication (same message id)');
    assert.equal([...after.records.values()].reduce((a, b) => a + b, 0), [...audit.records.values()].reduce((a, b) => a + b, 0), 'no new record at all');
  });
});
