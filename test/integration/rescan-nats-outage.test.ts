// A re-scan through NATS outages: the nats-server (JetStream file store on disk) is stopped in the
// middle of a job (SIGTERM, longer than a worker's publish timeout), started again on the same port
// with the same store, then frozen (SIGSTOP, so result publications are certainly in flight), killed
// (SIGKILL) and started again. The same worker and coordinator processes reconnect on their own,
// `submit --wait` keeps following, and the job completes with exactly one result message per row: the
// results stream holds no replaced or extra message. Both workers go on at once after the crash: the
// publications it cut off are sent again at the reconnection, not after their 10 s timeout.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'nats';
import { RESCAN_RESULTS_STREAM } from '../../common/src/rescan/records.js';
import { until } from '../helpers/cluster.js';
import { collectResults, startRescanFixture, writeManifest, type RescanFixture } from '../helpers/rescan-fixture.js';

const ROWS = 8000;
/** Rows of the job submitted after the outages: several seconds of work, so both workers see it. */
const AFTER_ROWS = 3000;
const OUTAGES = [
  { at: ROWS / 5, how: 'stop', downMs: 12_000 }, // longer than a worker's 10 s result-publish timeout
  // Early enough that thousands of rows remain after it, however far the job ran on while polled.
  { at: (ROWS * 2) / 5, how: 'kill', downMs: 3000 },
] as const;

