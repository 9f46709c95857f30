// A worker with bulkProcess: it takes conveyor images itself and runs its bulk work in a child process
// under SCHED_IDLE that registers as <id>-bulk (real gRPC, real decodes and model runs in both). The child's
// metrics are served with the parent's, a killed child is started again, stop() ends it, and a child that
// cannot start is tried again while the parent serves the conveyor.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { QuicksilverError } from '../../common/src/errors.js';
import { createRegistry } from '../../common/src/metrics.js';
import { renderSheet } from '../../common/src/synth/index.js';
import type { DispatchTask } from '../../coordinator/src/dispatcher.js';
import { WorkerConfigSchema } from '../../gpu-worker/src/config.js';
import { Worker } from '../../gpu-worker/src/worker.js';
import { silentLogger, startCluster, until, type Cluster } from '../helpers/cluster.js';

const SCHED_IDLE = 5;

/** The scheduling policy of every thread of a process (field 41 of /proc/<pid>/task/<tid>/stat). */
function threadPolicies(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('worker with a bulk process', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let worker: Worker;
  let seed = 4300;
  const task = async (priority: 'bulk' | 'realtime'): Promise<DispatchTask> => {
    const { bytes } = await renderSheet({ seed: seed++, contaminated: seed % 2 === 0, width: 600, height: 800 });
    return {
      taskId: randomUUID(), idempotencyKey: `s1:${randomUUID()}`, modelName: 'mercury-cnn', contentType: 'image/jpeg',
      sha256: createHash('sha256').update(bytes).digest('hex'), fileName: `QS${seed}.jpg`, sizeBytes: bytes.length, bytes: Buffer.from(bytes), imageUri: '',
      priority, stationId: priority === 'bulk' ? 'rescan' : 'conveyor-1',
    };
  };
  const registered = () => Object.fromEntries(cluster.coordinator.dispatcher.connectedWorkers.map((w) => [w.id, w.priorities]));

  before(async () => {
    cluster = await startCluster({ workers: 0 });
    worker = await cluster.addWorker({ workerId: 'split', bulkProcess: true });
    await until(() => 'split-bulk' in registered(), 30_000, 'the bulk process to register');
  });
  after(async () => { await cluster?.stop(); });

  it('takes conveyor images itself and gives bulk work to its child, which runs under SCHED_IDLE', async () => {
    assert.deepEqual(registered(), { split: ['realtime'], 'split-bulk': ['bulk'] });
    const tasks = [await task('bulk'), await task('realtime'), await task('bulk'), await task('bulk'), await task('realtime')];
    const outcomes = await Promise.all(tasks.map((t) => cluster.coordinator.dispatcher.submit(t)));
    assert.deepEqual(outcomes.map((o) => o.workerId), ['split-bulk', 'split', 'split-bulk', 'split-bulk', 'split']);
    for (const outcome of outcomes) assert.ok(outcome.classification.score >= 0 && outcome.classification.score <= 1);

    const childPid = worker.bulkProcess!.pid!;
    assert.ok(childPid !== process.pid);
    const childPolicies = threadPolicies(childPid);
    assert.ok(childPolicies.length > 3, `the child runs its threads (${childPolicies.length})`);
    assert.deepEqual(new Set(childPolicies), new Set([SCHED_IDLE]), 'every thread of the bulk process is SCHED_IDLE');
    assert.ok(!threadPolicies(process.pid).includes(SCHED_IDLE), 'the realtime process keeps its normal policy');
  });

  it('serves the child\'s metrics with its own on one /metrics, told apart by the process label', async () => {
    const body = await (await fetch(`http://127.0.0.1:${worker.metricsServer.port}/metrics`)).text();
    assert.match(body, /quicksilver_worker_info\{[^}]*worker="split"[^}]*process="gpu-worker"/);
    assert.match(body, /quicksilver_worker_info\{[^}]*worker="split-bulk"[^}]*process="gpu-worker-bulk"/);
    assert.match(body, /quicksilver_worker_bulk_process_restarts_total\{process="gpu-worker"\} 0/);
    assert.match(body, /quicksilver_worker_bulk_process_up\{process="gpu-worker"\} 1/);
    // Every family of both (process_start_time_seconds too, which prom-client's own aggregation would drop), one header each.
    assert.match(body, /process_start_time_seconds\{process="gpu-worker"\} \d+/);
    assert.match(body, /process_start_time_seconds\{process="gpu-worker-bulk"\} \d+/);
    assert.equal(body.match(/^# TYPE quicksilver_worker_info gauge$/gm)?.length, 1);
  });

  it('starts a killed child again; the coordinator sends it bulk work once it registers', async () => {
    const firstPid = worker.bulkProcess!.pid!;
    process.kill(firstPid, 'SIGKILL');
    await until(() => !('split-bulk' in registered()), 15_000, 'the coordinator to drop the killed bulk process');
    await until(() => 'split-bulk' in registered(), 60_000, 'the bulk process to be started again and register');
    assert.notEqual(worker.bulkProcess!.pid, firstPid);
    const outcome = await cluster.coordinator.dispatcher.submit(await task('bulk'));
    assert.equal(outcome.workerId, 'split-bulk');
    const body = await (await fetch(`http://127.0.0.1:${worker.metricsServer.port}/metrics`)).text();
    assert.match(body, /quicksilver_worker_bulk_process_restarts_total\{process="gpu-worker"\} 1/);
  });

  it('stop() drains and ends the child', async () => {
    const childPid = worker.bulkProcess!.pid!;
    await worker.stop(AbortSignal.timeout(10_000));
    assert.equal(alive(childPid), false, 'the bulk process has exited');
    await until(() => !('split' in registered()) && !('split-bulk' in registered()), 15_000, 'both to leave the coordinator');
  });

  it('serves the conveyor while its bulk process cannot start, and starts it once it can', async () => {
    const path = process.env.PATH;
    let second: Worker;
    try {
      // The child inherits this environment: without chrt it cannot put itself under SCHED_IDLE and refuses to start.
      process.env.PATH = '/nonexistent';
      second = await cluster.addWorker({ workerId: 'split2', bulkProcess: true });
      assert.equal(second.bulkProcess!.pid, undefined, 'no bulk process runs');
      assert.equal((await cluster.coordinator.dispatcher.submit(await task('realtime'))).workerId, 'split2');
      assert.ok(!('split2-bulk' in registered()));
      const body = await (await fetch(`http://127.0.0.1:${second.metricsServer.port}/metrics`)).text();
      assert.match(body, /quicksilver_worker_bulk_process_up\{process="gpu-worker"\} 0/);
    } finally {
      process.env.PATH = path;
    }
    await until(() => 'split2-bulk' in registered(), 30_000, 'the bulk process to start once chrt is found');
    assert.equal((await cluster.coordinator.dispatcher.submit(await task('bulk'))).workerId, 'split2-bulk');
    const body = await (await fetch(`http://127.0.0.1:${second.metricsServer.port}/metrics`)).text();
    assert.match(body, /quicksilver_worker_bulk_process_up\{process="gpu-worker"\} 1/);
  });

  it('refuses bulkProcess on a worker that does not take both classes, naming why', () => {
    const config = WorkerConfigSchema.parse({ bulkProcess: true, priorities: ['realtime'] });
    assert.throws(() => new Worker(config, silentLogger, createRegistry('gpu-worker')),
      (error: unknown) => error instanceof QuicksilverError && error.code === 'CONFIG_INVALID' && /both classes/.test(error.message));
  });
});
