// A worker holds the rows it pulls while they wait behind each other in its engine: a slow but healthy
// classification outlasting the job's ack wait is neither redelivered nor quarantined (the runner extends
// the ack deadline every half ack wait), and a row the worker is wedged on still goes to another delivery
// after HOLD_LIMIT_ACK_WAITS ack waits. Real nats-server, JetStream store, image files and RescanRunner;
// the classifier stands in for the engine (one image at a time, at a chosen speed).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/src/logger.js';
import { RescanJetStream } from '../../common/src/rescan/adapters/jetstream-rescan.js';
import type { RescanResult } from '../../common/src/rescan/records.js';
import { HOLD_LIMIT_ACK_WAITS, RescanRunner, type RescanClassifier } from '../../gpu-worker/src/rescan/rescan-runner.js';
import { until } from '../helpers/cluster.js';
import { startRescanStore } from '../helpers/rescan-fixture.js';

const ACK_WAIT_MS = 500;
const CLASSIFY_MS = 2 * ACK_WAIT_MS; // three in a row: 6 ack waits, within the hold limit

describe('re-scan rows held by a busy worker', { timeout: 120_000 }, () => {
  it('keeps slow rows past the ack wait (one attempt each) and lets a wedged row go after the hold limit', async (t) => {
    const bed = await startRescanStore('rescan-slow');
    const { dir, nats, store } = bed;
    t.after(() => bed.stop());
    const root = join(dir, 'archive');
    mkdirSync(root);

    const names = ['slow-1', 'slow-2', 'slow-3', 'wedge'];
    for (const name of names) writeFileSync(join(root, `${name}.jpg`), name);
    // One image at a time: each waits for the ones before it, as rows do behind conveyor work.
    const calls: Array<{ name: string; at: number }> = [];
    let queue = Promise.resolve();
    const classifier: RescanClassifier = {
      models: [{ name: 'slow', version: '1' }],
      classify: async ({ bytes }) => {
        const name = Buffer.from(bytes).toString();
        calls.push({ name, at: Date.now() });
        if (name === 'wedge' && calls.filter((c) => c.name === 'wedge').length === 1) return new Promise(() => {}); // never answers
        const turn = queue.then(() => new Promise<void>((resolve) => setTimeout(resolve, CLASSIFY_MS)));
        queue = turn;
        await turn;
        return { label: 'ok', score: 0.1, threshold: 0.5, flagged: false, modelName: 'slow', modelVersion: '1' };
      },
    };
    const now = new Date().toISOString();
    const jobId = 'slow';
    await store.createJob({ jobId, state: 'running', manifest: 'm', model: 'slow', createdAt: now, updatedAt: now, totalRows: names.length, invalidRows: 0, maxAttempts: 3, ackWaitMs: ACK_WAIT_MS, verdicts: 0, failures: 0 });
    await store.ensureWorkConsumer(jobId, { ackWaitMs: ACK_WAIT_MS, maxAckPending: 100 });
    for (const [i, name] of names.entries()) await store.publishWork(jobId, { line: i + 2, barcode: name, uri: join(root, `${name}.jpg`) });

    const runner = new RescanRunner({
      connect: () => RescanJetStream.connect([nats.url], 'qs-test-worker'), classifier, workerId: 'w1', maxInFlight: 8, realtimeInFlight: () => 0,
      allowedRoots: [root], allowedUrlPrefixes: [], maxImageBytes: 1 << 20, httpTimeoutMs: 1000, jobsRefreshMs: 200,
      logger: createLogger({ name: 'rescan-slow-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' }), registry: new Registry(),
    });
    await runner.start();
    const results = async () => {
      const all: RescanResult[] = [];
      for await (const result of store.results(jobId)) all.push(result);
      return all;
    };
    try {
      await until(async () => (await results()).length >= names.length, 60_000, 'a result for every row');
    } finally {
      await runner.stop(AbortSignal.timeout(100));
    }
    const all = (await results()).sort((a, b) => a.line - b.line);
    assert.deepEqual(all.map((r) => [r.barcode, r.kind, r.attempts]), [['slow-1', 'verdict', 1], ['slow-2', 'verdict', 1], ['slow-3', 'verdict', 1], ['wedge', 'verdict', 2]],
      'the slow rows were decided on their first delivery; the wedged one on its second');
    assert.deepEqual(calls.filter((c) => c.name !== 'wedge').map((c) => c.name).sort(), ['slow-1', 'slow-2', 'slow-3'], 'no slow row was handed out twice');
    const wedged = calls.filter((c) => c.name === 'wedge');
    assert.equal(wedged.length, 2);
    const heldMs = wedged[1]!.at - wedged[0]!.at;
    t.diagnostic(`wedged row redelivered after ${heldMs} ms (ack wait ${ACK_WAIT_MS} ms, hold limit ${HOLD_LIMIT_ACK_WAITS} ack waits)`);
    assert.ok(heldMs >= (HOLD_LIMIT_ACK_WAITS - 2) * ACK_WAIT_MS && heldMs <= (HOLD_LIMIT_ACK_WAITS + 6) * ACK_WAIT_MS, `held ${heldMs} ms`);
  });
});
