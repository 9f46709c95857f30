// `rescan pause|resume|cancel` against a real nats-server: a pause or resume that read the job before
// a concurrent cancel does not bring the cancelled job back.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NatsServerProcess } from '../../common/src/nats-server-process.js';
import { RescanJetStream } from '../../common/src/rescan/adapters/jetstream-rescan.js';
import type { JobRecord } from '../../common/src/rescan/records.js';
import { changeJobState } from '../../cli/src/rescan/job-state.js';

const now = new Date().toISOString();
const job = (jobId: string, state: JobRecord['state'], totalRows?: number): JobRecord => ({
  jobId, state, manifest: 'm', model: 'x', createdAt: now, updatedAt: now, totalRows, invalidRows: 0, maxAttempts: 3, ackWaitMs: 60_000, verdicts: 0, failures: 0,
});

describe('re-scan job status and control', { timeout: 60_000 }, () => {
  let dir: string;
  let nats: NatsServerProcess;
  let store: RescanJetStream;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qs-rescan-control-'));
    nats = new NatsServerProcess(join(dir, 'nats'));
    await nats.start();
    store = await RescanJetStream.connect([nats.url], 'qs-test');
  });
  after(async () => {
    await store?.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a pause or resume racing a cancel leaves the job cancelled', async () => {
    for (const [jobId, state, target] of [['race-resume', 'paused', 'running'], ['race-pause', 'running', 'paused']] as const) {
      await store.createJob(job(jobId, state, 10));
      await store.ensureWorkConsumer(jobId, { ackWaitMs: 60_000, maxAckPending: 10 });
      // A cancel lands after the racing command has looked at the job, just before it writes its change.
      const racing: Pick<RescanJetStream, 'requireJob' | 'updateJob' | 'purgeWork'> = {
        requireJob: (id) => store.requireJob(id),
        updateJob: async (id, change) => {
          assert.deepEqual(await changeJobState(store, id, 'cancelled'), { from: state, to: 'cancelled' });
          return store.updateJob(id, change);
        },
        purgeWork: (id) => store.purgeWork(id),
      };
      await assert.rejects(changeJobState(racing, jobId, target), new RegExp(`job ${jobId} is cancelled: cannot make it ${target}`));
      assert.equal((await store.requireJob(jobId)).state, 'cancelled');
    }
  });
});
