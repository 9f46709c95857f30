// Durability of a re-scan: SIGKILL the coordinator and a worker (real processes) in the middle of a
// job, start them again, and the job completes with every row accounted for exactly once. Then
// pause/resume/cancel on a second job.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../helpers/cluster.js';
import { collectResults, startRescanFixture, writeManifest, type RescanFixture } from '../helpers/rescan-fixture.js';

const ROWS = 12_000;

describe('re-scan through crashes', { timeout: 240_000 }, () => {
  let fixture: RescanFixture;
  before(async () => { fixture = await startRescanFixture({ workers: 2, secondModel: true }); });
  after(async () => { await fixture?.stop(); });

  it('completes with no row lost or doubled after the coordinator and a worker are killed mid-job', async (t) => {
    const manifest = join(fixture.dir, 'crash.csv');
    await writeManifest(manifest, fixture.archive, ROWS);
    // A short ack wait so the killed worker's rows come back quickly.
    const submitted = await fixture.cli(['submit', '--manifest', manifest, '--job-id', 'crash', '--model', 'tiny-cnn@1.0.0', '--ack-wait-ms', '3000']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const job = await fixture.store.requireJob('crash');
    await until(async () => {
      const { verdicts } = await fixture.store.progress(job);
      return verdicts >= ROWS / 5;
    }, 120_000, 'a fifth of the rows done');

    const [worker1] = fixture.workers;
    const { inFlight: heldWhenKilled } = await fixture.store.progress(job);
    fixture.coordinator.child.kill('SIGKILL');
    worker1!.child.kill('SIGKILL');
    await until(() => fixture.coordinator.child.exitCode !== null || fixture.coordinator.child.signalCode !== null, 10_000, 'coordinator dead');
    await until(() => worker1!.child.signalCode !== null, 10_000, 'worker dead');
    const atKill = await fixture.store.progress(job);
    t.diagnostic(`killed at ${atKill.verdicts}/${ROWS} rows done, ${heldWhenKilled} rows in flight`);
    assert.ok(atKill.verdicts < ROWS, 'the job was still running when the processes died');

    await fixture.startCoordinator();
    await fixture.startWorker('worker-1-restarted');
    await until(async () => (await fixture.store.requireJob('crash')).state === 'completed', 180_000, 'job completed after the restart');

    const results = await collectResults(fixture.store, 'crash');
    assert.equal(results.size, ROWS);
    for (let line = 2; line <= ROWS + 1; line++) {
      const result = results.get(line);
      assert.ok(result, `line ${line} has a result`);
      assert.equal(result.kind, 'verdict', `line ${line}: ${JSON.stringify(result)}`);
    }
    const finished = await fixture.store.progress(await fixture.store.requireJob('crash'));
    assert.deepEqual([finished.verdicts, finished.failures, finished.pending], [ROWS, 0, 0], 'stream counts: one verdict per row, nothing pending');
    const byWorker = new Map<string, number>();
    let redelivered = 0;
    for (const result of results.values()) {
      if (result.kind !== 'verdict') continue;
      byWorker.set(result.workerId, (byWorker.get(result.workerId) ?? 0) + 1);
      if (result.attempts > 1) redelivered++;
    }
    t.diagnostic(`verdicts by worker: ${JSON.stringify(Object.fromEntries(byWorker))}; rows finished on a later delivery: ${redelivered}`);
    assert.ok((byWorker.get('worker-1-restarted') ?? 0) > 0, 'the restarted worker took rows');
    assert.ok(redelivered > 0, 'rows held by the killed worker were redelivered and finished');
  });

  it('pauses, resumes and cancels a job', async () => {
    const manifest = join(fixture.dir, 'pause.csv');
    await writeManifest(manifest, fixture.archive, 3000);
    assert.equal((await fixture.cli(['submit', '--manifest', manifest, '--job-id', 'paused', '--model', 'tiny-cnn'])).code, 0);
    const paused = await fixture.cli(['pause', 'paused']);
    assert.equal(paused.code, 0, paused.stderr);
    const job = await fixture.store.requireJob('paused');
    await new Promise((r) => setTimeout(r, 2500)); // rows in flight when it paused finish
    const before = await fixture.store.progress(job);
    await new Promise((r) => setTimeout(r, 2500));
    const still = await fixture.store.progress(job);
    assert.equal(still.verdicts, before.verdicts, 'no progress while paused');
    assert.ok(still.pending > 0, 'rows wait while paused');
    const status = await fixture.cli(['status', 'paused']);
    assert.match(status.stdout, /^paused paused: done \d+\/3000/);

    assert.equal((await fixture.cli(['resume', 'paused'])).code, 0);
    await until(async () => (await fixture.store.requireJob('paused')).state === 'completed', 120_000, 'resumed job completed');
    assert.equal((await collectResults(fixture.store, 'paused')).size, 3000);
    const again = await fixture.cli(['resume', 'paused']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /job paused is completed: cannot make it running/);

    await writeManifest(manifest, fixture.archive, 3000);
    assert.equal((await fixture.cli(['submit', '--manifest', manifest, '--job-id', 'dropped', '--model', 'tiny-cnn'])).code, 0);
    assert.equal((await fixture.cli(['cancel', 'dropped'])).code, 0);
    const cancelled = await fixture.store.progress(await fixture.store.requireJob('dropped'));
    assert.equal(cancelled.job.state, 'cancelled');
    assert.equal(cancelled.pending, 0, 'its remaining rows were dropped');
    const listed = await fixture.cli(['list']);
    assert.match(listed.stdout, /^crash\tcompleted\ttiny-cnn@1.0.0\trows 12000/m);
    assert.match(listed.stdout, /^dropped\tcancelled/m);
  });

  it('reports which sheets changed verdict under a new model version', async (t) => {
    const manifest = join(fixture.dir, 'diff.csv');
    await writeManifest(manifest, fixture.archive, 800);
    assert.equal((await fixture.cli(['submit', '--manifest', manifest, '--job-id', 'v1', '--model', 'tiny-cnn@1.0.0', '--wait'])).code, 0);
    assert.equal((await fixture.cli(['submit', '--manifest', manifest, '--job-id', 'v2', '--model', 'tiny-cnn@2.0.0', '--previous', 'v1', '--wait'])).code, 0);
    const before = await collectResults(fixture.store, 'v1');
    const after = await collectResults(fixture.store, 'v2');
    let expectedChanged = 0;
    for (const [line, result] of after) {
      const previous = before.get(line)!;
      assert.ok(result.kind === 'verdict' && previous.kind === 'verdict');
      assert.equal(result.modelVersion, '2.0.0');
      if (result.flagged !== previous.flagged) expectedChanged++;
    }
    t.diagnostic(`${expectedChanged} of 800 sheets changed verdict between tiny-cnn 1.0.0 and 2.0.0`);
    const reportFile = join(fixture.dir, 'diff.html');
    const reported = await fixture.cli(['report', 'v2', '--out', reportFile]);
    assert.equal(reported.code, 0, reported.stderr);
    assert.equal(JSON.parse(reported.stdout).changed, expectedChanged);
    const html = readFileSync(reportFile, 'utf8');
    assert.match(html, new RegExp(`<span id="changed-count">${expectedChanged}</span> sheets changed verdict`));
    assert.equal(html.match(/<tr class="change">/g)?.length ?? 0, Math.min(expectedChanged, 500));
    if (expectedChanged > 0) assert.match(html, /<img src="data:image\/jpeg;base64,/, 'flagged sheets have thumbnails');
  });
});
