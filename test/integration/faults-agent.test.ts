// Fault injection on the station agent (real processes): SIGKILLed twice mid-stream and restarted on
// the same folders while the scanner keeps writing. Images spooled before the kill are resent from the
// spool, those written meanwhile wait in the hot folder; zero images lost, zero duplicate verdicts,
// and no image filed twice.
import { describe, it } from 'node:test';
import { natsServerAvailable } from '../../common/src/nats-server-process.js';
import { FaultCluster } from '../helpers/fault-cluster.js';

describe('faults: agent', { timeout: 150_000, skip: !natsServerAvailable() && 'nats-server not installed' }, () => {
  it('SIGKILLed and restarted twice: every image filed once, one record per key', { timeout: 120_000 }, async (t) => {
    const cluster = await FaultCluster.start({ workers: 2, workerFlags: ['--max-batch-size', '8', '--max-queue-delay-micros', '200000', '--realtime-max-queue-delay-micros', '200000'] });
    t.after(() => cluster.stop());
    const feed = cluster.feed(36, 100);
    for (const at of [10, 24]) {
      await feed.fed(at);
      await cluster.signal(cluster.agent!, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 700));
      await cluster.startAgent();
    }
    await cluster.waitAllFiled(feed, 60_000);
    await cluster.assertExactlyOnce(feed);
  });
});
