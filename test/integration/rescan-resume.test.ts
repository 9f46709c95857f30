// Resumable submission: a `rescan submit` process is SIGKILLed mid-manifest, the (test-sized, 1 s)
// duplicate window passes, and the same command continues from the job's checkpoint: every valid row
// is in the work queue exactly once, every bad row has exactly one failure, a different manifest or
// model is refused without touching the job, and the job then completes with one result per row. A
// cancel during a submission stops it and leaves nothing queued.
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'nats';
import { RESCAN_RESULTS_STREAM } from '../../common/src/rescan/records.js';
import { until } from '../helpers/cluster.js';
import { collectResults, startRescanFixture, writeManifest, type RescanFixture } from '../helpers/rescan-fixture.js';

const ROWS = 12_000;
const KILL_AFTER_ROWS = 3000;
const BAD_ROWS = new Map(Array.from({ length: 12 }, (_, i) => [(i + 1) * 997, `QS-BAD-${i + 1},relative/sheet.jpg,Quercus\n`]));
const VALID = ROWS - BAD_ROWS.size;

describe('resumable re-scan submission', { timeout: 300_000 }, () => {
  let fixture: RescanFixture;
  before(async () => { fixture = await startRescanFixture({ workers: 0, layout: { duplicateWindowSeconds: 1, resultMaxAgeDays: 365 } }); });
  after(async () => { await fixture?.stop(); });

  it('continues a killed submission after the duplicate window, queuing every valid row exactly once', { timeout: 240_000 }, async (t) => {
    const manifest = join(fixture.dir, 'resume.csv');
    await writeManifest(manifest, fixture.archive, ROWS, BAD_ROWS);
    const args = (file = manifest, model = 'tiny-cnn') => ['submit', '--manifest', file, '--job-id', 'resume', '--model', model,
      '--checkpoint-rows', '500', '--publish-window', '16'];

    // 1. Kill the submission once a few checkpoints are written, at a moment when rows past the last
    //    checkpoint are already stored: it is paused (SIGSTOP) to look, and let go again until so.
    const first = fixture.startCli(args());
    await until(async () => ((await fixture.store.getJob('resume'))?.submission?.rowsDone ?? 0) >= KILL_AFTER_ROWS, 60_000, 'rows checkpointed');
    const countStored = async () => {
      let stored = 0;
      for await (const _ of fixture.store.storedWork('resume')) stored++;
      return stored;
    };
    const validRows = (job: Awaited<ReturnType<typeof fixture.store.requireJob>>) => job.submission!.rowsDone - job.submission!.invalidRowsDone;
    await until(async () => {
      first.child.kill('SIGSTOP');
      if (await countStored() > validRows(await fixture.store.requireJob('resume'))) return true;
      first.child.kill('SIGCONT');
      return false;
    }, 60_000, 'rows stored past the checkpoint');
    first.child.kill('SIGKILL');
    assert.equal((await first.done).signal, 'SIGKILL');
    const atKill = await fixture.store.requireJob('resume');
    assert.equal(atKill.state, 'submitting');
    assert.equal(atKill.totalRows, undefined, 'the submission was interrupted before the end');
    const checkpoint = atKill.submission!;
    const storedAtKill = await countStored();
    const validCheckpointed = validRows(atKill);
    t.diagnostic(`killed with ${checkpoint.rowsDone} rows checkpointed (line ${checkpoint.lineDone}), ${checkpoint.rowsReserved} reserved, ${storedAtKill} work messages stored`);
    assert.ok(storedAtKill > validCheckpointed, 'rows past the checkpoint were stored before the kill: the resumed run must not queue them again');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past the duplicate window: msg ids no longer deduplicate

    // 2. Another manifest, or other settings, are refused and leave the job as it was.
    const other = join(fixture.dir, 'other.csv');
    writeFileSync(other, readFileSync(manifest, 'utf8').replace('QS0000001,', 'QS0000001X,'));
    const refused = await fixture.cli(args(other));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /job resume exists already and was submitted from another manifest \(\d+ bytes, SHA-256 [0-9a-f]{16}\.\.\.; .*other\.csv has \d+ bytes/);
    const otherModel = await fixture.cli(args(manifest, 'tiny-cnn@2.0.0'));
    assert.equal(otherModel.code, 1);
    assert.match(otherModel.stderr, /job resume exists already and was submitted with --model tiny-cnn, not tiny-cnn@2\.0\.0: run the same command to continue it/);
    assert.deepEqual((await fixture.store.requireJob('resume')).submission, checkpoint, 'refusals do not touch the checkpoint');

    // 3. The same command continues after the checkpoint.
    const resumed = await fixture.cli(args());
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(JSON.parse(resumed.stdout), { jobId: 'resume', rows: ROWS, valid: VALID, invalid: BAD_ROWS.size, resumedAfterRow: checkpoint.rowsDone });
    assert.match(resumed.stderr, new RegExp(`continuing .*resume\\.csv after row ${checkpoint.rowsDone} \\(line ${checkpoint.lineDone}\\)`));
    const skipped = Number(/(\d+) rows after the checkpoint were queued already/.exec(resumed.stderr)?.[1]);
    assert.ok(skipped >= storedAtKill - validCheckpointed, `${skipped} uncertain rows found queued already`);

    // Exactly one work message per valid row (no worker has taken any yet).
    const lines = new Map<number, number>();
    for await (const { line } of fixture.store.storedWork('resume')) lines.set(line, (lines.get(line) ?? 0) + 1);
    const badLines = new Set([...BAD_ROWS.keys()].map((row) => row + 1));
    const expected = Array.from({ length: ROWS }, (_, i) => i + 2).filter((line) => !badLines.has(line));
    assert.deepEqual([...lines.keys()].sort((a, b) => a - b), expected, 'every valid row is queued');
    assert.deepEqual([...lines.values()].filter((n) => n !== 1), [], 'no row is queued twice');

    // Running it once more has nothing to do.
    const again = await fixture.cli(args());
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /the whole manifest was submitted already \(running\); nothing to do/);

    // 4. Workers take the job to completion: one result per row, none processed twice.
    await fixture.startWorker('worker-1');
    await fixture.startWorker('worker-2');
    await until(async () => (await fixture.store.requireJob('resume')).state === 'completed', 180_000, 'job completed');
    const results = await collectResults(fixture.store, 'resume');
    assert.equal(results.size, ROWS);
    for (const [line, result] of results) assert.equal(result.kind, badLines.has(line) ? 'failure' : 'verdict', `line ${line}`);
    const connection = await connect({ servers: fixture.nats.url });
    try {
      const { state } = await (await connection.jetstreamManager()).streams.info(RESCAN_RESULTS_STREAM);
      assert.deepEqual({ messages: state.messages, last: state.last_seq }, { messages: ROWS, last: ROWS }, 'one result message per row, none replaced');
    } finally {
      await connection.close();
    }
  });

  it('stops a submission at its next checkpoint when the job is cancelled, leaving nothing queued', { timeout: 60_000 }, async () => {
    const manifest = join(fixture.dir, 'cancel.csv');
    await writeManifest(manifest, fixture.archive, ROWS);
    // A model no worker serves: the queue only changes by the submission and the cancel.
    const submitting = fixture.startCli(['submit', '--manifest', manifest, '--job-id', 'cancelled', '--model', 'tiny-cnn@9.9.9',
      '--checkpoint-rows', '500', '--publish-window', '16']);
    await until(async () => ((await fixture.store.getJob('cancelled'))?.submission?.rowsDone ?? 0) >= 1000, 60_000, 'rows checkpointed');
    const cancelled = await fixture.cli(['cancel', 'cancelled']);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    const submitted = await submitting.done;
    assert.equal(submitted.code, 1);
    assert.match(submitted.stderr, /job cancelled was cancelled; submission stopped after row \d+/);
    let queued = 0;
    for await (const _ of fixture.store.storedWork('cancelled')) queued++;
    assert.equal(queued, 0, 'what the submission queued after the cancel was purged');
    const job = await fixture.store.requireJob('cancelled');
    assert.equal(job.state, 'cancelled');
    assert.ok(job.submission!.rowsDone < ROWS);
  });
});