describe('re-scan through NATS outages', { timeout: 300_000 }, () => {
  let fixture: RescanFixture;
  before(async () => { fixture = await startRescanFixture({ workers: 2 }); });
  after(async () => { await fixture?.stop(); });

  it('completes with every row exactly once after nats-server is stopped, then killed, mid-job and started again', { timeout: 240_000 }, async (t) => {
    const manifest = join(fixture.dir, 'outage.csv');
    await writeManifest(manifest, fixture.archive, ROWS);
    // `submit --wait` keeps following the job through the outages.
    const submitting = fixture.cli(['submit', '--manifest', manifest, '--job-id', 'outage', '--model', 'tiny-cnn', '--ack-wait-ms', '5000', '--wait']);
    await until(async () => (await fixture.store.getJob('outage'))?.state === 'running', 60_000, 'job submitted');
    const job = await fixture.store.requireJob('outage');
    // The test's own connection reconnects too: a request may hang until it times out meanwhile, so a
    // poll gives up after a second (rows run on at hundreds a second while it waits).
    const progress = () => Promise.race([
      fixture.store.progress(job),
      new Promise<undefined>((resolve) => setTimeout(resolve, 1000)),
    ]).catch(() => undefined);

    const processes = [fixture.coordinator, ...fixture.workers];
    let restartedAt = new Date();
    for (const outage of OUTAGES) {
      await until(async () => ((await progress())?.verdicts ?? 0) >= outage.at, 120_000, `${outage.at} rows done`);
      const before = (await progress())!;
      assert.ok(before.verdicts < ROWS, 'the job is still running');
      if (outage.how === 'stop') await fixture.nats.stop();
      else {
        process.kill(fixture.nats.pid!, 'SIGSTOP');
        await new Promise((resolve) => setTimeout(resolve, 300));
        await fixture.nats.kill();
      }
      await new Promise((resolve) => setTimeout(resolve, outage.downMs));
      for (const { name, child } of processes) assert.equal(child.exitCode ?? child.signalCode, null, `${name} survived the outage`);
      restartedAt = new Date();
      await fixture.nats.start();
      t.diagnostic(`nats-server ${outage.how === 'stop' ? 'stopped' : 'frozen, then killed,'} at ${before.verdicts}/${ROWS} rows with ${before.inFlight} in flight, down ${outage.downMs} ms`);
    }

    // The coordinator's monitor (same process) marks the job completed: it reconnected by itself.
    await until(async () => (await fixture.store.getJob('outage').catch(() => undefined))?.state === 'completed', 180_000, 'job completed after the outages');
    const submitted = await submitting;
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.match(submitted.stderr, /job outage: NATS unreachable .*; still following\n[^]*job outage: NATS reachable again after \d+ s/);
    // It stops once every row has its result (the monitor may mark the job completed a moment later).
    assert.match(submitted.stderr, new RegExp(`done ${ROWS}/${ROWS} .*\\njob outage (running|completed)\\n$`));
    for (const { name, child } of processes) assert.equal(child.exitCode ?? child.signalCode, null, `${name} still runs (not restarted)`);

    const results = await collectResults(fixture.store, 'outage');
    assert.equal(results.size, ROWS);
    const afterLastRestart = new Map<string, number>();
    let laterDelivery = 0;
    let mostAttempts = 0;
    for (let line = 2; line <= ROWS + 1; line++) {
      const result = results.get(line);
      assert.ok(result, `line ${line} has a result`);
      assert.equal(result.kind, 'verdict', `line ${line}: ${JSON.stringify(result)}`);
      if (result.kind !== 'verdict') continue;
      if (new Date(result.decidedAt) > restartedAt) afterLastRestart.set(result.workerId, (afterLastRestart.get(result.workerId) ?? 0) + 1);
      if (result.attempts > 1) laterDelivery++;
      mostAttempts = Math.max(mostAttempts, result.attempts);
    }
    t.diagnostic(`verdicts after the last restart by worker: ${JSON.stringify(Object.fromEntries(afterLastRestart))}; rows finished on a later delivery: ${laterDelivery} (at most delivery ${mostAttempts})`);
    // Thousands of rows were left at the crash: each worker took its share of them, none sat out a publish timeout.
    assert.deepEqual([...afterLastRestart.keys()].sort(), ['worker-1', 'worker-2'], 'both workers finished rows after the last restart');

    // A row's result is published before its work message is acked: right after the last result, an ack
    // may still be on its way, or (lost in an outage) the row is redelivered after ackWaitMs (5 s) and
    // acked as a duplicate. Nothing may stay pending beyond that.
    const jobRecord = await fixture.store.requireJob('outage');
    await until(async () => (await fixture.store.progress(jobRecord)).pending === 0, 30_000, 'no row of the job left pending');
    const finished = await fixture.store.progress(jobRecord);
    assert.deepEqual([finished.verdicts, finished.failures, finished.pending], [ROWS, 0, 0]);
    // One result message per row: this job is the only one in the results stream, so a republished
    // result that replaced an earlier one would show as a deleted sequence or an extra message.
    const connection = await connect({ servers: fixture.nats.url });
    try {
      const { state } = await (await connection.jetstreamManager()).streams.info(RESCAN_RESULTS_STREAM);
      assert.deepEqual({ messages: state.messages, first: state.first_seq, last: state.last_seq }, { messages: ROWS, first: 1, last: ROWS },
        'results stream: one message per row, none replaced');
    } finally {
      await connection.close();
    }
    const metrics = await (await fetch(`http://127.0.0.1:${fixture.coordinatorMetricsPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`quicksilver_rescan_job_rows\\{job="outage",status="verdict"[^}]*\\} ${ROWS}`));

    // Both workers came back by themselves: each takes rows of a job submitted right after the first one.
    const laterManifest = join(fixture.dir, 'after-outages.csv');
    await writeManifest(laterManifest, fixture.archive, AFTER_ROWS);
    const later = await fixture.cli(['submit', '--manifest', laterManifest, '--job-id', 'after-outages', '--model', 'tiny-cnn', '--wait']);
    assert.equal(later.code, 0, later.stderr);
    const laterResults = await collectResults(fixture.store, 'after-outages');
    assert.equal(laterResults.size, AFTER_ROWS);
    const laterWorkers = new Set([...laterResults.values()].map((result) => result.workerId));
    assert.deepEqual([...laterWorkers].sort(), ['worker-1', 'worker-2'], 'both workers took rows of a job submitted after the outages');
  });
});
