// Model hot swap across real processes: a new version folder dropped into a running worker's models
// folder is served (newest version for unpinned requests) without a restart, and the verdicts say so.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { natsServerAvailable } from '../../common/src/nats-server-process.js';
import { FaultCluster, waitFor } from '../helpers/fault-cluster.js';
import { writeTinyCnnModel } from '../support/tiny-cnn-model.js';

describe('model hot swap', { timeout: 120_000, skip: !natsServerAvailable() && 'nats-server not installed' }, () => {
  it('serves a version added to the models folder without a restart; verdicts before and after name their version', { timeout: 100_000 }, async (t) => {
    const cluster = await FaultCluster.start({ workers: 1, workerFlags: ['--models-poll-interval-ms', '300'] });
    t.after(() => cluster.stop());
    const versionOf = async (name: string): Promise<string> => {
      const verdict = JSON.parse(await readFile(join(cluster.hotFolder, 'done', `${name}.verdict.json`), 'utf8')) as Record<string, unknown>;
      return String((verdict.model as { version?: string } | undefined)?.version ?? verdict.modelVersion);
    };
    const before = cluster.feed(3, 50, 'BEFORE');
    await cluster.waitAllFiled(before, 30_000);
    for (const name of before.images.keys()) assert.equal(await versionOf(name), '1.0.0');

    const worker = cluster.workers.get('w1')!;
    await writeTinyCnnModel(join(cluster.dir, 'models'), { version: '1.1.0', seed: 777 });
    await waitFor(async () => (await readFile(worker.logFile, 'utf8')).includes('model version added'), 20_000, 'the worker serves 1.1.0', worker);
    const after = cluster.feed(3, 50, 'AFTER');
    await cluster.waitAllFiled(after, 30_000);
    for (const name of after.images.keys()) assert.equal(await versionOf(name), '1.1.0');
    assert.equal(cluster.workers.get('w1'), worker, 'same worker process');
    assert.equal(worker.child.exitCode, null, 'still running');
  });
});
