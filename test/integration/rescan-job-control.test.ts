// `rescan status` and `rescan pause|resume|cancel` against a real nats-server: status of a running job
// gives a rate and an ETA (two samples while results arrive), and a pause or resume that read the
// job before a concurrent cancel does not bring the cancelled job back.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { NatsServerProcess } from '../../common/src/nats-server-process.js';
import { cliEntry } from '../../common/src/paths.js';
import { RescanJetStream } from '../../common/src/rescan/adapters/jetstream-rescan.js';
import { changeJobState } from '../../cli/src/rescan/job-state.js';
import { jobRecord, startRescanStore } from '../helpers/rescan-fixture.js';

const job = jobRecord;

describe('re-scan job status and control', { timeout: 60_000 }, () => {
  let bed: Awaited<ReturnType<typeof startRescanStore>>;
  let nats: NatsServerProcess;
  let store: RescanJetStream;
  before(async () => {
    bed = await startRescanStore('rescan-control');
    ({ nats, store } = bed);
  });
  after(async () => { await bed?.stop(); });

  it('status of a running job shows a rate and an ETA', async () => {
    await store.createJob(job('moving', 'running', 100_000));
    await store.ensureWorkConsumer('moving', { ackWaitMs: 60_000, maxAckPending: 10 });
    let line = 2;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await store.publishResult({ kind: 'failure', jobId: 'moving', line: line++, code: 'INVALID_METADATA', reason: 'test', attempts: 0, decidedAt: new Date().toISOString() });
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const child = spawn(process.execPath, [cliEntry(), 'rescan', 'status', 'moving', '--nats-servers', nats.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const [code] = await once(child, 'exit') as [number];
    publishing = false;
    await publisher;
    assert.equal(code, 0, stderr);
    const match = /, ([\d.]+) rows\/s, ETA (\S+)$/.exec(stdout.trim());
    assert.ok(match, stdout);
    assert.ok(Number(match[1]) > 5, `rate ${match[1]} rows/s while ~50-100 results a second arrive: ${stdout}`);
    assert.notEqual(match[2], '?', stdout);
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
