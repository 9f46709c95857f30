// Fault injection on NATS (real nats-server, restarted on the same port and JetStream store): while
// it is down the coordinator keeps answering agents, verdicts wait in its durable outbox, and they
// are published once NATS returns, even across a coordinator restart that happens during the outage
// (the coordinator then starts without NATS). Verdicts whose publication a crash of the server cut off go
// to the outbox at once. A full outbox pushes back with OVERLOADED instead of dropping verdicts. Zero
// images lost, zero duplicate verdicts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { natsServerAvailable } from '../../common/src/nats-server-process.js';
import { allOf, FaultCluster, waitFor } from '../helpers/fault-cluster.js';

describe('faults: NATS', { timeout: 150_000, skip: !natsServerAvailable() && 'nats-server not installed' }, () => {
  it('stopped for a while (with a coordinator restart meanwhile), then started again: outbox drained, nothing lost or doubled', { timeout: 120_000 }, async (t) => {
    const cluster = await FaultCluster.start({ workers: 2 });
    t.after(() => cluster.stop());
    const feed = cluster.feed(36, 100);
    await feed.fed(8);
    await cluster.nats.stop();
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_outbox_depth')) >= 3, 20_000, 'verdicts stored in the outbox');
    await cluster.signal(cluster.coordinator!, 'SIGKILL');
    await cluster.startCoordinator(); // NATS still down: must start and serve anyway
    const reloaded = await cluster.coordinatorMetric('quicksilver_coordinator_outbox_depth');
    assert.ok(reloaded >= 3, `the restarted coordinator reloaded the outbox (depth ${reloaded})`);
    await feed.fed(24);
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_outbox_depth')) > reloaded, 20_000, 'new verdicts stored while NATS is away');
    await cluster.nats.start();
    await cluster.waitAllFiled(feed, 60_000);
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_outbox_depth')) === 0, 30_000, 'outbox drained');
    await cluster.assertExactlyOnce(feed);
  });

  it('killed while verdict publications are in flight: they go to the outbox at once, not after the publish timeout', { timeout: 120_000 }, async (t) => {
    // A 60 s publish timeout: a publication left waiting for a reply that never comes would hold its sheet past this test's bound.
    const cluster = await FaultCluster.start({ workers: 1, coordinatorFlags: ['--publish-timeout-ms', '60000'] });
    t.after(() => cluster.stop());
    const early = cluster.feed(2, 50, 'EARLY');
    await cluster.waitAllFiled(early, 30_000);
    // Frozen (SIGSTOP), the server takes publications and answers none; killed, it drops the connection.
    process.kill(cluster.nats.pid!, 'SIGSTOP');
    const feed = cluster.feed(4, 100);
    await feed.done;
    // The worker has answered all four; their verdicts wait for the frozen server's acknowledgement.
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_tasks_dispatched_total')) >= 6
      && (await cluster.coordinatorMetric('quicksilver_coordinator_worker_in_flight')) === 0
      && (await cluster.coordinatorMetric('quicksilver_coordinator_images_in_flight')) === 4, 30_000, 'four verdicts waiting on their publication');
    assert.equal(await cluster.coordinatorMetric('quicksilver_coordinator_outbox_depth'), 0, 'none in the outbox yet: NATS looked connected');
    const killedAt = Date.now();
    await cluster.nats.kill();
    await cluster.waitAllFiled(feed, 20_000);
    t.diagnostic(`every sheet filed ${Date.now() - killedAt} ms after the kill (publish timeout 60 s), NATS still down`);
    assert.ok(await cluster.coordinatorMetric('quicksilver_coordinator_outbox_depth') >= 4, 'their verdicts wait in the outbox');
    await cluster.nats.start();
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_outbox_depth')) === 0, 30_000, 'outbox drained');
    await cluster.assertExactlyOnce(allOf(early, feed));
  });

  it('a full outbox answers new images with a retryable OVERLOADED; they wait in the spool and all get their verdict once NATS returns', { timeout: 120_000 }, async (t) => {
    // Room for about four verdicts.
    const cluster = await FaultCluster.start({ workers: 1, coordinatorFlags: ['--outbox-max-bytes', '3000'] });
    t.after(() => cluster.stop());
    await cluster.nats.stop();
    const feed = cluster.feed(12, 50);
    await waitFor(async () => (await cluster.coordinatorMetric('quicksilver_coordinator_rejections_total', { code: 'OVERLOADED' })) > 0, 30_000, 'OVERLOADED once the outbox is full');
    const depth = await cluster.coordinatorMetric('quicksilver_coordinator_outbox_depth');
    assert.ok(depth >= 1 && (await cluster.coordinatorMetric('quicksilver_coordinator_outbox_bytes')) <= 3000, `outbox bounded (depth ${depth})`);
    await feed.done;
    await cluster.nats.start();
    await cluster.waitAllFiled(feed, 60_000);
    await cluster.assertExactlyOnce(feed);
  });
});
