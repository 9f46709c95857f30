// The coordinator's re-scan monitor against a real nats-server and JetStream store whose progress
// reads are slowed (a results stream too large to count within the interval): rounds never overlap
// nor queue up, the job is still marked completed, and stop() waits for the round in progress only.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/src/logger.js';
import { RescanJetStream } from '../../common/src/rescan/adapters/jetstream-rescan.js';
import { RescanMonitor } from '../../coordinator/src/rescan/rescan-monitor.js';
import { until } from '../helpers/cluster.js';
import { jobRecord, startRescanStore } from '../helpers/rescan-fixture.js';

const ROUND_MS = 300;
const INTERVAL_MS = 100;

describe('re-scan monitor', { timeout: 60_000 }, () => {
  it('spaces slow rounds out instead of queueing them, and stops after the round in progress', async (t) => {
    const bed = await startRescanStore('rescan-monitor');
    const { nats, store } = bed;
    t.after(() => bed.stop());
    await store.createJob(jobRecord('mon', 'running', 1));
    await store.ensureWorkConsumer('mon', { ackWaitMs: 60_000, maxAckPending: 10 });

    let rounds = 0;
    let running = 0;
    let overlapping = 0;
    const monitor = new RescanMonitor({
      intervalMs: INTERVAL_MS, registry: new Registry(), logger: createLogger({ name: 'rescan-monitor-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      connect: async () => {
        const own = await RescanJetStream.connect([nats.url], 'qs-test-monitor');
        return {
          listJobs: () => own.listJobs(), updateJob: (jobId, change) => own.updateJob(jobId, change), close: () => own.close(),
          progress: async (job) => {
            rounds++;
            if (++running > 1) overlapping++;
            try {
              await new Promise((resolve) => setTimeout(resolve, ROUND_MS));
              return await own.progress(job);
            } finally {
              running--;
            }
          },
        };
      },
    });
    await monitor.start();
    await store.publishResult({ kind: 'failure', jobId: 'mon', line: 2, code: 'INVALID_METADATA', reason: 'test', attempts: 0, decidedAt: new Date().toISOString() });
    await until(async () => (await store.requireJob('mon')).state === 'completed', 20_000, 'the job marked completed');
    await store.createJob(jobRecord('mon2', 'running', 5));
    await store.ensureWorkConsumer('mon2', { ackWaitMs: 60_000, maxAckPending: 10 });
    const from = rounds;
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const perRound = (Date.now() - started) / (rounds - from);
    t.diagnostic(`${rounds - from} progress reads in 3 s (${perRound.toFixed(0)} ms each: ${ROUND_MS} ms read + ${INTERVAL_MS} ms interval)`);
    assert.equal(overlapping, 0, 'no two rounds at once');
    assert.ok(rounds - from <= Math.ceil(3000 / (ROUND_MS + INTERVAL_MS)) + 1, `${rounds - from} rounds in 3 s`);
    const stopping = Date.now();
    await Promise.race([monitor.stop(), new Promise((resolve) => setTimeout(resolve, 5000))]);
    const stopMs = Date.now() - stopping;
    t.diagnostic(`stop() took ${stopMs} ms`);
    assert.ok(stopMs < ROUND_MS + 500, `stop() took ${stopMs} ms: it waited for queued rounds`);
    const after = rounds;
    await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL_MS));
    assert.equal(rounds, after, 'no round after stop()');
  });
});
